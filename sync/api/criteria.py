"""Magento ``searchCriteria`` as data, rendered to the query parameters ACCS expects.

Filter groups are ANDed; filters inside one group are ORed. A sort order is always sent with an
explicit direction because Magento treats a missing direction as DESC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Filter", "SearchCriteria", "Sort"]


@dataclass(frozen=True)
class Filter:
    field: str
    value: str
    condition: str = "eq"


@dataclass(frozen=True)
class Sort:
    field: str
    direction: str = "ASC"

    def __post_init__(self) -> None:
        if self.direction not in ("ASC", "DESC"):
            raise ValueError(f"sort direction must be ASC or DESC, got {self.direction!r}")


@dataclass(frozen=True)
class SearchCriteria:
    """One ``GET /V1/products`` query. ``groups`` is a list of OR-groups that are ANDed."""

    groups: tuple[tuple[Filter, ...], ...] = ()
    sorts: tuple[Sort, ...] = ()
    page_size: int = 300
    current_page: int = 1
    fields: str | None = field(default=None)

    def params(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for g, group in enumerate(self.groups):
            for f, flt in enumerate(group):
                prefix = f"searchCriteria[filterGroups][{g}][filters][{f}]"
                out.append((f"{prefix}[field]", flt.field))
                out.append((f"{prefix}[value]", flt.value))
                out.append((f"{prefix}[conditionType]", flt.condition))
        for s, sort in enumerate(self.sorts):
            out.append((f"searchCriteria[sortOrders][{s}][field]", sort.field))
            out.append((f"searchCriteria[sortOrders][{s}][direction]", sort.direction))
        out.append(("searchCriteria[pageSize]", str(self.page_size)))
        out.append(("searchCriteria[currentPage]", str(self.current_page)))
        if self.fields:
            out.append(("fields", self.fields))
        return out

"""Keyset paging over ``GET /V1/products``: positions, and how one page moves them.

Magento has no default sort and its ``currentPage`` offsets shift when products are created or
deleted while a client pages, so pages repeat or skip (magento/magento2#25001). We never use
offsets: every request is ``currentPage=1`` with a filter that starts after the last key seen
and a unique, explicit sort. A position is a small plain value, so it can be checkpointed.

Two walks:

* :class:`IdWalk` (full pass): ``entity_id > last_id`` sorted by ``entity_id ASC``. An optional
  ``upper_id`` bounds it so disjoint id ranges can be fetched concurrently.
* :class:`ChangesWalk` (incremental): products with ``updated_at >= W``, in (``updated_at``, id)
  order. A filter cannot say "(updated_at = W and id > last) or updated_at > W" (groups are
  ANDed), so it alternates two phases: ``same_second`` pages through ``updated_at = W`` by id,
  then ``after`` asks for ``updated_at > W`` sorted by (updated_at, id) and moves W to the last
  item's second, whose remaining products the next ``same_second`` phase picks up.

A walk never mutates anything: ``criteria(position)`` builds a request and
``advance(position, page)`` returns the next position (or ``None`` when done). A page that does
not move the position forward raises :class:`~sync.errors.InvalidResponse` rather than loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.errors import InvalidResponse

__all__ = ["ChangesPosition", "ChangesWalk", "IdPosition", "IdWalk", "Page"]


@dataclass(frozen=True)
class Page:
    """One answer of ``GET /V1/products``: raw items as received and the matching total."""

    items: list[Any]
    total_count: int

    @classmethod
    def from_body(cls, body: Any) -> Page:
        if not isinstance(body, dict):
            raise InvalidResponse("ACCS /V1/products answer is not a JSON object")
        items = body.get("items")
        if items is None:
            items = []  # Magento omits "items" on some empty results
        if not isinstance(items, list):
            raise InvalidResponse("ACCS /V1/products answer has 'items' that is not a list")
        total = body.get("total_count")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise InvalidResponse("ACCS /V1/products answer has no valid 'total_count'")
        return cls(items=items, total_count=total)

    def ids(self) -> list[int]:
        out = []
        for item in self.items:
            value = item.get("id") if isinstance(item, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                out.append(value)
        return out

    @property
    def is_last(self) -> bool:
        """All products matching the filter are in this page (or it is empty)."""
        return not self.items or len(self.items) >= self.total_count


def _id_filter(last_id: int) -> tuple[Filter, ...]:
    return (Filter("entity_id", str(last_id), "gt"),)


@dataclass(frozen=True)
class IdPosition:
    last_id: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"last_id": self.last_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdPosition:
        return cls(last_id=int(data.get("last_id", 0)))


@dataclass(frozen=True)
class IdWalk:
    """Full pass by entity id, optionally bounded above by ``upper_id`` (inclusive)."""

    upper_id: int | None = None

    def criteria(self, position: IdPosition, page_size: int) -> SearchCriteria:
        groups = [_id_filter(position.last_id)]
        if self.upper_id is not None:
            groups.append((Filter("entity_id", str(self.upper_id), "lteq"),))
        return SearchCriteria(
            groups=tuple(groups), sorts=(Sort("entity_id", "ASC"),), page_size=page_size
        )

    def advance(self, position: IdPosition, page: Page) -> IdPosition | None:
        if not page.items:
            return None
        ids = page.ids()
        if not ids:
            raise InvalidResponse("ACCS returned a page with no product id; cannot page on")
        last = max(ids)
        if last <= position.last_id:
            raise InvalidResponse(
                f"ACCS returned ids up to {last} for 'entity_id > {position.last_id}': "
                "the store ignored the filter; stopping instead of looping"
            )
        return None if page.is_last else IdPosition(last)


Phase = Literal["same_second", "after"]


@dataclass(frozen=True)
class ChangesPosition:
    """``updated_at`` second (ACCS format, UTC) and the last id seen within it."""

    updated_at: str
    last_id: int = 0
    phase: Phase = "same_second"

    def to_json(self) -> dict[str, Any]:
        return {"updated_at": self.updated_at, "id": self.last_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChangesPosition:
        return cls(updated_at=str(data["updated_at"]), last_id=int(data.get("id", 0)))


@dataclass(frozen=True)
class ChangesWalk:
    """Incremental pass over products with ``updated_at >= position.updated_at``."""

    def criteria(self, position: ChangesPosition, page_size: int) -> SearchCriteria:
        if position.phase == "same_second":
            return SearchCriteria(
                groups=(
                    (Filter("updated_at", position.updated_at, "eq"),),
                    _id_filter(position.last_id),
                ),
                sorts=(Sort("entity_id", "ASC"),),
                page_size=page_size,
            )
        return SearchCriteria(
            groups=((Filter("updated_at", position.updated_at, "gt"),),),
            sorts=(Sort("updated_at", "ASC"), Sort("entity_id", "ASC")),
            page_size=page_size,
        )

    def advance(self, position: ChangesPosition, page: Page) -> ChangesPosition | None:
        if position.phase == "same_second":
            ids = page.ids()
            last = max(ids) if ids else position.last_id
            if page.items and last <= position.last_id:
                raise InvalidResponse(
                    "ACCS ignored the entity_id filter while paging one updated_at second"
                )
            phase: Phase = "after" if page.is_last else "same_second"
            return ChangesPosition(position.updated_at, last, phase)
        if not page.items:
            return None
        tail = page.items[-1]
        stamp = tail.get("updated_at") if isinstance(tail, dict) else None
        tail_id = tail.get("id") if isinstance(tail, dict) else None
        if not isinstance(stamp, str) or not isinstance(tail_id, int):
            raise InvalidResponse("ACCS returned a changed product without updated_at or id")
        if stamp <= position.updated_at:  # same fixed-width format, so string order is time order
            raise InvalidResponse(
                f"ACCS returned updated_at {stamp!r} for 'updated_at > {position.updated_at}'"
            )
        if page.is_last:
            return None
        return ChangesPosition(stamp, tail_id, "same_second")

    @staticmethod
    def high_water(position: ChangesPosition, page: Page) -> ChangesPosition:
        """The watermark once ``page`` is committed: the newest (updated_at, id) it covers."""
        best = position
        for item in page.items:
            if not isinstance(item, dict):
                continue
            stamp, pid = item.get("updated_at"), item.get("id")
            if isinstance(stamp, str) and isinstance(pid, int):
                if (stamp, pid) > (best.updated_at, best.last_id):
                    best = ChangesPosition(stamp, pid)
        return ChangesPosition(best.updated_at, best.last_id)

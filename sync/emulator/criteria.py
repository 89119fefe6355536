"""Parse Magento's bracketed ``searchCriteria[...]`` query parameters, and echo them back.

Magento's REST layer turns ``searchCriteria[filterGroups][0][filters][0][field]=sku`` into a
nested PHP array and accepts both camelCase and snake_case keys, so this does the same. Errors
are :class:`MagentoError` with the body Magento would send.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Criteria",
    "Filter",
    "MagentoError",
    "SortOrder",
    "internal_error",
    "parse_criteria",
    "required",
]

_KEY = re.compile(r"^searchCriteria((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_SNAKE = {
    "filterGroups": "filter_groups",
    "sortOrders": "sort_orders",
    "pageSize": "page_size",
    "currentPage": "current_page",
    "conditionType": "condition_type",
}


class MagentoError(Exception):
    """An error answer: HTTP ``status`` and Magento's JSON ``body``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def internal_error() -> MagentoError:
    """Magento's production-mode answer to an exception it did not expect (an SQL error, a
    bug): a 500 that names only a report id in its log."""
    message = "Internal Error. Details are available in Magento log file. Report ID: %1"
    return MagentoError(500, {"message": message.replace("%1", f"webapi-{secrets.token_hex(8)}")})


def required(name: str) -> MagentoError:
    return MagentoError(
        400,
        {
            "message": '"%fieldName" is required. Enter and try again.',
            "parameters": {"fieldName": name},
        },
    )


def _bad_type(value: str, expected: str) -> MagentoError:
    return MagentoError(
        400,
        {
            "message": 'The "%value" value\'s type is invalid. The "%type" type was expected. '
            "Verify and try again.",
            "parameters": {"value": value, "type": expected},
        },
    )


@dataclass(frozen=True)
class Filter:
    field: str
    value: str | None
    condition_type: str | None  # None: not sent (Magento then uses eq)

    @property
    def condition(self) -> str:
        return (self.condition_type or "eq").lower()


@dataclass(frozen=True)
class SortOrder:
    field: str
    direction: str | None  # None: not sent, which Magento treats as DESC

    @property
    def descending(self) -> bool:
        return self.direction is None or self.direction.upper() == "DESC"


@dataclass(frozen=True)
class Criteria:
    """One parsed ``searchCriteria``. ``groups`` are ANDed; filters in a group are ORed."""

    groups: tuple[tuple[Filter, ...], ...] = ()
    sort_orders: tuple[SortOrder, ...] = ()
    page_size: int | None = None
    current_page: int | None = None

    def echo(self) -> dict[str, Any]:
        """``search_criteria`` as Magento returns it: what was asked, in snake_case."""
        groups = []
        for group in self.groups:
            filters = []
            for f in group:
                out: dict[str, Any] = {"field": f.field, "value": f.value}
                if f.condition_type is not None:
                    out["condition_type"] = f.condition_type
                filters.append(out)
            groups.append({"filters": filters})
        echo: dict[str, Any] = {"filter_groups": groups}
        if self.sort_orders:
            sorts = []
            for s in self.sort_orders:
                sort: dict[str, Any] = {"field": s.field}
                if s.direction is not None:
                    sort["direction"] = s.direction
                sorts.append(sort)
            echo["sort_orders"] = sorts
        if self.page_size is not None:
            echo["page_size"] = self.page_size
        if self.current_page is not None:
            echo["current_page"] = self.current_page
        return echo


Tree = dict[str, Any]


def _insert(tree: Tree, path: list[str], value: str) -> None:
    node = tree
    for i, raw in enumerate(path):
        key = _SNAKE.get(raw, raw)
        if key == "":  # PHP's a[]=x appends
            key = str(len(node))
        if i == len(path) - 1:
            node[key] = value  # the last occurrence wins, as in PHP
            return
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child


def _ordered(node: Any) -> list[Any]:
    """The children of a PHP list-like array, numeric keys in order (others after)."""
    if not isinstance(node, dict):
        return []
    keys = sorted(node, key=lambda k: (0, int(k), "") if k.isdigit() else (1, 0, k))
    return [node[k] for k in keys]


def _int(tree: Tree, key: str) -> int | None:
    raw = tree.get(key)
    if raw is None:
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"\s*-?\d+\s*", raw):
        raise _bad_type(raw if isinstance(raw, str) else "array", "int")
    return int(raw)


def _text(node: dict[str, Any], key: str) -> str | None:
    value = node.get(key)
    return value if isinstance(value, str) else None


def parse_criteria(params: Iterable[tuple[str, str]]) -> Criteria:
    """Parse the query's ``searchCriteria`` parameters; raise :class:`MagentoError` when
    ``searchCriteria`` is absent (Magento requires it) or malformed."""
    tree: Tree = {}
    present = False
    for key, value in params:
        match = _KEY.match(key)
        if match is None:
            continue
        present = True
        path = _SEGMENT.findall(match.group(1))
        if path:
            _insert(tree, path, value)
    if not present:
        raise required("searchCriteria")
    groups = []
    for group in _ordered(tree.get("filter_groups")):
        filters = []
        for node in _ordered(group.get("filters") if isinstance(group, dict) else None):
            if not isinstance(node, dict):
                continue
            field = _text(node, "field")
            if not field:
                raise required("field")
            filters.append(Filter(field, _text(node, "value"), _text(node, "condition_type")))
        if filters:
            groups.append(tuple(filters))
    sorts = []
    for node in _ordered(tree.get("sort_orders")):
        if not isinstance(node, dict):
            continue
        field = _text(node, "field")
        if not field:
            raise required("field")
        direction = _text(node, "direction")
        if direction is not None and direction.upper() not in ("ASC", "DESC"):
            raise MagentoError(
                400,
                {
                    "message": 'Sort order "%1" is not supported. Try again with a valid sort order.',  # noqa: E501
                    "parameters": [direction],
                },
            )
        sorts.append(SortOrder(field, direction))
    return Criteria(
        groups=tuple(groups),
        sort_orders=tuple(sorts),
        page_size=_int(tree, "page_size"),
        current_page=_int(tree, "current_page"),
    )

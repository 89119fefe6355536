"""Run a parsed ``searchCriteria`` over a catalog snapshot: filter, sort, page.

Faithful to Magento/MySQL where clients get hurt:

* Without ``sortOrders`` MySQL returns rows in no defined order. Here the order is a hash of each
  product with a per-request ``salt``, so it is neither entity-id order nor stable between
  requests, and offset paging without a unique sort repeats and skips products.
* Ties of a non-unique sort field are broken the same unstable way.
* Comparisons follow SQL: a product whose field is NULL matches no comparison (not even
  ``neq``/``nin``), only ``null``.
"""

from __future__ import annotations

import bisect
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sync.emulator.catalog import Snapshot
from sync.emulator.criteria import Criteria, Filter, MagentoError
from sync.emulator.records import Product

__all__ = ["CORE_FIELDS", "Result", "execute"]

Kind = str  # "int" | "num" | "str" | "time"
CORE_FIELDS: dict[str, Kind] = {
    "entity_id": "int",
    "id": "int",
    "sku": "str",
    "name": "str",
    "type_id": "str",
    "status": "int",
    "visibility": "int",
    "price": "num",
    "weight": "num",
    "attribute_set_id": "int",
    "created_at": "time",
    "updated_at": "time",
}
_UNIQUE = frozenset({"entity_id", "id", "sku"})
_ID_RANGE = frozenset({"eq", "gt", "gteq", "lt", "lteq", "from", "to"})
_CONDITIONS = frozenset(
    {
        "eq",
        "neq",
        "gt",
        "gteq",
        "lt",
        "lteq",
        "like",
        "nlike",
        "in",
        "nin",
        "null",
        "notnull",
        "from",
        "to",
        "finset",
    }
)
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "from": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "to": operator.le,
}
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})")

Getter = Callable[[Product], Any]
Predicate = Callable[[Product], bool]


@dataclass(frozen=True)
class Result:
    items: list[Product]
    total_count: int


def invalid_attribute(name: str) -> MagentoError:
    return MagentoError(400, {"message": "Invalid attribute name: %1", "parameters": [name]})


def _getter(field: str, store: str, codes: frozenset[str]) -> tuple[Getter, Kind]:
    kind = CORE_FIELDS.get(field)
    if kind is None and field not in codes and field != "category_ids":
        raise invalid_attribute(field)
    if field in ("entity_id", "id"):
        return (lambda p: p.id), "int"
    if field == "sku":
        return (lambda p: p.sku), "str"
    if field in ("created_at", "updated_at", "attribute_set_id", "type_id"):
        return (lambda p: getattr(p, field)), kind or "str"
    return (lambda p: p.value(field, store)), kind or "str"


def _number(text: str) -> float:
    # MySQL compares a number column with a string by casting the string ("12abc" -> 12).
    match = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text)
    return float(match.group(0)) if match else 0.0


def _time(text: str) -> str:
    match = _ISO.match(text.strip())
    if match:
        return f"{match.group(1)} {match.group(2)}"
    text = text.strip()
    return f"{text} 00:00:00" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else text


def _convert(value: str, kind: Kind) -> Any:
    if kind in ("int", "num"):
        return _number(value)
    if kind == "time":
        return _time(value)
    return value


def _cell(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if type(value) is str and kind in ("str", "time"):
        return value
    if kind in ("int", "num"):
        if isinstance(value, (int, float)):
            return value
        return _number(str(value))
    return str(value)


def _like(pattern: str) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _predicate(f: Filter, store: str, codes: frozenset[str]) -> Predicate:
    cond = f.condition
    if cond not in _CONDITIONS:
        raise MagentoError(400, {"message": 'Invalid condition type "%1"', "parameters": [cond]})
    get, kind = _getter(f.field, store, codes)
    raw = f.value or ""
    if cond == "null":
        return lambda p: get(p) is None
    if cond == "notnull":
        return lambda p: get(p) is not None
    if cond in ("like", "nlike"):
        regex = _like(raw)
        negate = cond == "nlike"
        return lambda p: (v := get(p)) is not None and (regex.fullmatch(_text(v)) is None) == negate
    if cond in ("in", "nin", "finset"):
        wanted = {_convert(v.strip(), kind) for v in raw.split(",")}
        if cond == "finset":
            return lambda p: (v := get(p)) is not None and bool(wanted & set(str(v).split(",")))
        negate = cond == "nin"
        return lambda p: (v := _cell(get(p), kind)) is not None and (v in wanted) != negate
    target = _convert(raw, kind)
    op = _OPERATORS[cond]
    return lambda p: (v := _cell(get(p), kind)) is not None and bool(op(v, target))


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _id_bounds(group: tuple[Filter, ...]) -> tuple[float, float] | None:
    """A single-filter group on the entity id narrows the scan to a slice (a bisect), which
    keeps keyset paging over 200k products fast."""
    if len(group) != 1 or group[0].field not in ("entity_id", "id"):
        return None
    f = group[0]
    if f.condition not in _ID_RANGE:
        return None
    value = _number(f.value or "")
    lo, hi = float("-inf"), float("inf")
    match f.condition:
        case "eq":
            lo = hi = value
        case "gt":
            lo = value + 1e-9
        case "gteq" | "from":
            lo = value
        case "lt":
            hi = value - 1e-9
        case _:
            hi = value
    return lo, hi


def _candidates(
    snap: Snapshot, criteria: Criteria
) -> tuple[Sequence[Product], list[tuple[Filter, ...]]]:
    lo, hi = float("-inf"), float("inf")
    rest = []
    for group in criteria.groups:
        bounds = _id_bounds(group)
        if bounds is None:
            rest.append(group)
        else:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    if lo == float("-inf") and hi == float("inf"):
        return snap.products, rest
    start = bisect.bisect_left(snap.ids, lo)
    end = bisect.bisect_right(snap.ids, hi)
    return snap.products[start:end], rest


def _sort_key(field: str, store: str, codes: frozenset[str]) -> Callable[[Product], Any]:
    """A key putting NULLs first in ASC and last in DESC, as MySQL does."""
    get, kind = _getter(field, store, codes)
    if field in CORE_FIELDS:
        # Core values are already numbers or strings; a sentinel stands in for NULL.
        low: Any = "" if kind in ("str", "time") else float("-inf")
        return lambda p: low if (v := get(p)) is None else v

    def key(p: Product) -> tuple[bool, Any]:
        value = _cell(get(p), kind)
        return (value is not None, value if value is not None else 0)

    return key


def _sort(
    items: list[Product], criteria: Criteria, store: str, codes: frozenset[str], salt: int
) -> list[Product]:
    sorts = criteria.sort_orders
    if not any(s.field in _UNIQUE for s in sorts):
        # No sort, or only non-unique fields: MySQL's order (and tie order) is undefined.
        items = sorted(items, key=lambda p: hash((salt, p.id)))
    for sort in reversed(sorts):
        items.sort(key=_sort_key(sort.field, store, codes), reverse=sort.descending)
    return items


def execute(
    snap: Snapshot,
    criteria: Criteria,
    *,
    store: str = "default",
    salt: int = 0,
    legacy_last_page: bool = False,
    default_page_size: int | None = None,
) -> Result:
    """The page of products ``criteria`` asks for and how many match in all.

    ``legacy_last_page``: Magento before 2.4 answered a page past the end with the last page
    again; 2.4 answers an empty page. ``default_page_size`` applies when ``pageSize`` is absent
    (``None``: everything).
    """
    candidates, groups = _candidates(snap, criteria)
    codes = snap.attribute_codes
    compiled = [[_predicate(f, store, codes) for f in group] for group in groups]
    for sort in criteria.sort_orders:
        _getter(sort.field, store, codes)  # unknown sort fields are a 400 even on no match
    if compiled:
        matched = [p for p in candidates if all(any(f(p) for f in group) for group in compiled)]
    else:
        matched = list(candidates)
    total = len(matched)
    if not _id_ordered(criteria):
        matched = _sort(matched, criteria, store, codes, salt)
    elif criteria.sort_orders[0].descending:
        matched.reverse()
    size = criteria.page_size if criteria.page_size is not None else default_page_size
    if not size or size <= 0:
        return Result(matched, total)
    page = max(criteria.current_page or 1, 1)
    if legacy_last_page and total:
        page = min(page, (total + size - 1) // size)
    offset = (page - 1) * size
    return Result(matched[offset : offset + size], total)


def _id_ordered(criteria: Criteria) -> bool:
    """Sorted by the entity id first: the snapshot's order already is (or its reverse)."""
    sorts = criteria.sort_orders
    return bool(sorts) and sorts[0].field in ("entity_id", "id")

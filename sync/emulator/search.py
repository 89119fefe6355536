"""Run a parsed ``searchCriteria`` over a list endpoint's records: filter, sort, page.

Every ``GET .../list``-style endpoint (products, categories, source items) is described by a
:class:`Table`: its records in key order and how a field name becomes a column (getter and
kind). The rules below are Magento's collection processing, the same for all of them.

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
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sync.emulator.catalog import Snapshot
from sync.emulator.criteria import Criteria, Filter, MagentoError
from sync.emulator.records import Product

__all__ = [
    "CORE_FIELDS",
    "Column",
    "Result",
    "Table",
    "execute",
    "invalid_attribute",
    "product_table",
    "run",
]

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

R = TypeVar("R")
Getter = Callable[[Any], Any]
Predicate = Callable[[Any], bool]


@dataclass(frozen=True)
class Column:
    """How one filterable/sortable field reads a record. ``plain``: values are already numbers
    or strings of the right kind (no conversion needed to compare or sort)."""

    get: Getter
    kind: Kind
    plain: bool = True


@dataclass(frozen=True)
class Table(Generic[R]):
    """A list endpoint's records for one request.

    ``records`` are in key order; ``keys`` (when the key is an integer id) are their ids, so a
    filter on an ``id_fields`` field is a bisect. ``column`` resolves a field name or raises
    the endpoint's error for an unknown one. ``unique`` fields define a total order on their
    own; ``identity`` is what the undefined (salted) order hashes.
    """

    records: Sequence[R]
    column: Callable[[str], Column]
    identity: Callable[[R], Hashable]
    keys: Sequence[int] | None = None
    id_fields: frozenset[str] = frozenset()
    unique: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Result(Generic[R]):
    items: list[R]
    total_count: int


def invalid_attribute(name: str) -> MagentoError:
    return MagentoError(400, {"message": "Invalid attribute name: %1", "parameters": [name]})


def _product_column(field: str, store: str, codes: frozenset[str]) -> Column:
    kind = CORE_FIELDS.get(field)
    if kind is None and field not in codes and field != "category_ids":
        raise invalid_attribute(field)
    plain = kind is not None
    get: Callable[[Product], Any]
    if field in ("entity_id", "id"):
        return Column(lambda p: p.id, "int")
    if field == "sku":
        return Column(lambda p: p.sku, "str")
    if field in ("created_at", "updated_at", "attribute_set_id", "type_id"):
        get = lambda p: getattr(p, field)  # noqa: E731
    else:
        get = lambda p: p.value(field, store)  # noqa: E731
    return Column(get, kind or "str", plain)


def _product_id(p: Product) -> int:
    return p.id


def product_table(snap: Snapshot, store: str = "default") -> Table[Product]:
    """``GET /V1/products``: entity ids are the key; custom attributes are fields too."""
    codes = snap.attribute_codes
    return Table(
        records=snap.products,
        column=lambda field: _product_column(field, store, codes),
        identity=_product_id,
        keys=snap.ids,
        id_fields=frozenset({"entity_id", "id"}),
        unique=_UNIQUE,
    )


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


def _predicate(f: Filter, table: Table[Any]) -> Predicate:
    cond = f.condition
    if cond not in _CONDITIONS:
        raise MagentoError(400, {"message": 'Invalid condition type "%1"', "parameters": [cond]})
    col = table.column(f.field)
    get, kind = col.get, col.kind
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


def _id_bounds(group: tuple[Filter, ...], id_fields: frozenset[str]) -> tuple[float, float] | None:
    """A single-filter group on the entity id narrows the scan to a slice (a bisect), which
    keeps keyset paging over 200k products fast."""
    if len(group) != 1 or group[0].field not in id_fields:
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
    table: Table[R], criteria: Criteria
) -> tuple[Sequence[R], list[tuple[Filter, ...]]]:
    if table.keys is None:
        return table.records, list(criteria.groups)
    lo, hi = float("-inf"), float("inf")
    rest = []
    for group in criteria.groups:
        bounds = _id_bounds(group, table.id_fields)
        if bounds is None:
            rest.append(group)
        else:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    if lo == float("-inf") and hi == float("inf"):
        return table.records, rest
    start = bisect.bisect_left(table.keys, lo)
    end = bisect.bisect_right(table.keys, hi)
    return table.records[start:end], rest


def _sort_key(col: Column) -> Callable[[Any], Any]:
    """A key putting NULLs first in ASC and last in DESC, as MySQL does."""
    get, kind = col.get, col.kind
    if col.plain:
        # Core values are already numbers or strings; a sentinel stands in for NULL.
        low: Any = "" if kind in ("str", "time") else float("-inf")
        return lambda p: low if (v := get(p)) is None else v

    def key(p: Any) -> tuple[bool, Any]:
        value = _cell(get(p), kind)
        return (value is not None, value if value is not None else 0)

    return key


def _sort(items: list[R], criteria: Criteria, table: Table[R], salt: int) -> list[R]:
    sorts = criteria.sort_orders
    if not any(s.field in table.unique for s in sorts):
        # No sort, or only non-unique fields: MySQL's order (and tie order) is undefined.
        identity = table.identity
        items = sorted(items, key=lambda r: hash((salt, identity(r))))
    for sort in reversed(sorts):
        items.sort(key=_sort_key(table.column(sort.field)), reverse=sort.descending)
    return items


def execute(
    snap: Snapshot,
    criteria: Criteria,
    *,
    store: str = "default",
    salt: int = 0,
    legacy_last_page: bool = False,
    default_page_size: int | None = None,
) -> Result[Product]:
    """The page of products ``criteria`` asks for (see :func:`run`)."""
    return run(
        product_table(snap, store),
        criteria,
        salt=salt,
        legacy_last_page=legacy_last_page,
        default_page_size=default_page_size,
    )


def run(
    table: Table[R],
    criteria: Criteria,
    *,
    salt: int = 0,
    legacy_last_page: bool = False,
    default_page_size: int | None = None,
) -> Result[R]:
    """The page of records ``criteria`` asks for and how many match in all.

    ``legacy_last_page``: Magento before 2.4 answered a page past the end with the last page
    again; 2.4 answers an empty page. ``default_page_size`` applies when ``pageSize`` is absent
    (``None``: everything).
    """
    candidates, groups = _candidates(table, criteria)
    compiled = [[_predicate(f, table) for f in group] for group in groups]
    for sort in criteria.sort_orders:
        table.column(sort.field)  # unknown sort fields are an error even on no match
    if compiled:
        matched = [r for r in candidates if all(any(f(r) for f in group) for group in compiled)]
    else:
        matched = list(candidates)
    total = len(matched)
    if not _id_ordered(criteria, table):
        matched = _sort(matched, criteria, table, salt)
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


def _id_ordered(criteria: Criteria, table: Table[Any]) -> bool:
    """Sorted by the key id first: the records' order already is (or its reverse)."""
    sorts = criteria.sort_orders
    return bool(sorts) and table.keys is not None and sorts[0].field in table.id_fields

"""What accs-sync mirrors besides products, each described in a few lines.

A :class:`Resource` says everything the engine (:mod:`sync.engine`) needs to mirror one
``searchCriteria`` list endpoint of ACCS into one table: the endpoint and the ACL it needs, the
key (which doubles as the unique keyset sort: paging never relies on Magento's offsets), the
``updated_at``-like field for incremental runs (or none: every run is a full pass that writes
only changed rows), whether it differs per store view, and a parser from an item to the
table's columns, and its child tables (:class:`ChildTable`: rows that belong to one row, such
as an attribute's options). Paging, retries, content hashes, the change log
(``catalog_changes``), tombstones, child rows and rejects are the engine's, the same for every
resource.

Adding a resource: describe it here, add its table to :mod:`sync.db.schema` and an Alembic
migration, and name it in :data:`RESOURCES` (``docs/engine.md`` walks through an example).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from sync import jsontext
from sync.db.schema import (
    categories,
    inventory_source_items,
    product_attribute_metadata,
    product_attribute_options,
)
from sync.models import ItemRejected, parse_accs_time

__all__ = [
    "ATTRIBUTES",
    "CATEGORIES",
    "GLOBAL_STORE",
    "PRODUCTS",
    "PRODUCTS_ACL",
    "RESOURCES",
    "SOURCE_ITEMS",
    "ChildTable",
    "KeyField",
    "Resource",
    "attribute_options",
    "parse_attribute",
    "resource_names",
]

#: ``store_code`` in the change log and state of a resource that is the same in every store
#: view (``*`` is never a Magento store code).
GLOBAL_STORE = "*"


@dataclass(frozen=True)
class KeyField:
    """One part of a resource's key: its ``searchCriteria`` field, its name in an item and in
    the table, and whether it is a number or text."""

    filter: str
    item: str
    column: str
    numeric: bool = False

    def read(self, item: Mapping[str, Any]) -> int | str | None:
        """The field's value in ``item``; None when it is missing or unusable."""
        value = item.get(self.item)
        if self.numeric:
            if isinstance(value, bool):
                return None
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            return value if isinstance(value, int) and 0 < value < 2**63 else None
        if isinstance(value, str):
            value = value.replace("\x00", "")  # as in the stored item (PostgreSQL refuses NUL)
            if value.strip() and len(value) <= 255 and jsontext.is_utf8(value):
                return value
        return None


@dataclass(frozen=True)
class ChildTable:
    """Rows of another table that belong to one row of a resource (an attribute's options).

    The child table has the parent's key columns (and ``store_code`` for a per-store resource)
    under the same names. Whenever the engine writes a parent row it deletes that row's child
    rows and inserts the ones ``rows`` reads from the item, in the page's transaction; an item
    whose ``rows`` raises :class:`ItemRejected` is rejected whole. Unchanged rows (same content
    hash) leave their children alone.
    """

    table: sa.Table
    #: The child rows of one item: each a dict of the child table's other columns.
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]]
    #: True: a tombstoned parent's child rows are deleted with it. False: kept, as products
    #: keep their attributes.
    cleared_on_delete: bool = True


@dataclass(frozen=True)
class Resource:
    """One ACCS list endpoint mirrored into one table."""

    #: The name users give in ``SYNC_RESOURCES`` and ``--resource``.
    name: str
    #: The endpoint under ``API_ENDPOINT``.
    path: str
    #: The ACL resource a credential needs (named when ACCS refuses access).
    acl: str
    table: sa.Table
    #: The key, in keyset order: ``searchCriteria`` sorts by it and filters after it.
    keys: tuple[KeyField, ...]
    #: Item field for incremental runs (filtered with ``gteq``); None: every run is a full pass.
    incremental: str | None
    #: True when each store view has its own rows (a ``store_code`` column).
    per_store: bool
    #: The table's other columns from an item; raises :class:`ItemRejected` with a reason.
    parse: Callable[[dict[str, Any]], dict[str, Any]]
    #: Tables of rows that belong to each row (written and cleared by the engine).
    children: tuple[ChildTable, ...] = ()

    def key_of(self, item: Any) -> tuple[int | str, ...] | None:
        """The item's key, or None when any part is missing."""
        if not isinstance(item, dict):
            return None
        key = tuple(field.read(item) for field in self.keys)
        return None if any(part is None for part in key) else key  # type: ignore[return-value]

    @staticmethod
    def key_text(key: tuple[int | str, ...]) -> str:
        """The key as the change log and rejects store it: ``"12"``, ``"default/24-MB01"``."""
        return "/".join(str(part) for part in key)

    def describe_key(self) -> str:
        return " + ".join(field.item for field in self.keys)


# -- parsers -------------------------------------------------------------------------------------


def _int(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    try:
        return int(str(value))
    except ValueError:
        raise ItemRejected(f"{name} must be a whole number, got {value!r}") from None


def _bool(item: Mapping[str, Any], name: str) -> bool | None:
    value = item.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if str(value) in ("0", "1"):
        return str(value) == "1"
    raise ItemRejected(f"{name} must be a boolean, got {value!r}")


def _time(item: Mapping[str, Any], name: str) -> Any:
    value = item.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ItemRejected(f"{name} must be a 'YYYY-MM-DD HH:MM:SS' time, got {value!r}")
    try:
        return parse_accs_time(value)
    except ValueError as exc:
        raise ItemRejected(f"{name}: {exc}") from None


def _decimal(item: Mapping[str, Any], name: str) -> Decimal | None:
    value = item.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ItemRejected(f"{name} must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ItemRejected(f"{name} must be a number, got {value!r}") from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** 14:
        raise ItemRejected(f"{name} is out of range: {value!r}")
    return number


def parse_category(item: dict[str, Any]) -> dict[str, Any]:
    """A ``catalog-data-category-interface`` item (only ``id`` is required upstream)."""
    name = item.get("name")
    path = item.get("path")
    if path is not None and (not isinstance(path, str) or len(path) > 255):
        raise ItemRejected(f"path must be text of at most 255 characters, got {path!r}")
    return {
        "parent_id": _int(item, "parent_id"),
        "name": name if isinstance(name, str) else None,
        "is_active": _bool(item, "is_active"),
        "position": _int(item, "position"),
        "level": _int(item, "level"),
        "path": path,
        "include_in_menu": _bool(item, "include_in_menu"),
        "created_at": _time(item, "created_at"),
        "updated_at": _time(item, "updated_at"),
    }


def parse_source_item(item: dict[str, Any]) -> dict[str, Any]:
    """An ``inventory-api-data-source-item-interface`` item."""
    sku = item.get("sku")
    if isinstance(sku, str) and len(sku) > 64:
        raise ItemRejected(f"sku is longer than Magento's 64 characters: {sku[:70]!r}")
    status = _int(item, "status")
    if status not in (None, 0, 1):
        raise ItemRejected(f"status must be 0 (out of stock) or 1 (in stock), got {status}")
    return {"quantity": _decimal(item, "quantity"), "status": status}


_INPUT_LENGTH = 50  # Magento's eav_attribute.frontend_input is VARCHAR(50)


def _text(item: Mapping[str, Any], name: str, limit: int | None = None) -> str | None:
    """``item[name]`` as text (None when absent); anything else rejects the item."""
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or (limit is not None and len(value) > limit):
        shown = f"{len(value)} characters" if isinstance(value, str) else repr(value)[:80]
        limited = f" of at most {limit} characters" if limit is not None else ""
        raise ItemRejected(f"{name} must be text{limited}, got {shown}")
    return value


def parse_attribute(item: dict[str, Any]) -> dict[str, Any]:
    """A ``catalog-data-product-attribute-interface`` item (``attribute_code`` is required)."""
    code = item.get("attribute_code")
    if not isinstance(code, str) or not code.strip() or len(code) > 255:
        shown = f"{len(code)} characters" if isinstance(code, str) else repr(code)[:80]
        raise ItemRejected(f"attribute_code must be text of 1 to 255 characters, got {shown}")
    return {
        "attribute_code": code,
        "frontend_input": _text(item, "frontend_input", _INPUT_LENGTH),
        "label": _text(item, "default_frontend_label"),
        "is_user_defined": _bool(item, "is_user_defined"),
        "scope": _text(item, "scope", 16),
    }


def _option_label(option: Mapping[str, Any], where: str) -> str | None:
    label = option.get("label")
    if label is None or isinstance(label, str):
        return label
    if isinstance(label, int | float) and not isinstance(label, bool):
        return str(label)  # a size "28" sent as a number
    raise ItemRejected(f"{where}.label must be text, got {repr(label)[:80]}")


def _option_value(option: Mapping[str, Any], where: str) -> str | None:
    """The option id as text; None for the empty "no choice" entry of a select."""
    value = option.get("value")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > 255:
        shown = f"{len(value)} characters" if isinstance(value, str) else repr(value)[:80]
        raise ItemRejected(f"{where}.value must be text of at most 255 characters, got {shown}")
    return value if value.strip() else None


def attribute_options(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``product_attribute_options`` for one attribute item: one per option with
    a value (the leading ``{"label": " ", "value": ""}`` of a select is no option); a value
    repeated in the list keeps its last entry, and so do values MySQL/MariaDB would take for
    the same key (differing only in case or trailing spaces): the same rows on every
    database, and no duplicate key breaking the page there."""
    options = item.get("options")
    if options is None:
        return []
    if not isinstance(options, list):
        raise ItemRejected(f"options must be a list, got {type(options).__name__}")
    found: dict[str, dict[str, Any]] = {}
    for n, option in enumerate(options):
        where = f"options[{n}]"
        if not isinstance(option, dict):
            raise ItemRejected(f"{where} must be an object, got {repr(option)[:80]}")
        value = _option_value(option, where)
        label = _option_label(option, where)
        try:
            sort_order = _int(option, "sort_order")
        except ItemRejected as exc:
            raise ItemRejected(f"{where}.{exc.reason}") from None
        store_labels = option.get("store_labels")
        if store_labels is not None and not isinstance(store_labels, list):
            raise ItemRejected(
                f"{where}.store_labels must be a list, got {repr(store_labels)[:80]}"
            )
        if value is None:
            continue
        same = value.rstrip(" ").casefold()
        found.pop(same, None)
        found[same] = {
            "attribute_code": item["attribute_code"],
            "value": value,
            "label": label,
            "sort_order": sort_order,
            "store_labels": store_labels,
        }
    return list(found.values())


# -- the resources -------------------------------------------------------------------------------

#: Products have a pipeline of their own (:mod:`sync.pipeline`: concurrent id ranges,
#: attributes, windows); this name only selects it.
PRODUCTS = "products"
#: The ACL ``GET /V1/products`` needs.
PRODUCTS_ACL = "Magento_Catalog::products"

CATEGORIES = Resource(
    name="categories",
    path="/V1/categories/list",
    acl="Magento_Catalog::categories",
    table=categories,
    keys=(KeyField("entity_id", "id", "id", numeric=True),),
    incremental="updated_at",
    per_store=True,
    parse=parse_category,
)

SOURCE_ITEMS = Resource(
    name="source_items",
    path="/V1/inventory/source-items",
    acl="Magento_InventoryApi::source",
    table=inventory_source_items,
    keys=(KeyField("source_code", "source_code", "source_code"), KeyField("sku", "sku", "sku")),
    incremental=None,  # no updated_at: a full pass that writes only what changed
    per_store=False,
    parse=parse_source_item,
)

ATTRIBUTES = Resource(
    name="attributes",
    path="/V1/products/attributes",
    acl="Magento_Catalog::attributes_attributes",
    table=product_attribute_metadata,
    keys=(KeyField("attribute_id", "attribute_id", "attribute_id", numeric=True),),
    incremental=None,  # no updated_at: a full pass that writes only what changed
    per_store=True,  # option labels come in the Store header's language
    parse=parse_attribute,
    children=(ChildTable(product_attribute_options, attribute_options),),
)

#: Every resource the engine mirrors, by name.
RESOURCES: dict[str, Resource] = {r.name: r for r in (CATEGORIES, SOURCE_ITEMS, ATTRIBUTES)}


def resource_names() -> tuple[str, ...]:
    """Every name ``SYNC_RESOURCES`` accepts, products first."""
    return (PRODUCTS, *RESOURCES)

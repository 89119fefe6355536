"""The list endpoints beside products, as search tables (see :mod:`.search`).

``GET /V1/categories/list`` reads Magento's category collection (EAV, like products: an unknown
field is a 400 "Invalid attribute name"), keyed by entity id. ``GET /V1/inventory/source-items``
reads the flat ``inventory_source_item`` table: it has no single unique field a client may sort
by (items are keyed by source code and SKU together), and an unknown column is an SQL error,
which Magento in production mode answers with a 500 that names only a report id.
``GET /V1/products/attributes`` reads the ``eav_attribute`` table joined with
``catalog_eav_attribute`` (flat columns too: an unknown one is the same 500), keyed by
``attribute_id``; each attribute comes with its options in the store view asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync.emulator.attributes import Attribute, render_attribute
from sync.emulator.catalog import Catalog
from sync.emulator.categories import Category, render_category
from sync.emulator.criteria import internal_error
from sync.emulator.inventory import SourceItem, render_source_item
from sync.emulator.search import Column, Kind, Table, invalid_attribute

__all__ = ["LISTINGS", "Listing", "attribute_table", "category_table", "source_item_table"]

_CATEGORY_COLUMNS: dict[str, tuple[Kind, Callable[[Category], Any]]] = {
    "entity_id": ("int", lambda c: c.id),
    "id": ("int", lambda c: c.id),
    "parent_id": ("int", lambda c: c.parent_id),
    "path": ("str", lambda c: c.path),
    "position": ("int", lambda c: c.position),
    "level": ("int", lambda c: c.level),
    "children_count": ("int", lambda c: c.children_count),
    "created_at": ("time", lambda c: c.created_at),
    "updated_at": ("time", lambda c: c.updated_at),
    "is_active": ("int", lambda c: int(c.is_active)),
    "include_in_menu": ("int", lambda c: int(c.include_in_menu)),
    "is_anchor": ("int", lambda c: int(c.is_anchor)),
    "url_key": ("str", lambda c: c.url_key),
    "url_path": ("str", lambda c: c.url_path),
    "display_mode": ("str", lambda c: c.display_mode),
}
_SOURCE_ITEM_COLUMNS: dict[str, tuple[Kind, Callable[[SourceItem], Any]]] = {
    "sku": ("str", lambda i: i.sku),
    "source_code": ("str", lambda i: i.source_code),
    "quantity": ("num", lambda i: i.quantity),
    "status": ("int", lambda i: i.status),
}

_ATTRIBUTE_COLUMNS: dict[str, tuple[Kind, Callable[[Attribute], Any]]] = {
    "attribute_id": ("int", lambda a: a.id),
    "attribute_code": ("str", lambda a: a.code),
    "frontend_input": ("str", lambda a: a.input),
    "frontend_label": ("str", lambda a: a.label),
    "entity_type_id": ("int", lambda a: 4),
    "is_user_defined": ("int", lambda a: int(a.id >= 134)),
}


def _category_column(field: str, store: str) -> Column:
    if field == "name":  # a store-scoped attribute
        return Column(lambda c: c.name_in(store), "str")
    found = _CATEGORY_COLUMNS.get(field)
    if found is None:
        raise invalid_attribute(field)
    return Column(found[1], found[0])


def _source_item_column(field: str) -> Column:
    found = _SOURCE_ITEM_COLUMNS.get(field)
    if found is None:
        raise internal_error()
    return Column(found[1], found[0])


def _attribute_column(field: str) -> Column:
    found = _ATTRIBUTE_COLUMNS.get(field)
    if found is None:
        raise internal_error()
    return Column(found[1], found[0])


def _attribute_id(a: Attribute) -> int:
    return a.id


def _category_id(c: Category) -> int:
    return c.id


def _source_item_key(i: SourceItem) -> tuple[str, str]:
    return i.key


def category_table(categories: Sequence[Category], store: str) -> Table[Category]:
    """Categories in id order, searchable by entity id (a bisect) and their attributes."""
    return Table(
        records=categories,
        column=lambda field: _category_column(field, store),
        identity=_category_id,
        keys=[c.id for c in categories],
        id_fields=frozenset({"entity_id", "id"}),
        unique=frozenset({"entity_id", "id"}),
    )


def source_item_table(items: Sequence[SourceItem]) -> Table[SourceItem]:
    """Source items; no field is unique on its own (sort by sku and source_code)."""
    return Table(records=items, column=_source_item_column, identity=_source_item_key)


def attribute_table(attributes: Sequence[Attribute]) -> Table[Attribute]:
    """Attributes in id order, searchable by id (a bisect) and their flat columns."""
    return Table(
        records=attributes,
        column=_attribute_column,
        identity=_attribute_id,
        keys=[a.id for a in attributes],
        id_fields=frozenset({"attribute_id"}),
        unique=frozenset({"attribute_id", "attribute_code"}),
    )


@dataclass(frozen=True)
class Listing:
    """One list endpoint: its table in a catalog for a store view, and one record's JSON in a
    store view (given the catalog's store codes, whose order numbers the store ids)."""

    table: Callable[[Catalog, str], Table[Any]]
    draw: Callable[[Any, str, Sequence[str]], Mapping[str, Any]]


#: Request kind -> its listing.
LISTINGS: dict[str, Listing] = {
    "categories": Listing(
        lambda catalog, store: category_table(catalog.categories(), store),
        lambda category, store, stores: render_category(category, store),
    ),
    "source_items": Listing(
        lambda catalog, store: source_item_table(catalog.source_items()),
        lambda item, store, stores: render_source_item(item),
    ),
    "attributes": Listing(
        lambda catalog, store: attribute_table(catalog.attributes()), render_attribute
    ),
}

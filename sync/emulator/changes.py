"""What a catalog mutation announces: the Commerce event it fires and the data it carries.

The catalog (:class:`.catalog.Catalog`) knows nothing of subscriptions or journals; it hands a
:class:`Change` to each of its listeners, and :mod:`.events` turns the subscribed ones into
events. Which mutations fire which event follows Magento:

* a product save (create, update, a save in a store view): ``catalog_product_save_commit_after``;
* a product delete: ``catalog_product_delete_commit_after``;
* a category create or rename (any attribute save): ``catalog_category_save_after``; a move
  fires none of the catalog events (Magento's ``move()`` does not save the entity);
* a category delete: ``catalog_category_delete_after`` for that category only: Magento deletes
  its subtree with one SQL statement, and the products' links go by foreign-key cascade;
* a stock move of the ``default`` source (the legacy stock item):
  ``cataloginventory_stock_item_save_commit_after``; other sources fire none;
* a mass attribute update, a stock move of another source, an image or attribute change: none.

Values are text, as Commerce sends most of them (``"42"``, not ``42``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sync.emulator.categories import Category
from sync.emulator.records import Product

__all__ = [
    "CATALOG_EVENTS",
    "CATEGORY_DELETE",
    "CATEGORY_SAVE",
    "PRODUCT_DELETE",
    "PRODUCT_SAVE",
    "STOCK_ITEM_SAVE",
    "Change",
    "Scope",
    "category_deleted",
    "category_saved",
    "product_deleted",
    "product_saved",
    "stock_saved",
]

PRODUCT_SAVE = "observer.catalog_product_save_commit_after"
PRODUCT_DELETE = "observer.catalog_product_delete_commit_after"
CATEGORY_SAVE = "observer.catalog_category_save_after"
CATEGORY_DELETE = "observer.catalog_category_delete_after"
STOCK_ITEM_SAVE = "observer.cataloginventory_stock_item_save_commit_after"
CATALOG_EVENTS = (PRODUCT_SAVE, PRODUCT_DELETE, CATEGORY_SAVE, CATEGORY_DELETE, STOCK_ITEM_SAVE)

#: (store id, website id, store group id) of the store view a change was made in.
Scope = tuple[int, int, int]
DEFAULT_SCOPE: Scope = (1, 1, 1)


@dataclass(frozen=True)
class Change:
    """One announced mutation: the event ``name`` and every field its data could carry."""

    name: str
    values: Mapping[str, str]
    scope: Scope = DEFAULT_SCOPE


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _product_values(p: Product, store: str) -> dict[str, str]:
    return {
        "entity_id": str(p.id),
        "sku": p.sku,
        "type_id": p.type_id,
        "attribute_set_id": str(p.attribute_set_id),
        "name": _text(p.value("name", store)),
        "price": _text(p.value("price", store)),
        "status": _text(p.value("status", store)),
        "visibility": _text(p.value("visibility", store)),
        "created_at": p.created_at or "",
        "updated_at": p.updated_at or "",
    }


def _in_scope(name: str, values: Mapping[str, str], scope: Scope) -> Change:
    """A save made in a store view: its data says which (``store_id``)."""
    return Change(name, {**values, "store_id": str(scope[0])}, scope)


def product_saved(p: Product, store: str = "default", scope: Scope = DEFAULT_SCOPE) -> Change:
    return _in_scope(PRODUCT_SAVE, _product_values(p, store), scope)


def product_deleted(p: Product) -> Change:
    return Change(PRODUCT_DELETE, _product_values(p, "default"))


def stock_saved(p: Product) -> Change:
    """The legacy stock item (``cataloginventory_stock_item``): keyed by product id; it holds
    no SKU, so an event subscribed with ``sku`` carries none."""
    values = {
        "item_id": str(p.id),
        "product_id": str(p.id),
        "stock_id": "1",
        "website_id": "0",
        "qty": _text(float(p.qty)),
        "is_in_stock": _text(p.is_in_stock),
    }
    return Change(STOCK_ITEM_SAVE, values)


def _category_values(c: Category, store: str) -> dict[str, str]:
    return {
        "entity_id": str(c.id),
        "parent_id": str(c.parent_id),
        "path": c.path,
        "level": str(c.level),
        "position": str(c.position),
        "name": c.name_in(store),
        "is_active": _text(c.is_active),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def category_saved(c: Category, store: str = "default", scope: Scope = DEFAULT_SCOPE) -> Change:
    return _in_scope(CATEGORY_SAVE, _category_values(c, store), scope)


def category_deleted(c: Category) -> Change:
    return Change(CATEGORY_DELETE, _category_values(c, "default"))

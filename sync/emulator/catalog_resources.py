"""The catalog's categories, source items and product attributes, and the changes a test or
user makes to them.

Kept apart from the product half of :class:`~sync.emulator.catalog.Catalog` (which mixes this
in) so each stays small. What each change does to ``updated_at`` follows Magento:

* a category rename or other attribute change: that category's ``updated_at`` moves;
* a move: the moved subtree, the siblings whose position shifts and the ancestors whose
  ``children_count`` changes move (see :mod:`.categories`);
* a delete: the subtree goes; products lose their links to it by foreign-key cascade, so
  their ``updated_at`` does NOT move (an ``updated_at`` sync misses that the link is gone);
* a stock move: source items change, the product's ``updated_at`` does NOT move;
* an attribute deleted: its values go from every product (a foreign-key cascade), the
  products' ``updated_at`` does NOT move; an option removed or relabelled: products keep the
  option id they carry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from sync.emulator.attributes import Attribute, without_option
from sync.emulator.categories import STORE_ROOT_ID, Category, CategoryTree, render_category
from sync.emulator.changes import Change, Scope, category_deleted, category_saved
from sync.emulator.inventory import (
    DEFAULT_SOURCE,
    SOURCES,
    SourceItem,
    StockKey,
    build_source_items,
)
from sync.emulator.records import Product, format_time
from sync.emulator.storeviews import StoreViews

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["ResourceMutations"]


class Versioned(Protocol):
    """What the mixin reads of its host's snapshot (:class:`.catalog.Snapshot` is one)."""

    @property
    def products(self) -> Sequence[Product]: ...

    @property
    def version(self) -> int: ...


class ResourceMutations:
    """Categories and source items of a catalog (a mixin of :class:`.catalog.Catalog`).

    It declares the host's private state and methods it uses instead of importing the host,
    so :mod:`.catalog` imports this module and never the other way round.
    """

    # Provided by the host (Catalog).
    _lock: threading.RLock
    _by_id: dict[int, Product]
    _version: int
    _categories: CategoryTree
    _stock_changes: dict[StockKey, SourceItem | None]
    _source_cache: tuple[int, list[SourceItem]] | None
    _attributes: dict[str, Attribute]
    listeners: list[Callable[[Change], object]]
    store_views: StoreViews

    if TYPE_CHECKING:

        def now(self) -> datetime: ...
        def snapshot(self) -> Versioned: ...
        def _get(self, key: str | int) -> Product: ...
        def _store(self, product: Product) -> Product: ...
        def _check_store(self, store: str | None) -> None: ...
        def set_stock(
            self, key: str | int, qty: float, is_in_stock: bool | None = None
        ) -> None: ...

    def _stamp(self) -> str:
        return format_time(self.now())

    def _announce(self, change: Change) -> None:
        for listener in list(self.listeners):
            listener(change)

    def _scope(self, store: str | None) -> Scope:
        return self.store_views.scope(store or "default")

    # -- categories ---------------------------------------------------------------------------

    def categories(self) -> tuple[Category, ...]:
        """Every category in id order, unaffected by later changes."""
        with self._lock:
            return self._categories.records()

    def category(self, cid: int, store: str = "default") -> dict[str, Any] | None:
        """The category as ACCS JSON in ``store``, or ``None``."""
        with self._lock:
            found = self._categories.get(cid)
        return None if found is None else render_category(found, store)

    def create_category(
        self, name: str, parent_id: int = STORE_ROOT_ID, **attributes: Any
    ) -> dict[str, Any]:
        """Add a category (``position``, ``is_active``, ``include_in_menu``, ``url_key``, ...
        optional). Its id is one past the highest ever used."""
        with self._lock:
            made = self._categories.create(name, parent_id, stamp=self._stamp(), **attributes)
            self._version += 1
            self._announce(category_saved(made))
            return render_category(made)

    def update_category(
        self, cid: int, *, store: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Rename (``name=...``) or change attributes; with ``store``, that store view's name.
        The category's ``updated_at`` moves, to the clock's now or to ``updated_at`` when given
        (any text: tests send timestamps a real store should never have)."""
        self._check_store(store)
        stamp = fields.pop("updated_at", None)
        with self._lock:
            stamp = self._stamp() if stamp is None else format_time(stamp)
            changed = self._categories.update(cid, stamp=stamp, store=store, **fields)
            self._version += 1
            self._announce(category_saved(changed, store or "default", self._scope(store)))
            return render_category(changed, store or "default")

    def move_category(
        self, cid: int, parent_id: int, after_id: int | None = None
    ) -> dict[str, Any]:
        """Move under ``parent_id``, after sibling ``after_id`` (first when ``None``)."""
        with self._lock:
            moved = self._categories.move(cid, parent_id, after_id, stamp=self._stamp())
            self._version += 1
            return render_category(moved)

    def delete_category(self, cid: int) -> list[int]:
        """Delete a category and its subtree; returns the deleted ids. Products linked to them
        lose those links without their ``updated_at`` moving (a foreign-key cascade)."""
        with self._lock:
            top = self._categories.get(cid)
            removed = set(self._categories.delete(cid, stamp=self._stamp()))
            for product in list(self._by_id.values()):
                if removed.intersection(product.category_ids):
                    kept = tuple(c for c in product.category_ids if c not in removed)
                    self._store(replace(product, category_ids=kept))
            self._version += 1
            if top is not None:  # one event: Magento deletes the subtree with one statement
                self._announce(category_deleted(top))
            return sorted(removed)

    # -- source items -------------------------------------------------------------------------

    def source_items(self) -> list[SourceItem]:
        """Every source item (see :mod:`.inventory`), built once per catalog version."""
        with self._lock:
            cached = self._source_cache
            if cached is not None and cached[0] == self._version:
                return cached[1]
            snap = self.snapshot()
            changes = dict(self._stock_changes)
        # Building them for 200k products takes a while: not while holding the lock.
        items = build_source_items(snap.products, changes)
        with self._lock:
            if self._version == snap.version:
                self._source_cache = (snap.version, items)
        return items

    def _source_key(self, sku: str, source_code: str) -> tuple[Product, StockKey]:
        if source_code not in SOURCES:
            raise ValueError(f"unknown source {source_code!r}; the catalog has {SOURCES}")
        product = self._get(sku)
        return product, (source_code, product.sku.lower())

    def set_source_item(
        self, sku: str, source_code: str, quantity: float, status: int | None = None
    ) -> SourceItem:
        """Move stock: set (or add) the item of ``sku`` at ``source_code``. ``status`` defaults
        to in stock when ``quantity`` > 0. The ``default`` source is the product's stock item,
        so it changes too; the product's ``updated_at`` does not."""
        with self._lock:
            product, key = self._source_key(sku, source_code)
            in_stock = quantity > 0 if status is None else bool(status)
            item = SourceItem(product.sku, source_code, float(quantity), int(in_stock))
            if source_code == DEFAULT_SOURCE:
                self._stock_changes.pop(key, None)
                self.set_stock(product.id, float(quantity), in_stock)
            else:
                self._stock_changes[key] = item
                self._version += 1
            return item

    def remove_source_item(self, sku: str, source_code: str) -> None:
        """Unassign ``sku`` from ``source_code``. Without its ``default`` source item the
        product's stock item shows 0 and out of stock, as MSI's legacy sync does."""
        with self._lock:
            product, key = self._source_key(sku, source_code)
            self._stock_changes[key] = None
            if source_code == DEFAULT_SOURCE:
                self.set_stock(product.id, 0.0, False)
            else:
                self._version += 1

    # -- product attributes -------------------------------------------------------------------

    def attributes(self) -> tuple[Attribute, ...]:
        """Every product attribute in id order (see :mod:`.attributes`)."""
        with self._lock:
            return tuple(sorted(self._attributes.values(), key=lambda a: a.id))

    def attribute(self, code: str) -> Attribute:
        with self._lock:
            found = self._attributes.get(code)
        if found is None:
            raise KeyError(f"unknown attribute {code!r}")
        return found

    def remove_attribute_option(self, code: str, option_id: int) -> None:
        """Delete one option of attribute ``code``."""
        with self._lock:
            self._attributes[code] = without_option(self.attribute(code), option_id)
            self._version += 1

    def relabel_attribute_option(
        self, code: str, option_id: int, label: str, store: str | None = None
    ) -> None:
        """Set an option's admin label, or with ``store`` its label in that store view."""
        self._check_store(store)
        with self._lock:
            attribute = self.attribute(code)
            options = []
            for option in attribute.options:
                if option.id == option_id:
                    if store is None:
                        option = replace(option, label=label)
                    else:
                        option = replace(option, labels={**option.labels, store: label})
                options.append(option)
            self._attributes[code] = replace(attribute, options=tuple(options))
            self._version += 1

    def delete_attribute(self, code: str) -> None:
        """Delete attribute ``code``; its values go from every product without the products'
        ``updated_at`` moving."""
        with self._lock:
            self.attribute(code)
            del self._attributes[code]
            for product in list(self._by_id.values()):
                scoped = product.overrides or {}
                if code in product.attributes or any(code in v for v in scoped.values()):
                    attributes = {k: v for k, v in product.attributes.items() if k != code}
                    overrides = {
                        store: {k: v for k, v in values.items() if k != code}
                        for store, values in scoped.items()
                    }
                    kept = replace(product, attributes=attributes, overrides=overrides or None)
                    self._store(kept)
            self._version += 1

    def _link_categories(self, product: Product) -> None:
        """Keep every category a product links to in the tree: one a product is given that
        the tree lacks is created under the store root (Magento would refuse the link)."""
        missing = [c for c in product.category_ids if c not in self._categories]
        if missing:
            self._categories.ensure(missing, self._stamp())

    def _forget_stock(self, product: Product) -> None:
        """A deleted product's source items go with it (MSI deletes them)."""
        for source in SOURCES:
            self._stock_changes.pop((source, product.sku.lower()), None)

"""The emulator's catalog: products, categories, source items and product attributes, in memory,
thread-safe, with a clock for ``updated_at``. Categories, source items and attributes live in
:mod:`.catalog_resources` (attributes start as Luma's, :mod:`.attributes`).

Tests and users change it while clients page through it, so every mutation replaces a product
record under a lock and bumps :attr:`Catalog.version`; requests work on a :class:`Snapshot` that
later mutations do not disturb. Like Magento, saving a product moves its ``updated_at`` to "now",
but stock (``set_stock``) and image (``set_images``) changes do not: in Magento they are saved by
other modules (inventory, media gallery) that leave the product row alone, which is exactly the
kind of change an ``updated_at``-based sync misses.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from sync.emulator.attributes import luma_attributes
from sync.emulator.catalog_resources import ResourceMutations
from sync.emulator.categories import CategoryTree
from sync.emulator.changes import Change, product_deleted, product_saved, stock_saved
from sync.emulator.inventory import SourceItem, StockKey
from sync.emulator.records import (
    Product,
    apply_fields,
    format_time,
    product_from_item,
    render,
)
from sync.emulator.storeviews import StoreViews

__all__ = ["Catalog", "ClockFn", "Snapshot"]

ClockFn = Callable[[], datetime]
Key = str | int


def _system_now() -> datetime:
    return datetime.now(UTC)


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


@dataclass(frozen=True)
class Snapshot:
    """The catalog at one version: products in entity-id order and their ids (for bisect)."""

    products: Sequence[Product]
    ids: Sequence[int]
    version: int
    attribute_codes: frozenset[str]


class Catalog(ResourceMutations):
    """An in-memory ACCS catalog. Keys are a sku (``str``) or an entity id (``int``).

    ``clock`` returns the current time (naive UTC, or aware of any zone); it stamps
    ``updated_at`` on mutations and, by default, drives the emulator's token expiry too.
    ``categories``: the category tree (default: Luma's, installed at the earliest product
    ``created_at``); a category id a product links to that the tree lacks is added to it.
    """

    def __init__(
        self,
        products: Iterable[Product] = (),
        *,
        stores: Sequence[str] = ("default",),
        clock: ClockFn | None = None,
        categories: CategoryTree | None = None,
    ) -> None:
        self.clock: ClockFn = clock or _system_now
        #: Its store views (``GET /V1/store/storeViews``); a test adds or removes one.
        self.store_views = StoreViews(stores)
        self._lock = threading.RLock()
        self._by_id: dict[int, Product] = {}
        self._by_sku: dict[str, int] = {}
        self._ids: list[int] = []
        self._attribute_codes: set[str] = set()
        self._version = 0
        self._high_id = 0  # like MySQL's auto-increment: ids of deleted products stay used
        self._snapshot: Snapshot | None = None
        self._stock_changes: dict[StockKey, SourceItem | None] = {}
        self._source_cache: tuple[int, list[SourceItem]] | None = None
        self._attributes = {a.code: a for a in luma_attributes()}
        #: Called with each :class:`.changes.Change` a mutation fires (see :mod:`.changes`).
        self.listeners: list[Callable[[Change], object]] = []
        loaded = list(products)
        stamp = self._install_stamp(loaded)
        self._categories = categories or CategoryTree.luma(stamp)
        self._categories.ensure({c for ids in {p.category_ids for p in loaded} for c in ids}, stamp)
        self._load(loaded)

    def _install_stamp(self, products: list[Product]) -> str:
        """When the categories were made: before the first product, or now."""
        stamps = [p.created_at for p in products if p.created_at]
        return min(stamps) if stamps else format_time(self.now())

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        n: int,
        seed: int = 0,
        start: datetime | None = None,
        *,
        stores: Sequence[str] = ("default",),
        clock: ClockFn | None = None,
    ) -> Catalog:
        """A deterministic synthetic catalog of ``n`` products (see :mod:`.generate`); its
        category tree has every id the generator links, whether or not a product does."""
        from sync.emulator.generate import CATEGORY_IDS, generate_products

        catalog = cls(generate_products(n, seed, start, stores), stores=stores, clock=clock)
        catalog._categories.ensure(CATEGORY_IDS, catalog._categories.records()[0].created_at)
        return catalog

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        *,
        stores: Sequence[str] | None = None,
        clock: ClockFn | None = None,
        seed: int = 0,
        start: datetime | None = None,
    ) -> Catalog:
        """A catalog loaded from a Magento product-import CSV (see :mod:`.csvload`).
        Store views named in the file are added to ``stores``."""
        from sync.emulator.csvload import load_csv

        products, seen_stores, tree = load_csv(Path(path), seed=seed, start=start)
        return cls(products, stores=[*(stores or ()), *seen_stores], clock=clock, categories=tree)

    # -- reading ------------------------------------------------------------------------------

    @property
    def stores(self) -> tuple[str, ...]:
        """Store view codes the catalog answers for; ``default`` is always first."""
        return self.store_views.codes()

    def add_store_view(
        self, code: str, *, name: str | None = None, is_active: bool = True
    ) -> dict[str, Any]:
        """A new store view (its products show their default values there); see
        :meth:`.storeviews.StoreViews.add`."""
        return self.store_views.add(code, name=name, is_active=is_active)

    def remove_store_view(self, code: str) -> None:
        """Delete a store view: no longer listed, and requests for it fail as in Magento."""
        self.store_views.remove(code)

    @property
    def version(self) -> int:
        """Increases on every change, including stock, image and category changes."""
        return self._version

    def now(self) -> datetime:
        """The catalog clock's time as naive UTC, whole seconds."""
        return _naive_utc(self.clock())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (str, int)):
            return False
        return self._find(key) is not None

    def __iter__(self) -> Iterator[Product]:
        return iter(self.snapshot().products)

    def _find(self, key: Key) -> Product | None:
        if isinstance(key, int) and not isinstance(key, bool):
            return self._by_id.get(key)
        pid = self._by_sku.get(str(key).lower())
        return None if pid is None else self._by_id.get(pid)

    def _get(self, key: Key) -> Product:
        product = self._find(key)
        if product is None:
            raise KeyError(f"no product {key!r} in the catalog")
        return product

    def get(self, key: Key) -> Product | None:
        """The stored record, or ``None``. SKU lookup ignores case, as MySQL does."""
        with self._lock:
            return self._find(key)

    def item(self, key: Key, store: str = "default") -> dict[str, Any] | None:
        """The product as ACCS JSON in ``store``, or ``None``."""
        product = self.get(key)
        return None if product is None else render(product, store)

    def items(self, store: str = "default") -> Iterator[dict[str, Any]]:
        """Every product as ACCS JSON, in entity-id order (rendered lazily)."""
        for product in self.snapshot().products:
            yield render(product, store)

    def ids(self) -> list[int]:
        return list(self.snapshot().ids)

    def skus(self) -> list[str]:
        return [p.sku for p in self.snapshot().products]

    @property
    def max_id(self) -> int:
        with self._lock:
            return self._ids[-1] if self._ids else 0

    def snapshot(self) -> Snapshot:
        """The current products, consistent and unaffected by later changes."""
        with self._lock:
            if self._snapshot is None or self._snapshot.version != self._version:
                products = [self._by_id[i] for i in self._ids]
                self._snapshot = Snapshot(
                    products, list(self._ids), self._version, frozenset(self._attribute_codes)
                )
            return self._snapshot

    def _load(self, products: list[Product]) -> None:
        """Bulk insert; products already in increasing id order (the usual case) skip the
        per-product bookkeeping, which matters for 200k-product catalogs."""
        ordered = all(a.id < b.id for a, b in pairwise(products))
        if not ordered:
            for product in products:
                self._insert(product)
            return
        by_sku = {p.sku.lower(): p.id for p in products}
        if len(by_sku) != len(products):
            counts = Counter(p.sku.lower() for p in products)
            dup = next(sku for sku, n in counts.items() if n > 1)
            raise ValueError(f"sku {dup!r} appears twice (SKUs are case-insensitive)")
        self._by_id = {p.id: p for p in products}
        self._by_sku = by_sku
        self._ids = [p.id for p in products]
        for product in products:
            self._note_attributes(product)
        self._high_id = self._ids[-1] if self._ids else 0
        self._version += 1

    # -- mutations ----------------------------------------------------------------------------

    def _insert(self, product: Product) -> None:
        sku_key = product.sku.lower()
        if sku_key in self._by_sku:
            raise ValueError(f"sku {product.sku!r} already exists (SKUs are case-insensitive)")
        if product.id in self._by_id:
            raise ValueError(f"entity id {product.id} already exists")
        self._by_id[product.id] = product
        self._by_sku[sku_key] = product.id
        if not self._ids or product.id > self._ids[-1]:
            self._ids.append(product.id)
        else:
            bisect.insort(self._ids, product.id)
        self._high_id = max(self._high_id, product.id)
        self._note_attributes(product)
        self._link_categories(product)
        self._version += 1

    def _note_attributes(self, product: Product) -> None:
        self._attribute_codes.update(product.attributes)
        for scoped in (product.overrides or {}).values():
            self._attribute_codes.update(scoped)

    def _store(self, product: Product) -> Product:
        self._by_id[product.id] = product
        self._note_attributes(product)
        self._link_categories(product)
        self._version += 1
        return product

    def _check_store(self, store: str | None) -> None:
        if store is not None and store not in self.stores:
            raise ValueError(f"unknown store view {store!r}; the catalog has {self.stores}")

    def update(self, key: Key, *, store: str | None = None, **fields: Any) -> dict[str, Any]:
        """Change fields (see :func:`.records.apply_fields`) and set ``updated_at`` to the
        clock's now, unless ``updated_at`` is given. Returns the item as ACCS JSON."""
        self._check_store(store)
        with self._lock:
            product = apply_fields(self._get(key), fields, store)
            if "updated_at" not in fields:
                product = replace(product, updated_at=format_time(self.now()))
            self._store(product)
            self._announce(product_saved(product, store or "default", self._scope(store)))
            return render(product, store or "default")

    def create(self, sku: str, *, id: int | None = None, **fields: Any) -> dict[str, Any]:
        """Add a new product; ``created_at``/``updated_at`` default to the clock's now and the
        entity id to one past the highest ever seen."""
        with self._lock:
            product_id = id if id is not None else self._high_id + 1
            stamp = format_time(self.now())
            base = Product(
                id=product_id,
                sku=sku,
                name=sku,
                price=10.0,
                weight=1.0,
                qty=100.0,
                created_at=stamp,
                updated_at=stamp,
                attributes={"url_key": sku.lower()},
            )
            product = apply_fields(base, fields)
            self._insert(product)
            self._announce(product_saved(product))
            return render(product)

    def add(self, product: Product | Mapping[str, Any]) -> dict[str, Any]:
        """Add a record, or an ACCS-shaped dict (its ``id`` is kept when free)."""
        with self._lock:
            if not isinstance(product, Product):
                wanted = product.get("id")
                pid = wanted if isinstance(wanted, int) and wanted not in self._by_id else None
                record = product_from_item(product, pid if pid is not None else self._high_id + 1)
                stamp = format_time(self.now())
                if record.updated_at is None:
                    record = replace(record, updated_at=stamp)
                if record.created_at is None and "created_at" not in product:
                    record = replace(record, created_at=stamp)
                product = record
            self._insert(product)
            self._announce(product_saved(product))
            return render(product)

    def delete(self, key: Key) -> None:
        """Remove a product. Its id is never reused (Magento's ids only grow)."""
        with self._lock:
            product = self._get(key)
            del self._by_id[product.id]
            del self._by_sku[product.sku.lower()]
            self._forget_stock(product)
            index = bisect.bisect_left(self._ids, product.id)
            del self._ids[index]
            self._version += 1
            self._announce(product_deleted(product))

    def set_stock(self, key: Key, qty: float, is_in_stock: bool | None = None) -> None:
        """Change ``extension_attributes.stock_item``; ``updated_at`` does NOT move."""
        with self._lock:
            product = self._get(key)
            in_stock = qty > 0 if is_in_stock is None else is_in_stock
            saved = self._store(replace(product, qty=float(qty), is_in_stock=bool(in_stock)))
            self._announce(stock_saved(saved))

    def set_images(self, key: Key, files: Sequence[str | tuple[str, Sequence[str]]]) -> None:
        """Replace ``media_gallery_entries`` (first file is the main image unless types are
        given); ``updated_at`` does NOT move."""
        with self._lock:
            product = self._get(key)
            self._store(apply_fields(product, {"images": files}))

    def touch_many(self, keys: Iterable[Key], at: datetime | str | None = None) -> str:
        """Give every product in ``keys`` the same ``updated_at`` second (a mass update).
        Returns that timestamp."""
        with self._lock:
            stamp = format_time(_naive_utc(at) if isinstance(at, datetime) else at or self.now())
            for key in keys:
                saved = self._store(replace(self._get(key), updated_at=stamp))
                self._announce(product_saved(saved))
            return stamp

    def mass_update(self, keys: Iterable[Key], **fields: Any) -> int:
        """The Admin's mass attribute update: set ``fields`` (e.g. ``price``) on every product
        in ``keys`` with no save event and no ``updated_at`` move. Returns how many changed."""
        with self._lock:
            changed = [apply_fields(self._get(key), fields) for key in keys]
            for product in changed:
                self._store(product)
            return len(changed)

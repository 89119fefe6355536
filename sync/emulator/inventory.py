"""Source items (Magento MSI): how much of a SKU each source holds, keyed by (source, sku).

Every product whose type MSI manages stock for (simple, virtual, downloadable: not configurable,
bundle or grouped parents) has two: the ``default`` source and a warehouse. The ``default``
source *is* the product's legacy ``extension_attributes.stock_item`` (MSI keeps the two in step),
so its quantity and status are read from the product record and a change to it is a
``set_stock`` on the product. The warehouse's are derived from the product id until changed.
Neither moves the product's ``updated_at``: inventory saves its own tables, not the product row.

Source items are built from a product snapshot when asked for (cached per catalog version), so
a 200k-product catalog pays for them only if a client lists them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync.emulator.records import Product

__all__ = [
    "DEFAULT_SOURCE",
    "MANAGED_TYPES",
    "SOURCES",
    "WAREHOUSE_SOURCE",
    "SourceItem",
    "build_source_items",
    "render_source_item",
]

DEFAULT_SOURCE = "default"
WAREHOUSE_SOURCE = "eu_warehouse"
SOURCES = (DEFAULT_SOURCE, WAREHOUSE_SOURCE)
#: Product types with source items (MSI's ``IsSourceItemManagementAllowedForProductType``).
MANAGED_TYPES = frozenset({"simple", "virtual", "downloadable"})

StockKey = tuple[str, str]  # (source_code, sku lower-cased: MySQL compares SKUs without case)


@dataclass(frozen=True, slots=True)
class SourceItem:
    sku: str
    source_code: str
    quantity: float
    status: int  # 1 in stock, 0 out of stock

    @property
    def key(self) -> StockKey:
        return (self.source_code, self.sku.lower())


def render_source_item(item: SourceItem) -> dict[str, Any]:
    """The item exactly as ``GET /V1/inventory/source-items`` shows it (quantity is a float
    there: Magento prints ``100`` for a whole number, as for prices)."""
    quantity = item.quantity
    return {
        "sku": item.sku,
        "source_code": item.source_code,
        "quantity": int(quantity) if quantity.is_integer() else quantity,
        "status": item.status,
    }


def _warehouse(p: Product) -> SourceItem:
    # Deterministic and varied: every seventh product is out of stock there.
    quantity = 0.0 if p.id % 7 == 0 else float((p.id * 53) % 250)
    return SourceItem(p.sku, WAREHOUSE_SOURCE, quantity, 1 if quantity > 0 else 0)


def _derived(p: Product) -> Iterator[SourceItem]:
    yield SourceItem(p.sku, DEFAULT_SOURCE, float(p.qty), 1 if p.is_in_stock else 0)
    yield _warehouse(p)


def build_source_items(
    products: Sequence[Product], changed: Mapping[StockKey, SourceItem | None]
) -> list[SourceItem]:
    """Every source item, ordered by (sku, source_code) in product-id order. ``changed``
    holds the warehouse-side changes: a replaced item, ``None`` for a removed one, and items
    of sources or products that have none by default."""
    out: list[SourceItem] = []
    seen: set[StockKey] = set()
    for p in products:
        if p.type_id not in MANAGED_TYPES:
            continue
        for item in _derived(p):
            key = item.key
            if key in changed:
                seen.add(key)
                replaced = changed[key]
                if replaced is None:
                    continue
                item = replaced
            out.append(item)
    out.extend(item for key, item in changed.items() if key not in seen and item is not None)
    return out

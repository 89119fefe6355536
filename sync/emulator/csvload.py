"""Load a Magento product-import CSV (the format of Luma's ``ConfigurableSampleData`` fixture).

The file has no entity ids and often no timestamps: Magento assigns both at import time, so ids
follow file order and missing timestamps are synthesised deterministically from ``seed``. Rows
with a ``store_view_code`` override their product's values in that store view only. Category
paths resolve against Luma's category tree (the sample data installs it before importing
products), so Luma's products link to Luma's category ids; a path the tree lacks is created,
as Magento's import does.
"""

from __future__ import annotations

import csv
import random
import re
import zlib
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sync.emulator.attributes import option_value
from sync.emulator.categories import ROOT_ID, CategoryTree
from sync.emulator.generate import option_id
from sync.emulator.records import ATTRIBUTE_IDS, MAIN_IMAGE_TYPES, Image, Product, format_time

__all__ = ["attribute_set_id", "load_csv"]

_ATTRIBUTE_SETS = {"Default": 4, "Top": 9, "Bottom": 10, "Gear": 11}
_VISIBILITY = {
    "not visible individually": 1,
    "catalog": 2,
    "search": 3,
    "catalog, search": 4,
}
_TAX_CLASSES = {"": None, "none": "0", "taxable goods": "2"}
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%m/%d/%y, %I:%M %p", "%Y-%m-%d")
# Columns that are stored as product fields; everything else that is non-empty and not in
# _IGNORED becomes a custom attribute.
_IGNORED = frozenset(
    {
        "sku",
        "store_view_code",
        "attribute_set_code",
        "product_type",
        "categories",
        "product_websites",
        "name",
        "weight",
        "product_online",
        "tax_class_name",
        "visibility",
        "price",
        "base_image",
        "base_image_label",
        "small_image",
        "small_image_label",
        "thumbnail_image",
        "thumbnail_image_label",
        "created_at",
        "updated_at",
        "additional_attributes",
        "qty",
        "is_in_stock",
        "configurable_variations",
        "configurable_variation_prices",
        "configurable_variation_labels",
        "additional_images",
        "out_of_stock_qty",
        "use_config_min_qty",
        "is_qty_decimal",
        "allow_backorders",
        "use_config_backorders",
        "min_cart_qty",
        "use_config_min_sale_qty",
        "max_cart_qty",
        "use_config_max_sale_qty",
        "notify_on_stock_below",
        "use_config_notify_stock_qty",
        "manage_stock",
        "use_config_manage_stock",
        "use_config_qty_increments",
        "qty_increments",
        "use_config_enable_qty_inc",
        "enable_qty_increments",
        "is_decimal_divided",
        "website_id",
    }
)
_SLUG = re.compile(r"[^a-z0-9]+")


def attribute_set_id(code: str) -> int:
    """Luma's ids for its attribute sets; any other name gets a stable id above 100."""
    return _ATTRIBUTE_SETS.get(code) or 100 + zlib.crc32(code.encode()) % 900


def _parse_time(text: str) -> str | None:
    text = text.strip()
    for fmt in _TIME_FORMATS:
        try:
            return format_time(datetime.strptime(text, fmt))
        except ValueError:
            continue
    return None


def _float(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return None


def _pairs(text: str, item_sep: str = ",") -> dict[str, str]:
    """``k=v,k=v``; a piece without ``=`` belongs to the previous value (a comma in a value)."""
    out: dict[str, str] = {}
    last: str | None = None
    for piece in text.split(item_sep):
        if "=" in piece:
            key, value = piece.split("=", 1)
            last = key.strip()
            out[last] = value
        elif last is not None:
            out[last] += item_sep + piece
    return out


class _Categories:
    """Category paths ("Default Category/Men/Tops") -> ids in ``tree``. Like Magento's import,
    a missing category is created, active and in the menu; an unknown first name is a new
    root category."""

    def __init__(self, tree: CategoryTree, stamp: str) -> None:
        self.tree = tree
        self.stamp = stamp
        self.ids: dict[str, int] = {}

    def id_of(self, path: str) -> int:
        found = self.ids.get(path)
        if found is not None:
            return found
        parent = ROOT_ID
        for name in (p.strip() for p in path.split("/") if p.strip()):
            child = self.tree.find_child(parent, name)
            if child is None:
                slug = _SLUG.sub("-", name.lower()).strip("-")
                child = self.tree.create(name, parent, stamp=self.stamp, url_key=slug or None)
            parent = child.id
        self.ids[path] = parent
        return parent

    def ids_of(self, text: str) -> tuple[int, ...]:
        paths = [p for p in text.split(",") if p.strip()]
        return tuple(dict.fromkeys(self.id_of(p) for p in paths))


def _images(row: dict[str, str]) -> tuple[Image, ...]:
    types: dict[str, list[str]] = {}
    for column, kind in (
        ("base_image", "image"),
        ("small_image", "small_image"),
        ("thumbnail_image", "thumbnail"),
    ):
        file = row.get(column, "").strip()
        if file:
            types.setdefault(file, []).append(kind)
    for file in row.get("additional_images", "").split(","):
        if file.strip():
            types.setdefault(file.strip(), [])
    return tuple(
        (file, tuple(kinds) if kinds != list(MAIN_IMAGE_TYPES) else MAIN_IMAGE_TYPES)
        for file, kinds in types.items()
    )


def _attributes(row: dict[str, str]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key, value in row.items():
        if key not in _IGNORED and value and value.strip():
            attrs[key] = value
    url_key = attrs.get("url_key") or _SLUG.sub("-", row.get("name", "").lower()).strip("-")
    if url_key:
        attrs["url_key"] = url_key
    tax = row.get("tax_class_name", "").strip()
    tax_id = _TAX_CLASSES.get(tax.lower(), str(10 + zlib.crc32(tax.encode()) % 90))
    if tax_id is not None:
        attrs["tax_class_id"] = tax_id
    for key, value in _pairs(row.get("additional_attributes", "")).items():
        # Option attributes (select, multiselect, boolean) answer with option ids, as in
        # Magento: the bundled attributes' ids (see .attributes).
        ids = option_value(key, value)
        if ids is None and key in ATTRIBUTE_IDS:
            ids = ",".join(str(option_id(key, v)) for v in value.split("|"))
        attrs[key] = ids if ids is not None else value.replace("|", ",")
    return attrs


def _base_product(pid: int, row: dict[str, str], cats: _Categories) -> Product:
    qty = _float(row.get("qty", "")) or 0.0
    stock_flag = row.get("is_in_stock", "").strip()
    websites = row.get("product_websites", "").strip()
    return Product(
        id=pid,
        sku=row["sku"].strip(),
        type_id=row.get("product_type", "").strip() or "simple",
        attribute_set_id=attribute_set_id(row.get("attribute_set_code", "").strip() or "Default"),
        name=row.get("name") or None,
        price=_float(row.get("price", "")),
        status=2 if row.get("product_online", "1").strip() == "0" else 1,
        visibility=_VISIBILITY.get(row.get("visibility", "").strip().lower(), 4),
        weight=_float(row.get("weight", "")),
        created_at=_parse_time(row.get("created_at", "")),
        updated_at=_parse_time(row.get("updated_at", "")),
        website_ids=(1,) if websites in ("", "base") else tuple(range(1, websites.count(",") + 2)),
        category_ids=cats.ids_of(row.get("categories", "")),
        qty=qty,
        is_in_stock=stock_flag != "0" if stock_flag else qty > 0,
        images=_images(row),
        attributes=_attributes(row),
    )


def _override(row: dict[str, str]) -> dict[str, Any]:
    """The values a store-view row sets; empty cells inherit the default store's."""
    out: dict[str, Any] = {}
    for key in ("name", "description", "short_description", "url_key", "meta_title"):
        if row.get(key, "").strip():
            out[key] = row[key]
    if row.get("price", "").strip():
        out["price"] = _float(row["price"])
    if row.get("product_online", "").strip():
        out["status"] = 2 if row["product_online"].strip() == "0" else 1
    if row.get("visibility", "").strip().lower() in _VISIBILITY:
        out["visibility"] = _VISIBILITY[row["visibility"].strip().lower()]
    return out


def _link_configurables(products: list[Product], variations: dict[str, str]) -> list[Product]:
    ids = {p.sku.lower(): p.id for p in products}
    out = []
    for product in products:
        text = variations.get(product.sku)
        if text:
            children: list[int] = []
            values: dict[str, list[int]] = {}
            for variant in text.split("|"):
                pairs = _pairs(variant)
                child = ids.get(pairs.pop("sku", "").strip().lower())
                if child is not None:
                    children.append(child)
                for code, label in pairs.items():
                    index = option_id(code, label.strip())
                    if index not in values.setdefault(code, []):
                        values[code].append(index)
            supers = tuple((code, tuple(v)) for code, v in values.items())
            product = replace(product, children=tuple(children), super_attributes=supers)
        out.append(product)
    return out


def _synthesise_times(products: list[Product], seed: int, start: datetime) -> list[Product]:
    """Import-like timestamps for rows without them: one import, one second per ~10 rows,
    with a later edit for about a third of the products."""
    rng = random.Random(seed)  # noqa: S311 - reproducible data, not security
    out = []
    for index, product in enumerate(products):
        created = product.created_at or format_time(start + timedelta(seconds=index // 10))
        updated = product.updated_at
        if updated is None:
            updated = created
            if rng.random() < 0.33:
                updated = format_time(
                    start + timedelta(days=rng.randint(1, 300), seconds=rng.randint(0, 86399))
                )
        out.append(replace(product, created_at=created, updated_at=updated))
    return out


def load_csv(
    path: Path,
    *,
    seed: int = 0,
    start: datetime | None = None,
) -> tuple[list[Product], list[str], CategoryTree]:
    """Products (ids in file order), the store view codes the file mentions, and the category
    tree they link to (Luma's, with the file's other paths added)."""
    start = start or datetime(2024, 1, 15, 9, 0, 0)
    cats = _Categories(CategoryTree.luma(format_time(start)), format_time(start))
    products: list[Product] = []
    seen: dict[str, int] = {}
    variations: dict[str, str] = {}
    overrides: dict[str, dict[str, dict[str, Any]]] = {}
    stores: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            sku = (row.get("sku") or "").strip()
            if not sku:
                continue
            store = (row.get("store_view_code") or "").strip()
            if store and store != "default":
                if store not in stores:
                    stores.append(store)
                overrides.setdefault(sku.lower(), {}).setdefault(store, {}).update(_override(row))
                continue
            if sku.lower() in seen:  # a repeated default row updates nothing new: first wins
                continue
            seen[sku.lower()] = len(products)
            products.append(_base_product(len(products) + 1, row, cats))
            if row.get("configurable_variations", "").strip():
                variations[sku] = row["configurable_variations"]
    products = _link_configurables(products, variations)
    products = _synthesise_times(products, seed, start)
    for sku_key, scoped in overrides.items():
        index = seen.get(sku_key)
        if index is not None:
            kept = {store: values for store, values in scoped.items() if values}
            products[index] = replace(products[index], overrides=kept or None)
    return products, stores, cats.tree

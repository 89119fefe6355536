"""One product kept compactly, and how it is rendered in the exact JSON shape ACCS returns.

A catalog of 200,000 products must fit comfortably in memory, so a product is a slotted record
of scalars and small tuples; the nested ``extension_attributes`` / ``custom_attributes`` JSON is
built only when an item is served. Records are never changed in place: the catalog replaces them
(see :func:`apply_fields`), so a request that took a snapshot keeps seeing consistent products.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ACCS_TIME_FORMAT",
    "ATTRIBUTE_IDS",
    "MAIN_IMAGE_TYPES",
    "TOP_FIELDS",
    "Image",
    "Product",
    "apply_fields",
    "format_time",
    "product_from_item",
    "render",
    "render_top",
]

ACCS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAIN_IMAGE_TYPES: tuple[str, ...] = ("image", "small_image", "thumbnail")
# Luma's attribute ids for the usual configurable ("super") attributes.
ATTRIBUTE_IDS: dict[str, int] = {"color": 93, "size": 144, "format": 152, "style_general": 138}

Image = tuple[str, tuple[str, ...]]  # (file, image types)

_SCALARS = ("name", "price", "status", "visibility", "weight", "type_id", "attribute_set_id")
_STOCK_DEFAULTS: dict[str, Any] = {
    "is_qty_decimal": False,
    "show_default_notification_message": False,
    "use_config_min_qty": True,
    "min_qty": 0,
    "use_config_min_sale_qty": 1,
    "min_sale_qty": 1,
    "use_config_max_sale_qty": True,
    "max_sale_qty": 10000,
    "use_config_backorders": True,
    "backorders": 0,
    "use_config_notify_stock_qty": True,
    "notify_stock_qty": 1,
    "use_config_qty_increments": True,
    "qty_increments": 0,
    "use_config_enable_qty_inc": True,
    "enable_qty_increments": False,
    "use_config_manage_stock": True,
    "manage_stock": True,
    "low_stock_date": None,
    "is_decimal_divided": False,
    "stock_status_changed_auto": 0,
}


@dataclass(slots=True)
class Product:
    """A product as the emulator stores it. Treat as immutable once in a catalog."""

    id: int
    sku: str
    type_id: str = "simple"
    attribute_set_id: int = 4
    name: str | None = None
    price: float | None = None
    status: int = 1
    visibility: int = 4
    weight: float | None = None
    created_at: str | None = None
    updated_at: str | None = None
    website_ids: tuple[int, ...] = (1,)
    category_ids: tuple[int, ...] = ()
    qty: float = 0.0
    is_in_stock: bool = True
    images: tuple[Image, ...] = ()
    # Custom attributes that vary per product (description, url_key, color, ...). Read-only.
    attributes: Mapping[str, Any] = field(default_factory=dict)
    children: tuple[int, ...] = ()
    super_attributes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    links: tuple[tuple[str, str, str], ...] = ()  # (link_type, linked sku, linked type)
    tier_prices: tuple[tuple[int, float, float], ...] = ()  # (customer group, qty, value)
    # Store-view values: store code -> {field or attribute code -> value}. Read-only.
    overrides: Mapping[str, Mapping[str, Any]] | None = None

    def value(self, name: str, store: str = "default") -> Any:
        """A top-level field or custom attribute as seen from ``store``."""
        if self.overrides is not None:
            scoped = self.overrides.get(store)
            if scoped is not None and name in scoped:
                return scoped[name]
        if name in _SCALARS:
            return getattr(self, name)
        if name == "category_ids":
            return ",".join(str(c) for c in self.category_ids) or None
        return self.attributes.get(name)


def format_time(value: datetime | str) -> str:
    """ACCS's timestamp text: UTC ``YYYY-MM-DD HH:MM:SS`` (aware datetimes are converted)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(ACCS_TIME_FORMAT)


def _number(value: float | None) -> int | float | None:
    # Magento prints integral decimals without a fraction ("price": 52).
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _product_links(p: Product) -> list[dict[str, Any]]:
    return [
        {
            "sku": p.sku,
            "link_type": link_type,
            "linked_product_sku": linked,
            "linked_product_type": linked_type,
            "position": pos,
        }
        for pos, (link_type, linked, linked_type) in enumerate(p.links, start=1)
        if link_type != "bundle"
    ]


def _extension(p: Product) -> dict[str, Any]:
    ext: dict[str, Any] = {
        "website_ids": list(p.website_ids),
        "category_links": [
            {"position": pos, "category_id": str(cid)} for pos, cid in enumerate(p.category_ids)
        ],
    }
    if p.type_id == "configurable":
        ext["configurable_product_options"] = [
            {
                "id": p.id * 10 + pos,
                "attribute_id": str(ATTRIBUTE_IDS.get(code, 200 + pos)),
                "label": code.replace("_", " ").title(),
                "position": pos,
                "values": [{"value_index": v} for v in values],
                "product_id": p.id,
            }
            for pos, (code, values) in enumerate(p.super_attributes)
        ]
        ext["configurable_product_links"] = list(p.children)
    elif p.type_id == "bundle":
        ext["bundle_product_options"] = [
            {
                "option_id": p.id * 10,
                "title": "Choose one",
                "required": True,
                "type": "select",
                "position": 1,
                "sku": p.sku,
                "product_links": [
                    {
                        "id": str(p.id * 100 + i),
                        "sku": linked,
                        "option_id": p.id * 10,
                        "qty": 1,
                        "position": i,
                        "is_default": i == 0,
                        "can_change_quantity": 0,
                    }
                    for i, (kind, linked, _t) in enumerate(p.links)
                    if kind == "bundle"
                ],
            }
        ]
    elif p.type_id == "downloadable":
        ext["downloadable_product_links"] = [
            {
                "id": p.id,
                "title": p.name or p.sku,
                "sort_order": 1,
                "is_shareable": 2,
                "price": 0,
                "number_of_downloads": 0,
                "link_type": "url",
                "link_url": f"https://downloads.example.com/{p.sku.lower()}.mp4",
            }
        ]
        ext["downloadable_product_samples"] = []
    stock = {
        "item_id": p.id,
        "product_id": p.id,
        "stock_id": 1,
        "qty": _number(p.qty),
        "is_in_stock": p.is_in_stock,
    }
    stock.update(_STOCK_DEFAULTS)
    ext["stock_item"] = stock
    return ext


def _custom_attributes(p: Product, scoped: Mapping[str, Any]) -> list[dict[str, Any]]:
    attrs: dict[str, Any] = {}
    for file, types in p.images:
        for kind in types:
            attrs.setdefault(kind, file)
    attrs.update(p.attributes)
    for key, value in scoped.items():
        if key not in _SCALARS:
            attrs[key] = value
    attrs.setdefault("tax_class_id", "2" if p.type_id not in ("virtual", "downloadable") else "0")
    attrs.setdefault("options_container", "container2")
    attrs.setdefault("has_options", "1" if p.type_id == "configurable" else "0")
    attrs.setdefault("required_options", attrs["has_options"])
    if p.category_ids:
        attrs["category_ids"] = [str(c) for c in p.category_ids]
    return [{"attribute_code": k, "value": v} for k, v in attrs.items() if v is not None]


#: The fields :func:`render_top` produces: a ``fields`` filter naming only these (e.g. the id
#: listing ``items[id,sku,updated_at]``) needs no full rendering.
TOP_FIELDS = frozenset(
    {
        "id",
        "sku",
        "name",
        "attribute_set_id",
        "price",
        "status",
        "visibility",
        "type_id",
        "created_at",
        "updated_at",
        "weight",
    }
)


def render_top(p: Product, store: str = "default") -> dict[str, Any]:
    """The top-level scalar fields of :func:`render` (the rest is left out)."""
    scoped: Mapping[str, Any] = {}
    if p.overrides is not None:
        scoped = p.overrides.get(store) or {}
    item: dict[str, Any] = {"id": p.id, "sku": p.sku}
    top = {
        "name": p.name,
        "attribute_set_id": p.attribute_set_id,
        "price": p.price,
        "status": p.status,
        "visibility": p.visibility,
        "type_id": p.type_id,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "weight": p.weight,
    }
    for key, value in top.items():
        if key in scoped:
            value = scoped[key]
        if value is None:
            continue
        item[key] = _number(float(value)) if key in ("price", "weight") else value
    return item


def render(p: Product, store: str = "default") -> dict[str, Any]:
    """The product exactly as ``GET /V1/products`` shows it in ``store``.

    Fields whose value is unknown are left out, as Magento does: only ``sku`` is guaranteed.
    """
    scoped: Mapping[str, Any] = {}
    if p.overrides is not None:
        scoped = p.overrides.get(store) or {}
    item = render_top(p, store)
    item["extension_attributes"] = _extension(p)
    item["product_links"] = _product_links(p)
    item["options"] = []
    item["media_gallery_entries"] = [
        {
            "id": p.id * 100 + pos,
            "media_type": "image",
            "label": None,
            "position": pos + 1,
            "disabled": False,
            "types": list(types),
            "file": file,
        }
        for pos, (file, types) in enumerate(p.images)
    ]
    item["tier_prices"] = [
        {"customer_group_id": g, "qty": _number(q), "value": _number(v)}
        for g, q, v in p.tier_prices
    ]
    item["custom_attributes"] = _custom_attributes(p, scoped)
    return item


def _images(files: Iterable[Any]) -> tuple[Image, ...]:
    out: list[Image] = []
    for i, entry in enumerate(files):
        if isinstance(entry, tuple):
            out.append((str(entry[0]), tuple(entry[1])))
        else:
            out.append((str(entry), MAIN_IMAGE_TYPES if i == 0 else ()))
    return tuple(out)


def _float(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def apply_fields(p: Product, fields: Mapping[str, Any], store: str | None = None) -> Product:
    """A copy of ``p`` with ``fields`` set. Top-level ACCS fields and a few structural ones
    (``qty``, ``is_in_stock``, ``category_ids``, ``website_ids``, ``images``, ``children``) are
    understood; any other name is a custom attribute. ``None`` removes a value. With ``store``
    the values become that store view's overrides instead."""
    if store is not None and store != "default":
        overrides = {k: dict(v) for k, v in (p.overrides or {}).items()}
        scoped = overrides.setdefault(store, {})
        for key, value in fields.items():
            if value is None:
                scoped.pop(key, None)
            else:
                scoped[key] = value
        return dataclasses.replace(p, overrides={k: v for k, v in overrides.items() if v})
    changes: dict[str, Any] = {}
    attributes = dict(p.attributes)
    for key, value in fields.items():
        if key in ("price", "weight", "qty"):
            changes[key] = _float(value) if key != "qty" else float(value or 0)
        elif key in ("status", "visibility", "attribute_set_id"):
            changes[key] = int(value)
        elif key in ("name", "type_id"):
            changes[key] = None if value is None else str(value)
        elif key in ("created_at", "updated_at"):
            changes[key] = None if value is None else format_time(value)
        elif key == "is_in_stock":
            changes[key] = bool(value)
        elif key in ("category_ids", "website_ids", "children"):
            changes[key] = tuple(int(v) for v in (value or ()))
        elif key == "images":
            changes[key] = _images(value or ())
        elif key in ("links", "tier_prices", "super_attributes"):
            changes[key] = tuple(tuple(v) for v in (value or ()))
        elif key == "sku" or key == "id":
            raise ValueError(f"{key} cannot be changed; delete and create instead")
        elif value is None:
            attributes.pop(key, None)
        else:
            attributes[key] = value
    changes["attributes"] = attributes
    return dataclasses.replace(p, **changes)


def product_from_item(item: Mapping[str, Any], product_id: int) -> Product:
    """The record for an ACCS-shaped product dict (e.g. one :func:`render` produced)."""
    ext = item.get("extension_attributes") or {}
    stock = ext.get("stock_item") or {}
    fields: dict[str, Any] = {
        key: item[key] for key in (*_SCALARS, "created_at", "updated_at") if key in item
    }
    if "website_ids" in ext:
        fields["website_ids"] = ext["website_ids"]
    if "category_links" in ext:
        fields["category_ids"] = [link["category_id"] for link in ext["category_links"]]
    if "configurable_product_links" in ext:
        fields["children"] = ext["configurable_product_links"]
    if "qty" in stock:
        fields["qty"] = stock["qty"]
    if "is_in_stock" in stock:
        fields["is_in_stock"] = stock["is_in_stock"]
    if "media_gallery_entries" in item:
        fields["images"] = [
            (entry["file"], tuple(entry.get("types") or ()))
            for entry in item["media_gallery_entries"]
        ]
    fields["links"] = [
        (link["link_type"], link["linked_product_sku"], link.get("linked_product_type", "simple"))
        for link in item.get("product_links") or ()
    ]
    derived = {"category_ids", *MAIN_IMAGE_TYPES}
    for attr in item.get("custom_attributes") or ():
        code = attr.get("attribute_code")
        if isinstance(code, str) and code not in derived:
            fields[code] = attr.get("value")
    base = Product(id=product_id, sku=str(item["sku"]))
    base = dataclasses.replace(base, type_id=str(item.get("type_id", "simple")))
    return apply_fields(base, fields)

"""Parsers of the declared resources (:mod:`sync.resources`): an ACCS item to the columns of
its table, and to the rows of its child tables.

Each raises :class:`~sync.item_fields.ItemRejected` with a reason for an item that cannot be
mirrored: the item goes to ``sync_rejects`` and the rest of its page is written. Every value is
judged as hostile: a wrong type, a value out of range or text longer than its column rejects
the item, never the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sync.accs_time import parse_accs_time
from sync.item_fields import ItemRejected
from sync.models import parse_item

__all__ = [
    "attribute_options",
    "parse_attribute",
    "parse_category",
    "parse_source_item",
    "product_attribute_rows",
    "product_category_rows",
]

#: ``store_code`` of a product parsed only for its child rows (the rows carry none).
_NO_STORE = "*"


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


def product_attribute_rows(item: dict[str, Any]) -> list[dict[str, Any]]:
    """A product item's ``product_attributes`` rows: its ``custom_attributes``, one per code."""
    record = parse_item(item, _NO_STORE)
    return [{"attribute_code": code, "value": value} for code, value in record.attributes]


def product_category_rows(item: dict[str, Any]) -> list[dict[str, Any]]:
    """A product item's ``product_categories`` rows: its ``category_links``, one per category."""
    record = parse_item(item, _NO_STORE)
    return [{"category_id": cid, "position": pos} for cid, pos in record.categories]

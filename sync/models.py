"""The validated shape of one mirrored product, and how an ACCS item becomes one.

ACCS guarantees only ``sku`` on an item (Adobe's schema marks nothing else required), so every
other field is optional here; we refuse only what would corrupt the mirror: no ``sku``, no usable
``id`` (our key), or a field whose type is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "ACCS_TIME_FORMAT",
    "ItemRejected",
    "ProductRecord",
    "format_accs_time",
    "parse_accs_time",
    "parse_item",
]

# Magento REST returns timestamps as "YYYY-MM-DD HH:MM:SS" in UTC, without a zone.
ACCS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ItemRejected(ValueError):
    """One item failed validation; ``reason`` says why in words a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """One row of the ``products`` table. Timestamps are naive datetimes in UTC."""

    store_code: str
    id: int
    sku: str
    name: str | None
    type_id: str | None
    attribute_set_id: int | None
    status: int | None
    visibility: int | None
    price: Decimal | None
    weight: Decimal | None
    created_at: datetime | None
    updated_at: datetime | None
    data: dict[str, Any]


def parse_accs_time(value: str) -> datetime:
    """Parse an ACCS timestamp (UTC, ``YYYY-MM-DD HH:MM:SS``) into a naive UTC datetime."""
    return datetime.strptime(value, ACCS_TIME_FORMAT)


def format_accs_time(value: datetime) -> str:
    """Format a naive-UTC (or aware) datetime the way ACCS filters expect it."""
    if value.tzinfo is not None:
        from datetime import UTC

        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(ACCS_TIME_FORMAT)


def _int(item: dict[str, Any], key: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ItemRejected(f"{key!r} must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ItemRejected(f"{key!r} must be an integer, got {type(value).__name__} {value!r:.40}")


def _decimal(item: dict[str, Any], key: str) -> Decimal | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ItemRejected(f"{key!r} must be a number, got {type(value).__name__}")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ItemRejected(f"{key!r} must be a number, got {value!r:.40}") from None
    if not result.is_finite():
        raise ItemRejected(f"{key!r} must be a finite number, got {value!r:.40}")
    return result


def _str(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ItemRejected(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def _time(item: dict[str, Any], key: str) -> datetime | None:
    value = _str(item, key)
    if value is None or value == "":
        return None
    try:
        return parse_accs_time(value)
    except ValueError:
        raise ItemRejected(
            f"{key!r} is not an ACCS timestamp (YYYY-MM-DD HH:MM:SS): {value!r:.40}"
        ) from None


def parse_item(item: Any, store_code: str) -> ProductRecord:
    """Validate one element of ``items`` from ``GET /V1/products``.

    Raises :class:`ItemRejected` with a reason when the item cannot be mirrored.
    """
    if not isinstance(item, dict):
        raise ItemRejected(f"item must be a JSON object, got {type(item).__name__}")
    sku = item.get("sku")
    if not isinstance(sku, str) or not sku.strip():
        raise ItemRejected("item has no sku")
    product_id = _int(item, "id")
    if product_id is None:
        raise ItemRejected("item has no id (the entity id is the mirror's key)")
    if product_id <= 0:
        raise ItemRejected(f"item id must be positive, got {product_id}")
    return ProductRecord(
        store_code=store_code,
        id=product_id,
        sku=sku,
        name=_str(item, "name"),
        type_id=_str(item, "type_id"),
        attribute_set_id=_int(item, "attribute_set_id"),
        status=_int(item, "status"),
        visibility=_int(item, "visibility"),
        price=_decimal(item, "price"),
        weight=_decimal(item, "weight"),
        created_at=_time(item, "created_at"),
        updated_at=_time(item, "updated_at"),
        data=item,
    )

"""Item validation: what is refused, and what is cleaned so every database accepts it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sync.models import ItemRejected, parse_item


def test_a_minimal_item_needs_only_sku_and_id() -> None:
    record = parse_item({"id": 5, "sku": "X"}, "default")
    assert record.sku == "X" and record.price is None and record.updated_at is None


def test_fields_are_typed_and_timestamps_are_utc() -> None:
    record = parse_item(
        {
            "id": "7",
            "sku": "A",
            "price": 12.5,
            "weight": "1.25",
            "status": 1,
            "updated_at": "2026-03-04 05:06:07",
        },
        "fr",
    )
    assert record.id == 7 and record.price == Decimal("12.5") and record.weight == Decimal("1.25")
    assert record.updated_at is not None and record.updated_at.isoformat() == "2026-03-04T05:06:07"
    assert record.store_code == "fr"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"id": 1}, "no sku"),
        ({"id": 1, "sku": "  "}, "no sku"),
        ({"sku": "A"}, "no id"),
        ({"id": 0, "sku": "A"}, "positive"),
        ({"id": True, "sku": "A"}, "boolean"),
        ({"id": 1, "sku": "A", "price": "cheap"}, "'price' must be a number"),
        ({"id": 1, "sku": "A", "price": "NaN"}, "finite"),
        ({"id": 1, "sku": "A", "weight": 123456789012345678}, "out of range"),
        ({"id": 1, "sku": "A", "status": 2**40}, "32-bit"),
        ({"id": 1, "sku": "A", "updated_at": "yesterday"}, "ACCS timestamp"),
        ({"id": 1, "sku": "A" * 65}, "64 characters"),
        ({"id": 1, "sku": "A", "type_id": "x" * 40}, "32 characters"),
        ({"id": 1, "sku": "A", "name": ["not", "a", "string"]}, "'name' must be a string"),
        ("not an object", "JSON object"),
    ],
)
def test_unusable_items_are_rejected_with_a_reason(item: object, reason: str) -> None:
    with pytest.raises(ItemRejected) as info:
        parse_item(item, "default")
    assert reason in info.value.reason


def test_nul_characters_are_removed_everywhere() -> None:
    item = {
        "id": 1,
        "sku": "A\x00B",
        "name": "Bad\x00Name",
        "custom_attributes": [{"attribute_code": "description", "value": "x\x00y"}],
    }
    record = parse_item(item, "default")
    assert record.sku == "AB" and record.name == "BadName"
    assert record.data["custom_attributes"][0]["value"] == "xy"

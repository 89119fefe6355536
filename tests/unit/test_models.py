"""Item validation: what is refused, and what is cleaned so every database accepts it."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from sync import jsontext
from sync.accs_time import ACCS_TIME_FORMAT, parse_accs_time, parse_window_time
from sync.emulator import Catalog
from sync.item_fields import ItemRejected
from sync.models import content_hash, fingerprint, parse_item
from tests.unit.jsonvalues import generated, product_items


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


def test_content_hash_ignores_key_order_and_sees_every_value() -> None:
    a = {
        "id": 1,
        "sku": "A",
        "extension_attributes": {"stock_item": {"qty": 1, "is_in_stock": True}},
    }
    b = {
        "extension_attributes": {"stock_item": {"is_in_stock": True, "qty": 1}},
        "sku": "A",
        "id": 1,
    }
    assert content_hash(a) == content_hash(b)
    b["extension_attributes"]["stock_item"]["qty"] = 2
    assert content_hash(a) != content_hash(b)
    assert parse_item(a, "default").content_hash == content_hash(a)


def test_stock_and_attributes_are_read() -> None:
    record = parse_item(
        {
            "id": 1,
            "sku": "A",
            "extension_attributes": {"stock_item": {"qty": "12.5", "is_in_stock": 1}},
            "custom_attributes": [
                {"attribute_code": "color", "value": "49"},
                {"attribute_code": "category_ids", "value": ["3", "4"]},
                {"attribute_code": "special", "value": None},
                {"attribute_code": "flag", "value": True},
                {"attribute_code": "color", "value": "50"},
            ],
        },
        "default",
    )
    assert record.qty == Decimal("12.5") and record.is_in_stock is True
    assert dict(record.attributes) == {
        "color": "50",  # a repeated code: the last wins
        "category_ids": '["3","4"]',
        "special": None,
        "flag": "true",
    }
    bare = parse_item({"id": 2, "sku": "B"}, "default")
    assert (bare.qty, bare.is_in_stock, bare.attributes) == (None, None, ())


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"extension_attributes": {"stock_item": {"qty": "lots"}}}, "stock_item 'qty'"),
        ({"extension_attributes": {"stock_item": {"is_in_stock": "yes"}}}, "is_in_stock"),
        ({"extension_attributes": []}, "extension_attributes"),
        ({"custom_attributes": {"color": 1}}, "custom_attributes"),
        ({"custom_attributes": [{"value": 1}]}, "attribute_code"),
    ],
)
def test_malformed_stock_or_attributes_reject_the_item(item: dict[str, Any], reason: str) -> None:
    with pytest.raises(ItemRejected, match=reason):
        parse_item({"id": 1, "sku": "A", **item}, "default")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", datetime(2026, 1, 31)),
        ("2026-01-31 12:30:05", datetime(2026, 1, 31, 12, 30, 5)),
        ("2026-01-31T12:30", datetime(2026, 1, 31, 12, 30)),
        ("2026-01-31T12:30:05Z", datetime(2026, 1, 31, 12, 30, 5)),
        ("2026-01-31T14:30:05+02:00", datetime(2026, 1, 31, 12, 30, 5)),
    ],
)
def test_window_times(text: str, expected: datetime) -> None:
    assert parse_window_time(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "31/01/2026", "2026-02-30", "2026-01-31 25:00"])
def test_bad_window_times_are_explained(text: str) -> None:
    with pytest.raises(ValueError, match=r"YYYY-MM-DD|not a valid date"):
        parse_window_time(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-04 05:06:07",
        "1999-12-31 23:59:59",
        "2024-02-29 00:00:00",
        "2023-02-29 00:00:00",
        "2026-13-01 00:00:00",
        "2026-01-01 24:00:00",
        "2026-01-01 00:60:00",
        "2026-01-01 00:00:60",
        "0000-01-01 00:00:00",
        "2026-1-2 3:4:5",
        "2026-01-01T00:00:00",
        "2026-01-01 00:00:00 ",
        "2026-01-01",
        "\u0662026-01-01 00:00:00",
        "",
    ],
)
def test_parse_accs_time_agrees_with_strptime(text: str) -> None:
    """The fast path for the usual shape accepts and refuses exactly what strptime does."""
    try:
        expected: datetime | None = datetime.strptime(text, ACCS_TIME_FORMAT)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError):
            parse_accs_time(text)
    else:
        assert parse_accs_time(text) == expected


# --- content hashes: the definition stored in existing mirrors must never change ------------


def old_hash(item: Any) -> str:
    """The content hash as first defined: sha256 of json's canonical text (after NUL removal)."""
    text = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


@pytest.mark.parametrize("seed", range(3))
def test_content_hash_is_the_old_definition_for_generated_values(seed: int) -> None:
    for value in generated(1000, seed):
        assert content_hash(value) == old_hash(value)


@pytest.mark.parametrize("seed", range(3))
def test_items_hash_as_before_with_or_without_a_fingerprint(seed: int) -> None:
    """Tricky floats, every plane of Unicode, NULs in strings and keys, nesting."""
    parsed = 0
    for item in product_items(400, seed):
        expected = old_hash(without_nul(item))
        fp = fingerprint(item)
        if fp is not None and fp.problem is None:
            assert fp.content_hash == expected
        try:
            record = parse_item(item, "default")
        except ItemRejected:
            continue
        parsed += 1
        assert record.content_hash == expected
        assert fp is not None and fp.id == record.id
        assert parse_item(item, "default", fingerprint=fp) == record
    assert parsed > 100


def test_catalog_items_hash_as_before() -> None:
    for item in Catalog.generate(300, seed=4).items():
        record = parse_item(item, "default")
        assert record.content_hash == old_hash(item)
        fp = fingerprint(item)
        assert fp is not None and fp.content_hash == record.content_hash


#: A product as the bundled emulator renders it, and its content hash as mirrors store it: this
#: must never change, or every mirrored row would be rewritten after an upgrade.
KNOWN_ITEM = (
    b'{"id":1,"sku":"SP000001","name":"Lando Studio Sneaker","attribute_set_id":9,"price":191,'
    b'"status":1,"visibility":4,"type_id":"simple","created_at":"2023-01-01 00:01:44",'
    b'"updated_at":"2023-01-01 00:01:44","weight":3.66,"extension_attributes":{"website_ids":'
    b'[1],"category_links":[{"position":0,"category_id":"39"}],"stock_item":{"item_id":1,'
    b'"qty":473,"is_in_stock":true,"low_stock_date":null}},"media_gallery_entries":[{"id":100,'
    b'"label":null,"file":"\\/s\\/p\\/sp000001_0.jpg"}],"tier_prices":[{"customer_group_id":0,'
    b'"qty":5,"value":171.9}],"custom_attributes":[{"attribute_code":"description","value":'
    b'"<p>Caf\\u00e9 \\u2014 100%</p>"},{"attribute_code":"category_ids","value":["39"]}]}'
)
KNOWN_HASH = "d05426ba21c2b45b1d4e0272ef2bb7c83d304eb563938ad2ffbc535d8017814b"


def test_a_known_item_keeps_its_content_hash_whichever_way_it_is_read() -> None:
    value, plain = jsontext.decode(KNOWN_ITEM)
    assert plain  # orjson read it: the fingerprint needs no round trip
    assert content_hash(json.loads(KNOWN_ITEM)) == KNOWN_HASH
    for decoded in (False, True):
        fp = fingerprint(value, decoded=decoded)
        assert fp is not None and fp.content_hash == KNOWN_HASH
        assert parse_item(value, "default", fingerprint=fp).content_hash == KNOWN_HASH
    assert parse_item(json.loads(KNOWN_ITEM), "default").content_hash == KNOWN_HASH


# --- fingerprints ------------------------------------------------------------------------------


def test_a_fingerprint_is_the_id_and_hash_parse_item_would_give() -> None:
    item = {"id": "42", "sku": "A", "name": "Bad\x00Name", "price": 9.5}
    fp = fingerprint(item)
    assert fp is not None
    assert (fp.id, fp.content_hash) == (42, parse_item(item, "default").content_hash)
    assert fp.item == {"id": "42", "sku": "A", "name": "BadName", "price": 9.5}
    assert fp.received is item
    clean = {"id": 7, "sku": "B"}
    fp = fingerprint(clean)
    assert fp is not None and fp.item is clean  # no NULs: no copy


@pytest.mark.parametrize(
    "item",
    [
        "not an object",
        ["id", 1],
        {"sku": "A"},
        {"id": None, "sku": "A"},
        {"id": True, "sku": "A"},
        {"id": 0, "sku": "A"},
        {"id": -5, "sku": "A"},
        {"id": 2**63, "sku": "A"},
        {"id": 1.5, "sku": "A"},
        {"id": "x1", "sku": "A"},
        {"id": [1], "sku": "A"},
    ],
    ids=repr,
)
def test_an_item_without_a_usable_id_has_no_fingerprint(item: Any) -> None:
    assert fingerprint(item) is None
    with pytest.raises(ItemRejected):
        parse_item(item, "default")


def test_a_fingerprint_does_not_validate_the_rest() -> None:
    item = {"id": 3, "price": "cheap"}  # no sku, bad price: parse_item rejects it
    fp = fingerprint(item)
    assert fp is not None and fp.id == 3
    with pytest.raises(ItemRejected, match="no sku"):
        parse_item(item, "default", fingerprint=fp)


def test_parse_item_with_a_fingerprint_gives_the_same_record_and_reasons() -> None:
    item = {
        "id": 9,
        "sku": "S\x00KU",
        "price": "12.50",
        "updated_at": "2026-03-04 05:06:07",
        "extension_attributes": {"stock_item": {"qty": 3, "is_in_stock": True}},
        "custom_attributes": [{"attribute_code": "color", "value": ["1", 2.5]}],
    }
    fp = fingerprint(item)
    assert fp is not None
    with_fp = parse_item(item, "default", fingerprint=fp)
    assert with_fp == parse_item(item, "default")
    assert with_fp.sku == "SKU" and with_fp.data is fp.item
    assert parse_item(fp.item, "default", fingerprint=fp) == with_fp  # the cleaned item will do
    bad = {"id": 9, "sku": "A", "weight": 10**15}
    bad_fp = fingerprint(bad)
    with pytest.raises(ItemRejected) as plain:
        parse_item(bad, "default")
    with pytest.raises(ItemRejected) as reused:
        parse_item(bad, "default", fingerprint=bad_fp)
    assert plain.value.reason == reused.value.reason


def test_data_json_is_the_compact_json_of_data_even_after_replace() -> None:
    item = {"id": 1, "sku": "A", "b": [1.5, "é"], "a": None}
    record = parse_item(item, "default")
    assert record.data_json() == '{"id":1,"sku":"A","b":[1.5,"é"],"a":null}'
    changed = replace(record, data={"id": 1, "sku": "A", "odd": math.nan, "tiny": 1e-05})
    assert changed.data_json() == '{"id":1,"sku":"A","odd":NaN,"tiny":1e-05}'
    tricky = parse_item({"id": 2, "sku": "B", "qty": 1e-07}, "default")
    assert tricky.data_json() == '{"id":2,"sku":"B","qty":1e-07}'


def test_parse_item_refuses_the_fingerprint_of_another_item() -> None:
    fp = fingerprint({"id": 1, "sku": "A"})
    with pytest.raises(ValueError, match="another item"):
        parse_item({"id": 1, "sku": "A"}, "default", fingerprint=fp)


def test_parse_item_builds_the_record_its_dataclass_init_builds() -> None:
    """parse_item and fingerprint set their objects' slots themselves
    (sync.models._slots_constructor): the results must be what ``ProductRecord(...)`` and
    ``Fingerprint(...)`` give for the same arguments, ``plain`` included, and stay frozen."""
    import dataclasses

    from sync.models import Fingerprint, ProductRecord

    for item in Catalog.generate(40, seed=9).items("default"):
        for decoded in (True, False):
            fp = fingerprint(item, decoded=decoded)
            assert fp is not None
            record = parse_item(item, "default", fp)
            arguments = {
                f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.init
            }
            built = ProductRecord(**arguments, plain=fp.plain)
            assert record == built
            assert record._plain == built._plain == fp.plain
            assert record.data_json() == built.data_json()
            assert dataclasses.asdict(record) == dataclasses.asdict(built)
            with pytest.raises(dataclasses.FrozenInstanceError):
                record.sku = "changed"  # type: ignore[misc]
            assert fp == Fingerprint(
                **{f.name: getattr(fp, f.name) for f in dataclasses.fields(fp)}
            )
    too_big = fingerprint({"id": 5, "sku": "x" * 100}, max_bytes=10)
    assert too_big is not None
    assert too_big == Fingerprint(5, "", too_big.item, too_big.received, problem=too_big.problem)
    assert too_big.problem is not None and too_big.item is too_big.received

"""upsert_products on every backend: insert, update, revive, batches, JSON, decimals."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.db.changes import tombstone
from sync.db.schema import products
from sync.db.upsert import upsert_products
from sync.models import ProductRecord, parse_item

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456)


def _record(product_id: int, store_code: str = "default", **changes: Any) -> ProductRecord:
    item: dict[str, Any] = {
        "id": product_id,
        "sku": f"SKU-{product_id}",
        "name": f"Product {product_id}",
        "type_id": "simple",
        "attribute_set_id": 4,
        "status": 1,
        "visibility": 4,
        "price": 19.99,
        "weight": 0.5,
        "created_at": "2024-01-02 03:04:05",
        "updated_at": "2025-02-03 04:05:06",
        "custom_attributes": [{"attribute_code": "color", "value": "49"}],
    }
    item.update(changes)
    return parse_item(item, store_code)


def _rows(engine: Engine) -> dict[tuple[str, int], sa.Row[Any]]:
    with engine.connect() as conn:
        return {(r.store_code, r.id): r for r in conn.execute(sa.select(products))}


def test_insert_then_update_revives_and_restamps(engine: Engine) -> None:
    with engine.begin() as conn:
        assert upsert_products(conn, [_record(1), _record(2)], T0) == 2
    row = _rows(engine)[("default", 1)]
    assert (row.sku, row.name, row.type_id, row.status, row.visibility) == (
        "SKU-1",
        "Product 1",
        "simple",
        1,
        4,
    )
    assert row.attribute_set_id == 4
    assert row.price == Decimal("19.99")
    assert row.weight == Decimal("0.5")
    assert row.created_at == datetime(2024, 1, 2, 3, 4, 5)
    assert row.updated_at == datetime(2025, 2, 3, 4, 5, 6)
    assert row.synced_at == T0  # microseconds kept, MySQL included
    assert row.deleted_at is None

    with engine.begin() as conn:
        assert tombstone(conn, "default", [1, 2, 99], T0, None) == 2
    assert _rows(engine)[("default", 1)].deleted_at == T0

    later = T0 + timedelta(minutes=15)
    with engine.begin() as conn:
        upsert_products(conn, [_record(1, price="24.50", name="Renamed")], later)
    rows = _rows(engine)
    assert rows[("default", 1)].price == Decimal("24.5")
    assert rows[("default", 1)].name == "Renamed"
    assert rows[("default", 1)].synced_at == later
    assert rows[("default", 1)].deleted_at is None  # seen again: alive
    assert rows[("default", 2)].deleted_at == T0  # not seen: still deleted
    assert rows[("default", 2)].synced_at == T0


def test_aware_synced_at_is_stored_as_naive_utc(engine: Engine) -> None:
    aware = datetime(2025, 3, 1, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as conn:
        upsert_products(conn, [_record(1)], aware)
    assert _rows(engine)[("default", 1)].synced_at == datetime(2025, 3, 1, 14, 0)


def test_batch_of_300_in_one_call(engine: Engine) -> None:
    batch = [_record(i) for i in range(1, 301)]
    with engine.begin() as conn:
        assert upsert_products(conn, batch, T0) == 300
    changed = [replace(r, price=Decimal("1.5")) for r in batch]
    with engine.begin() as conn:
        assert upsert_products(conn, changed, T0 + timedelta(seconds=1)) == 300
    rows = _rows(engine)
    assert len(rows) == 300
    assert {r.price for r in rows.values()} == {Decimal("1.5")}


def test_json_data_round_trips_with_unicode(engine: Engine) -> None:
    data_changes: dict[str, Any] = {
        "name": "Kaffeebecher „Grün“ 🛒 コーヒー",
        "extension_attributes": {"website_ids": [1, 2], "stock": None, "in_stock": True},
        "custom_attributes": [{"attribute_code": "description", "value": "<p>Crème brûlée</p>"}],
        "weight": 1.25,
    }
    record = _record(7, **data_changes)
    with engine.begin() as conn:
        upsert_products(conn, [record], T0)
    row = _rows(engine)[("default", 7)]
    assert row.data == record.data
    assert row.name == data_changes["name"]


def test_json_data_keeps_values_orjson_would_write_differently(engine: Engine) -> None:
    """Huge integers, tiny and exponent floats and escapes come back as they were sent."""
    data_changes: dict[str, Any] = {
        "extension_attributes": {"big": 2**64 + 1, "negative": -(2**63) - 1, "tiny": 1e-05},
        "tier_prices": [{"qty": 2.5e-07, "value": 1.5e16, "label": '\x7f\u2028"\\/'}],
    }
    record = _record(8, **data_changes)
    with engine.begin() as conn:
        upsert_products(conn, [record], T0)
    assert _rows(engine)[("default", 8)].data == record.data


def test_decimals_keep_their_precision(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_products(conn, [_record(1, price="1234567.123456", weight="12345678.1234")], T0)
    row = _rows(engine)[("default", 1)]
    assert row.price == Decimal("1234567.123456")
    assert row.weight == Decimal("12345678.1234")


def test_optional_fields_may_be_missing(engine: Engine) -> None:
    record = parse_item({"id": 9, "sku": "ONLY-SKU"}, "default")
    with engine.begin() as conn:
        upsert_products(conn, [record], T0)
    row = _rows(engine)[("default", 9)]
    assert (row.name, row.price, row.created_at, row.updated_at) == (None, None, None, None)
    assert row.data == {"id": 9, "sku": "ONLY-SKU"}


def test_store_views_are_separate_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_products(conn, [_record(1, "default"), _record(1, "fr", name="Produit 1")], T0)
    rows = _rows(engine)
    assert rows[("fr", 1)].name == "Produit 1"
    assert rows[("default", 1)].name == "Product 1"


def test_a_repeated_key_in_one_batch_keeps_the_last(engine: Engine) -> None:
    with engine.begin() as conn:
        written = upsert_products(conn, [_record(1, price=1), _record(1, price=2)], T0)
    assert written == 1
    assert _rows(engine)[("default", 1)].price == Decimal("2")


def test_upsert_rolls_back_with_the_callers_transaction(engine: Engine) -> None:
    with engine.connect() as conn:
        upsert_products(conn, [_record(1)], T0)
        conn.rollback()
    assert _rows(engine) == {}
    with engine.begin() as conn:
        assert upsert_products(conn, [], T0) == 0


def test_tombstone_is_per_store(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert_products(conn, [_record(1, "default"), _record(1, "fr")], T0)
        upsert_products(conn, [_record(2, "default")], T0 + timedelta(hours=1))
        marked = tombstone(conn, "default", [1], T0, None)
        assert tombstone(conn, "default", [1], T0, None) == 0  # already tombstoned
    assert marked == 1
    rows = _rows(engine)
    assert rows[("default", 1)].deleted_at == T0
    assert rows[("default", 2)].deleted_at is None
    assert rows[("fr", 1)].deleted_at is None

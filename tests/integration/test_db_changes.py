"""write_products, tombstone and sync_rejects on every backend: only real changes are written,
each logged exactly once, in bulk; rejects stay one row per item."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.db.changes import tombstone, write_products
from sync.db.rejects import (
    Reject,
    clear_rejects,
    pending_rejects,
    prune_rejects,
    record_rejects,
)
from sync.db.schema import product_attributes, product_changes, products, sync_rejects
from sync.models import ProductRecord, parse_item

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, 0)


def record(pid: int, store: str = "default", **extra: Any) -> ProductRecord:
    item: dict[str, Any] = {
        "id": pid,
        "sku": f"SKU-{pid}",
        "name": f"Product {pid}",
        "updated_at": "2026-01-01 00:00:00",
        "extension_attributes": {"stock_item": {"qty": pid, "is_in_stock": pid % 2 == 0}},
        "custom_attributes": [
            {"attribute_code": "color", "value": str(pid % 7)},
            {"attribute_code": "category_ids", "value": ["2", str(pid % 5)]},
        ],
    }
    item.update(extra)
    return parse_item(item, store)


def log(engine: Engine) -> list[tuple[str, int, str, int | None]]:
    t = product_changes
    with engine.connect() as conn:
        result = conn.execute(
            sa.select(t.c.store_code, t.c.product_id, t.c.op, t.c.run_id).order_by(t.c.seq)
        )
        return [tuple(r) for r in result]  # type: ignore[misc]


def test_only_new_changed_and_revived_products_are_written_and_logged(engine: Engine) -> None:
    batch = [record(pid) for pid in range(1, 1201)]  # more ids than one IN list holds
    with engine.begin() as conn:
        outcome = write_products(conn, "default", batch, T0, run_id=1)
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (1200, 0, 0)
    assert log(engine) == [("default", pid, "insert", 1) for pid in range(1, 1201)]
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(product_attributes)).scalar()
            == 2400
        )
        # A mark in an unchanged product's attributes shows whether it gets rewritten.
    with engine.begin() as conn:
        conn.execute(
            sa.update(product_attributes)
            .where(
                product_attributes.c.product_id == 5, product_attributes.c.attribute_code == "color"
            )
            .values(value="untouched?")
        )

    later = T0 + timedelta(hours=1)
    again = [record(pid) for pid in range(1, 1201)]
    again[9] = record(10, name="Renamed")
    again[10] = record(11, extension_attributes={"stock_item": {"qty": 0, "is_in_stock": False}})
    again[11] = record(12, custom_attributes=[{"attribute_code": "color", "value": "red"}])
    with engine.begin() as conn:
        outcome = write_products(conn, "default", again, later, run_id=2)
    assert (outcome.inserted, outcome.updated, outcome.revived, outcome.unchanged) == (
        0,
        3,
        0,
        1197,
    )
    assert log(engine)[1200:] == [("default", pid, "update", 2) for pid in (10, 11, 12)]
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(products))}
        attrs = {
            (a.product_id, a.attribute_code): a.value
            for a in conn.execute(sa.select(product_attributes))
        }
    assert rows[1].synced_at == T0 and rows[10].synced_at == later
    assert rows[10].name == "Renamed"
    assert float(rows[11].qty) == 0 and not rows[11].is_in_stock
    assert attrs[(5, "color")] == "untouched?"  # not rewritten: unchanged
    assert attrs[(12, "color")] == "red" and (12, "category_ids") not in attrs  # replaced
    assert attrs[(13, "category_ids")] == '["2","3"]'

    with engine.begin() as conn:
        assert tombstone(conn, "default", [20, 21, 99999], later, run_id=3) == 2
        outcome = write_products(conn, "default", [record(20), record(21, name="New")], later, 4)
    assert (outcome.revived, outcome.written) == (2, 2)
    assert log(engine)[1203:] == [
        ("default", 20, "delete", 3),
        ("default", 21, "delete", 3),
        ("default", 20, "insert", 4),
        ("default", 21, "insert", 4),
    ]
    with engine.connect() as conn:
        dead = conn.execute(
            sa.select(sa.func.count())
            .select_from(products)
            .where(products.c.deleted_at.is_not(None))
        ).scalar()
    assert dead == 0


def test_seq_increases_in_commit_order_across_transactions(engine: Engine) -> None:
    for run in range(1, 4):
        with engine.begin() as conn:
            write_products(conn, "default", [record(run), record(run + 100)], T0, run)
    with engine.connect() as conn:
        seqs = conn.execute(
            sa.select(product_changes.c.seq, product_changes.c.run_id).order_by(
                product_changes.c.seq
            )
        ).all()
    assert [r.run_id for r in seqs] == [1, 1, 2, 2, 3, 3]
    assert [r.seq for r in seqs] == sorted({r.seq for r in seqs})


def test_a_rolled_back_page_leaves_no_change_rows(engine: Engine) -> None:
    with engine.connect() as conn:
        write_products(conn, "default", [record(1)], T0, 1)
        conn.rollback()
    assert log(engine) == []
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(product_attributes)).scalar() == 0
        )


def test_store_views_are_separate(engine: Engine) -> None:
    with engine.begin() as conn:
        write_products(conn, "default", [record(1)], T0, 1)
        outcome = write_products(conn, "fr", [record(1, "fr")], T0, 1)
        assert outcome.inserted == 1
        with pytest.raises(ValueError, match="store"):
            write_products(conn, "fr", [record(2, "default")], T0, 1)
        assert tombstone(conn, "fr", [1], T0, 2) == 1
    with engine.connect() as conn:
        alive = conn.execute(
            sa.select(products.c.store_code).where(products.c.deleted_at.is_(None))
        )
        assert [r.store_code for r in alive] == ["default"]


def test_rejects_keep_one_row_per_item_and_are_pruned(engine: Engine) -> None:
    bad = {"id": 7, "sku": "SKU-7", "price": "abc", "name": "\x00nul"}
    with engine.begin() as conn:
        record_rejects(conn, "default", [Reject.of(bad, "price is wrong")], 1, T0)
        record_rejects(conn, "default", [Reject.of(bad, "price still wrong")], 2, T0)
        record_rejects(conn, "default", [Reject.of({"sku": "NOID"}, "no id")], 2, T0)
        record_rejects(conn, "default", [Reject.of({"sku": "NOID"}, "no id")], 3, T0)
        record_rejects(conn, "fr", [Reject.of(bad, "price is wrong")], 2, T0)
        record_rejects(conn, "default", [Reject.of(["not an object"], "not an object")], 3, T0)
        assert pending_rejects(conn, "default") == 3
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(sync_rejects)
            .where(sync_rejects.c.store_code == "default")
            .order_by(sync_rejects.c.id)
        ).all()
    assert [(r.product_id, r.sku, r.reason, r.run_id) for r in found] == [
        (7, "SKU-7", "price still wrong", 2),
        (None, "NOID", "no id", 3),
        (None, None, "not an object", 3),
    ]
    assert '"price": "abc"' in found[0].payload and "\\u0000nul" in found[0].payload

    with engine.begin() as conn:
        write_products(conn, "default", [record(7)], T0, 4)
        assert pending_rejects(conn, "default") == 2  # id 7 now has a live row
        clear_rejects(conn, "default", [7])
    assert prune_rejects(engine, T0 + timedelta(days=29)) == 0
    assert prune_rejects(engine, T0 + timedelta(days=31)) == 3  # fr's row and the two id-less
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sync_rejects)).scalar() == 0

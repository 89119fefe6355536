"""Per-store state in the caller's transaction, the run log, and product counts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.db.changes import tombstone
from sync.db.engine import make_engine
from sync.db.state import (
    ABANDONED,
    BACKFILL_CHECKPOINT,
    WATERMARK,
    ProductCount,
    all_state,
    delete_state,
    finish_run,
    get_state,
    mark_stale_runs,
    product_counts,
    recent_runs,
    set_state,
    start_run,
    update_run,
)
from sync.db.upsert import upsert_products
from sync.models import parse_item

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 12, 0, 0, 250000)
MARK = {"updated_at": "2025-03-01 11:59:59", "id": 42}


def test_state_set_get_overwrite_delete(engine: Engine) -> None:
    with engine.begin() as conn:
        assert get_state(conn, "default", WATERMARK) is None
        set_state(conn, "default", WATERMARK, MARK, T0)
        assert get_state(conn, "default", WATERMARK) == MARK
    with engine.begin() as conn:
        set_state(conn, "default", WATERMARK, {"updated_at": "2025-03-02 00:00:00", "id": 7}, T0)
        set_state(conn, "default", BACKFILL_CHECKPOINT, {"last_id": 300, "note": "ünïcode"}, T0)
        set_state(conn, "fr", WATERMARK, MARK, T0)
    with engine.connect() as conn:
        assert get_state(conn, "default", WATERMARK) == {
            "updated_at": "2025-03-02 00:00:00",
            "id": 7,
        }
        assert get_state(conn, "default", BACKFILL_CHECKPOINT) == {
            "last_id": 300,
            "note": "ünïcode",
        }
        entries = all_state(conn)
    assert [(e.store_code, e.key) for e in entries] == [
        ("default", BACKFILL_CHECKPOINT),
        ("default", WATERMARK),
        ("fr", WATERMARK),
    ]
    assert entries[0].updated_at == T0
    with engine.begin() as conn:
        delete_state(conn, "default", BACKFILL_CHECKPOINT)
        delete_state(conn, "default", "never-set")
    with engine.connect() as conn:
        assert get_state(conn, "default", BACKFILL_CHECKPOINT) is None
        assert get_state(conn, "fr", WATERMARK) == MARK


def test_state_rolled_back_with_the_data_leaves_nothing(engine: Engine) -> None:
    """A page's products and its watermark commit together or not at all."""
    with engine.connect() as conn:
        upsert_products(conn, [parse_item({"id": 1, "sku": "A"}, "default")], T0)
        set_state(conn, "default", WATERMARK, MARK, T0)
        conn.rollback()
        assert get_state(conn, "default", WATERMARK) is None
        assert all_state(conn) == []
    assert product_counts(engine) == []


def test_state_updated_at_is_naive_utc(engine: Engine) -> None:
    aware = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as conn:
        set_state(conn, "default", WATERMARK, MARK, aware)
    with engine.connect() as conn:
        assert all_state(conn)[0].updated_at == datetime(2025, 3, 1, 12, 0)


def test_run_lifecycle(engine: Engine) -> None:
    first = start_run(engine, "incremental", ["default", "fr"], T0)
    [running] = recent_runs(engine, 5)
    assert (running.id, running.kind, running.status) == (first, "incremental", "running")
    assert running.store_codes == ["default", "fr"]
    assert (running.pages, running.products_written, running.finished_at) == (0, 0, None)

    with engine.begin() as conn:
        update_run(conn, first, 1, 300)
    with engine.begin() as conn:
        update_run(conn, first, 1, 12)
    with engine.connect() as conn:  # a page that did not commit does not count
        update_run(conn, first, 1, 999)
        conn.rollback()
    finish_run(engine, first, "success", T0 + timedelta(minutes=2))

    second = start_run(engine, "full", ["default"], T0 + timedelta(minutes=15))
    finish_run(engine, second, "failed", T0 + timedelta(minutes=16), "ACCS answered 503\n" * 1000)

    newest, oldest = recent_runs(engine, 10)
    assert (newest.id, newest.status, newest.kind) == (second, "failed", "full")
    assert newest.error is not None and newest.error.startswith("ACCS answered 503")
    assert len(newest.error) <= 8000
    assert (oldest.id, oldest.status, oldest.pages, oldest.products_written) == (
        first,
        "success",
        2,
        312,
    )
    assert oldest.started_at == T0
    assert oldest.finished_at == T0 + timedelta(minutes=2)
    assert oldest.error is None
    assert [r.id for r in recent_runs(engine, 1)] == [second]


def test_finish_run_refuses_an_unknown_status(engine: Engine) -> None:
    run = start_run(engine, "sync", ["default"], T0)
    with pytest.raises(ValueError, match="status"):
        finish_run(engine, run, "running", T0)  # type: ignore[arg-type]


def test_mark_stale_runs(engine: Engine) -> None:
    crashed = start_run(engine, "sync", ["default"], T0)
    done = start_run(engine, "sync", ["default"], T0 + timedelta(minutes=1))
    finish_run(engine, done, "success", T0 + timedelta(minutes=2))
    recent = start_run(engine, "sync", ["default"], T0 + timedelta(hours=1))

    now = T0 + timedelta(hours=1, minutes=1)
    assert mark_stale_runs(engine, now, started_before=T0 + timedelta(minutes=30)) == 1
    status = {r.id: r.status for r in recent_runs(engine, 10)}
    assert status == {crashed: ABANDONED, done: "success", recent: "running"}
    assert mark_stale_runs(engine, now) == 1
    assert {r.id: r.status for r in recent_runs(engine, 10)}[recent] == ABANDONED


def test_long_store_code_lists_are_shortened(engine: Engine) -> None:
    codes = [f"store_view_{i:03d}" for i in range(40)]
    start_run(engine, "sync", codes, T0)
    [run] = recent_runs(engine, 1)
    assert run.store_codes[0] == "store_view_000"
    assert len(",".join(run.store_codes)) <= 255


def test_product_counts(engine: Engine) -> None:
    assert product_counts(engine) == []
    with engine.begin() as conn:
        upsert_products(
            conn,
            [
                parse_item({"id": i, "sku": f"S{i}"}, store)
                for store in ("fr", "default")
                for i in (1, 2, 3)
            ],
            T0,
        )
        upsert_products(conn, [parse_item({"id": 1, "sku": "S1"}, "fr")], T0 + timedelta(hours=1))
        tombstone(conn, "fr", [2, 3], T0 + timedelta(hours=1), None)
    counts = product_counts(engine)
    assert counts == [ProductCount("default", 3, 0), ProductCount("fr", 3, 2)]
    assert counts[1].alive == 1


@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_the_run_lock_belongs_to_one_database_not_the_whole_server(db_url: str) -> None:
    """MySQL's GET_LOCK is server-wide: mirrors into two databases must not block each other."""
    from sync.db.lock import AlreadyRunning, instance_lock, mysql_lock_name

    assert mysql_lock_name("a") != mysql_lock_name("b")
    assert len(mysql_lock_name("x" * 64)) <= 64
    engine = make_engine(db_url)
    other = make_engine(db_url)
    try:
        with instance_lock(engine):
            with pytest.raises(AlreadyRunning), instance_lock(other):
                pass  # the same database: refused
            # Another database on the same server: a different lock name.
            conn = other.connect()
            try:
                name = mysql_lock_name("some_other_database")
                assert conn.execute(sa.select(sa.func.get_lock(name, 0))).scalar() == 1
                conn.execute(sa.select(sa.func.release_lock(name)))
            finally:
                conn.close()
    finally:
        engine.dispose()
        other.dispose()

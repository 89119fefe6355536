"""The real sync over loopback HTTP against the emulator, into each supported database."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from sync.app import build_app
from sync.cli import main
from sync.clock import FakeClock
from sync.db.engine import make_engine
from sync.db.schema import products
from sync.emulator import EmulatorServer
from sync.settings import load_settings
from tests.integration.mirror import assert_mirror_equals_upstream, mirror, runs


def test_sync_mirrors_every_product(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sync"]) == 0
    assert_mirror_equals_upstream(db_url, emulator)
    out = capsys.readouterr().out
    assert "success" in out and "750 products" in out
    [run] = runs(db_url)
    assert run["status"] == "success" and run["products_written"] == 750 and run["pages"] >= 8
    # Every listing request used an explicit, unique sort and never an offset past page 1.
    for record in emulator.stats.list_requests():
        params = record.params()
        assert params["searchCriteria[currentPage]"] == "1"
        assert int(params["searchCriteria[pageSize]"]) <= 300
        assert "searchCriteria[sortOrders][0][direction]" in params
        assert record.store == "default"
    assert emulator.stats.tokens_issued == 1


def test_incremental_sync_picks_up_changes_and_new_products(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    assert main(["sync"]) == 0
    catalog = emulator.catalog
    some = catalog.ids()[:3]
    for n, product_id in enumerate(some):
        catalog.update(product_id, price=1000 + n, name=f"Changed {n}")
    catalog.create("NEW-SKU-1", name="Brand new", price=12.5)
    before = len(emulator.stats.list_requests())
    assert main(["sync"]) == 0
    assert_mirror_equals_upstream(db_url, emulator)
    incremental_requests = len(emulator.stats.list_requests()) - before
    assert incremental_requests <= 4  # a handful of pages, not the catalog again
    assert runs(db_url)[-1]["products_written"] < 20


def test_backfill_is_a_full_pass_and_keeps_the_watermark(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    assert main(["sync"]) == 0
    assert main(["backfill"]) == 0
    # Every product read again; none rewritten, because none changed.
    assert runs(db_url)[-1]["products_unchanged"] == 750
    assert runs(db_url)[-1]["products_written"] == 0
    assert_mirror_equals_upstream(db_url, emulator)


def test_rate_limits_server_errors_and_expired_tokens_still_end_in_a_complete_mirror(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    emulator.faults.rate_limit_next = 1  # first listing answers 429 Retry-After: 1
    emulator.faults.error_5xx_every = 3  # every third request answers 503
    seen = {"n": 0}

    def revoke_after_a_few_pages(record: Any) -> None:
        seen["n"] += 1
        if seen["n"] in (4, 7):  # the token "expires" twice mid-run
            emulator.revoke_all_tokens()

    emulator.faults.on_request.append(revoke_after_a_few_pages)
    emulator.faults.retry_after = 7
    clock = FakeClock()  # records the waits instead of sleeping them
    with build_app(load_settings(), clock=clock) as app:
        stats = app.run("sync")
    assert stats.status == "success", stats.error
    assert_mirror_equals_upstream(db_url, emulator)
    # Retry-After obeyed exactly. The full pass's first probes go out together, so a 503's
    # backoff may be recorded before the 429's wait: which comes first is not the contract.
    assert 7 in clock.sleeps
    assert len(clock.sleeps) >= 3
    assert emulator.stats.rate_limited >= 1
    assert emulator.stats.server_errors >= 2
    # Each revocation refuses every request then in flight with the old token (one per worker
    # at the most), and costs one mint: the workers share the new token.
    assert 2 <= emulator.stats.unauthorized <= 2 * 4
    assert emulator.stats.tokens_issued == 3  # one at start, one per revocation


def test_a_stop_request_commits_the_current_page_and_the_next_run_resumes(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_CONCURRENCY", "1")  # one page after another: an exact count
    stop = threading.Event()
    pages = {"n": 0}

    def stop_after_three_pages(record: Any) -> None:
        if record.kind == "list":
            pages["n"] += 1
            if pages["n"] == 4:  # the high-water probe, then three pages
                stop.set()

    emulator.faults.on_request.append(stop_after_three_pages)
    with build_app(load_settings(), stop_event=stop) as app:
        stats = app.run("sync")
    assert stats.status == "interrupted"
    assert stats.products == 300  # three pages of 100, each committed
    assert len(mirror(db_url)) == 300
    emulator.faults.on_request.clear()
    before = len(emulator.stats.list_requests())
    assert main(["sync"]) == 0
    assert_mirror_equals_upstream(db_url, emulator)
    assert runs(db_url)[-1]["products_written"] == 450  # only what was left
    requests = emulator.stats.list_requests()[before:]
    full = [r for r in requests if "fields" not in r.params()]
    listing = [r for r in requests if "fields" in r.params()]
    assert len(full) == 5  # pages 4..8, no new probe
    assert listing == []  # no id listing: each page tombstones its own id interval


def test_several_store_views_are_mirrored_under_their_codes(
    monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Any
) -> None:
    from sync.emulator import Catalog

    with EmulatorServer(Catalog.generate(120, seed=3, stores=("default", "fr"))) as server:
        for key, value in {
            **server.credentials,
            "DATABASE_URL": db_url,
            "SYNC_STORE_CODES": "default,fr",
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        assert main(["sync"]) == 0
        assert_mirror_equals_upstream(db_url, server, "default")
        assert_mirror_equals_upstream(db_url, server, "fr")
        stores = {r.store for r in server.stats.list_requests()}
        assert stores == {"default", "fr"}


def test_changes_behind_the_cursor_during_a_full_pass_are_caught_by_the_next_sync(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    catalog = emulator.catalog
    first, last = catalog.ids()[0], catalog.ids()[-1]
    pages = {"n": 0}

    def change_upstream_while_paging(record: Any) -> None:
        if record.kind == "list":
            pages["n"] += 1
            if pages["n"] == 5:  # the cursor is past `first` by now
                catalog.update(first, name="Renamed while paging", price=777)
                catalog.delete(last)
                catalog.create("CREATED-WHILE-PAGING", name="Late arrival", price=3)

    emulator.faults.on_request.append(change_upstream_while_paging)
    assert main(["sync"]) == 0
    emulator.faults.on_request.clear()
    assert main(["sync"]) == 0
    local = mirror(db_url)
    upstream = {item["sku"]: item for item in catalog.items()}
    # Deletions are reconciled later (issue: tombstones); everything that exists is exact.
    for sku, item in upstream.items():
        assert local[sku]["name"] == item.get("name")
        assert f"{local[sku]['updated_at']:%Y-%m-%d %H:%M:%S}" == item["updated_at"]
    assert local[catalog.item(first)["sku"]]["name"] == "Renamed while paging"
    assert "CREATED-WHILE-PAGING" in local


def test_products_deleted_upstream_are_tombstoned_by_a_full_pass(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sync"]) == 0
    catalog = emulator.catalog
    gone = [catalog.item(i)["sku"] for i in catalog.ids()[5:8]]
    for sku in gone:
        catalog.delete(sku)
    assert main(["backfill"]) == 0
    local = mirror(db_url)
    assert len(local) == 750  # never a hard delete
    assert {sku for sku, row in local.items() if row["deleted_at"] is not None} == set(gone)
    capsys.readouterr()
    assert main(["status"]) == 0
    assert "747 live" in capsys.readouterr().out


def test_a_change_inside_an_already_read_second_is_not_lost(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    """Magento stamps updated_at before commit: a change can land in a second we already read."""
    assert main(["sync"]) == 0
    catalog = emulator.catalog
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            from sync.db.state import get_state

            watermark = get_state(conn, "default", "watermark")
    finally:
        engine.dispose()
    assert watermark is not None
    early = catalog.ids()[0]
    # Changed "at" the watermark second and a minute before it, after we read both.
    catalog.update(early, name="Late commit", updated_at=watermark["updated_at"])
    catalog.update(catalog.ids()[1], name="Later commit", updated_at="2000-01-01 00:00:00")
    catalog.create("NEWER", name="Newer", price=1)  # moves upstream past the watermark
    assert main(["sync"]) == 0
    assert mirror(db_url)[catalog.item(early)["sku"]]["name"] == "Late commit"


def test_two_runs_never_overlap(
    sync_env: dict[str, str],
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sync.db.lock import instance_lock
    from sync.db.migrate import ensure_schema

    monkeypatch.setenv("SYNC_LOCK_WAIT_SECONDS", "0")  # refused at once
    engine = make_engine(db_url)
    try:
        ensure_schema(engine)
        with instance_lock(engine):
            assert main(["sync"]) == 3  # did nothing: another run is mirroring
        assert "another accs-sync run is using this database" in capsys.readouterr().err
        assert runs(db_url) == []  # the refused run recorded nothing
        assert main(["sync"]) == 0  # released
    finally:
        engine.dispose()


def test_a_run_left_running_by_a_killed_process_is_marked_abandoned(
    sync_env: dict[str, str], db_url: str
) -> None:
    from datetime import datetime

    from sync.db.migrate import ensure_schema
    from sync.db.state import start_run

    engine = make_engine(db_url)
    try:
        ensure_schema(engine)
        dead = start_run(engine, "sync", ["default"], datetime(2026, 1, 1))
    finally:
        engine.dispose()
    assert main(["sync"]) == 0
    statuses = {r["id"]: r["status"] for r in runs(db_url)}
    assert statuses[dead] == "abandoned"


def test_awkward_values_are_stored_on_every_database(engine: Any) -> None:
    from datetime import datetime

    from sync.db.upsert import upsert_products
    from sync.models import parse_item

    record = parse_item(
        {
            "id": 2**40,
            "sku": "NUL\x00SKU",
            "name": "Café \x00 ☕",
            "weight": "99999999999999.999999",
            "price": "0.000001",
            "custom_attributes": [{"attribute_code": "d", "value": "a\x00b"}],
        },
        "default",
    )
    with engine.begin() as conn:
        assert upsert_products(conn, [record], datetime(2026, 1, 1)) == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(products)).mappings().one()
    assert row["sku"] == "NULSKU" and row["name"] == "Café  ☕"
    if engine.dialect.name == "sqlite":  # SQLite keeps decimals as 8-byte floats (documented)
        assert float(row["weight"]) == pytest.approx(1e14)
    else:
        assert Decimal(str(row["weight"])) == Decimal("99999999999999.999999")
    assert row["id"] == 2**40

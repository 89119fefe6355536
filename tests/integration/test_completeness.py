"""Issue 4 core: only real changes are written and logged; deletions, revivals, stock-only
changes, rejects, windowed backfills and the reconcile command, on every database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from sync.api.products import BOUND_FIELDS
from sync.cli import main
from sync.db.engine import make_engine
from sync.db.schema import product_attributes, product_changes, products, sync_rejects
from sync.db.state import WATERMARK, get_state
from sync.emulator import Catalog, EmulatorServer

pytestmark = pytest.mark.integration

N = 45  # three pages of 20 per store view: small and fast, yet several pages


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """Overrides the shared fixture: a small catalog with two store views."""
    with EmulatorServer(Catalog.generate(N, seed=11, stores=("default", "fr"))) as server:
        yield server


@pytest.fixture
def env(sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("SYNC_PAGE_SIZE", "20")
    monkeypatch.setenv("SYNC_STORE_CODES", "default,fr")
    return sync_env


def query(db_url: str, statement: Any) -> list[Any]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(statement).all())
    finally:
        engine.dispose()


def rows(db_url: str, store: str = "default") -> dict[int, Any]:
    result = query(db_url, sa.select(products).where(products.c.store_code == store))
    return {row.id: row for row in result}


def changes(db_url: str, after_seq: int = 0) -> list[tuple[str, int, str]]:
    t = product_changes
    statement = sa.select(t.c.store_code, t.c.product_id, t.c.op).where(t.c.seq > after_seq)
    return [tuple(r) for r in query(db_url, statement.order_by(t.c.seq))]


def last_seq(db_url: str) -> int:
    return int(query(db_url, sa.select(sa.func.max(product_changes.c.seq)))[0][0] or 0)


def last_run(db_url: str) -> Any:
    return query(db_url, sa.text("SELECT * FROM sync_runs ORDER BY id DESC"))[0]


def test_first_sync_logs_one_insert_per_product_and_fills_stock_and_attributes(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    assert main(["sync"]) == 0
    log = changes(db_url)
    assert sorted(log) == sorted(
        (store, pid, "insert") for store in ("default", "fr") for pid in emulator.catalog.ids()
    )
    seqs = [r[0] for r in query(db_url, sa.select(product_changes.c.seq))]
    assert len(set(seqs)) == len(seqs)
    local = rows(db_url)
    for item in emulator.catalog.items("default"):
        row = local[item["id"]]
        stock = item["extension_attributes"]["stock_item"]
        assert Decimal(str(row.qty)) == Decimal(str(stock["qty"])), item["sku"]
        assert bool(row.is_in_stock) is bool(stock["is_in_stock"])
        assert row.content_hash and len(row.content_hash) == 64
        attrs = query(
            db_url,
            sa.select(product_attributes.c.attribute_code, product_attributes.c.value).where(
                product_attributes.c.store_code == "default",
                product_attributes.c.product_id == item["id"],
            ),
        )
        expected = {
            a["attribute_code"]: a["value"]
            if isinstance(a["value"], str)
            else json.dumps(a["value"])
            for a in item.get("custom_attributes", [])
        }
        got = {code: value for code, value in attrs}
        assert set(got) == set(expected), item["sku"]
        for code, value in expected.items():
            if isinstance(value, str) and value.startswith("["):
                assert json.loads(got[code]) == json.loads(value)
            else:
                assert got[code] == value


def test_rerunning_over_an_unchanged_catalog_writes_nothing(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    assert main(["sync"]) == 0
    before = {pid: row.synced_at for pid, row in rows(db_url).items()}
    seq = last_seq(db_url)
    for command in (["sync"], ["backfill"], ["reconcile"]):
        assert main(command) == 0
        run = last_run(db_url)
        assert run.status == "success"
        assert run.products_written == 0, command
        if command != ["sync"]:
            assert run.products_unchanged == 2 * N  # both store views read, nothing rewritten
    assert changes(db_url, seq) == []
    assert {pid: row.synced_at for pid, row in rows(db_url).items()} == before


def test_deleted_upstream_is_tombstoned_by_the_next_incremental_and_recreated_is_revived(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    catalog = emulator.catalog
    assert main(["sync"]) == 0
    emulator.faults.max_page_size = 20  # the id listing adapts to pages of 20 ids
    ids = sorted(catalog.ids())
    # The first and the last id, and both sides of a boundary between id-listing pages: the
    # listing is compared with the mirror page by page, so each page's id range has edges.
    gone = [ids[0], ids[19], ids[20], ids[-1]]
    saved = [catalog.item(pid) for pid in gone]
    for pid in gone:
        catalog.delete(pid)
    seq = last_seq(db_url)
    listing_before = _listing_requests(emulator)
    assert main(["sync"]) == 0
    assert _listing_requests(emulator) > listing_before  # the count check found a difference
    for store in ("default", "fr"):
        local = rows(db_url, store)
        assert all(local[pid].deleted_at is not None for pid in gone)
        assert sum(r.deleted_at is not None for r in local.values()) == len(gone)
    assert sorted(changes(db_url, seq)) == sorted(
        (store, pid, "delete") for store in ("default", "fr") for pid in gone
    )
    assert last_run(db_url).products_deleted == 2 * len(gone)

    # The same product comes back (e.g. restored from a backup with its id).
    first = saved[0]
    assert first is not None
    catalog.create(first["sku"], id=first["id"], name="Back again", price=3)
    seq = last_seq(db_url)
    assert main(["sync"]) == 0
    row = rows(db_url)[first["id"]]
    assert row.deleted_at is None and row.name == "Back again"
    assert sorted(changes(db_url, seq)) == [
        ("default", first["id"], "insert"),
        ("fr", first["id"], "insert"),
    ]
    run = last_run(db_url)
    assert run.products_revived == 2 and run.products_written == 2


def test_an_incremental_run_without_deletions_does_not_list_ids(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    assert main(["sync"]) == 0
    emulator.catalog.update(emulator.catalog.ids()[0], name="Renamed")
    before = _listing_requests(emulator)
    assert main(["sync"]) == 0
    assert _listing_requests(emulator) == before
    assert changes(db_url, 0)[-2:] == [
        ("default", emulator.catalog.ids()[0], "update"),
        ("fr", emulator.catalog.ids()[0], "update"),
    ]


def test_a_stock_only_change_is_missed_by_incremental_and_caught_by_reconcile(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    catalog = emulator.catalog
    # Old products, far behind the watermark and its lookback window.
    catalog.touch_many(catalog.ids()[:40], at="2025-01-01 00:00:00")
    catalog.touch_many(catalog.ids()[40:], at="2025-06-01 00:00:00")
    assert main(["sync"]) == 0
    pid = catalog.ids()[7]
    catalog.set_stock(pid, 77, is_in_stock=True)
    catalog.set_images(catalog.ids()[8], ["/n/e/new.jpg"])
    before = rows(db_url)
    seq = last_seq(db_url)
    assert main(["sync"]) == 0
    assert rows(db_url)[pid].qty == before[pid].qty  # updated_at did not move: not seen
    assert changes(db_url, seq) == []
    assert main(["reconcile"]) == 0
    after = rows(db_url)
    assert Decimal(str(after[pid].qty)) == Decimal(77)
    assert sorted(changes(db_url, seq)) == sorted(
        (store, p, "update") for store in ("default", "fr") for p in (pid, catalog.ids()[8])
    )
    untouched = [p for p in before if p not in (pid, catalog.ids()[8])]
    assert all(after[p].synced_at == before[p].synced_at for p in untouched)
    run = last_run(db_url)
    assert run.kind == "reconcile" and run.products_written == 4
    assert run.products_unchanged == 2 * N - 4


def test_reconcile_command_across_store_views(
    env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog = emulator.catalog
    assert main(["sync"]) == 0
    victim = catalog.ids()[-1]
    catalog.delete(victim)
    catalog.update(catalog.ids()[0], store="fr", name="Nom changé")
    capsys.readouterr()
    assert main(["reconcile"]) == 0
    out = capsys.readouterr().out
    assert "1 deleted upstream" in out
    for store in ("default", "fr"):
        assert rows(db_url, store)[victim].deleted_at is not None
    assert rows(db_url, "fr")[catalog.ids()[0]].name == "Nom changé"
    # No id listing: the full passes found the deletion page by page. Their only filtered
    # requests are the id-bounds probes, which named their store view.
    filtered = [
        r
        for r in emulator.stats.list_requests()
        if r.params().get("fields", "").startswith("items")
    ]
    assert {r.store for r in filtered} == {"default", "fr"}
    assert all(r.params()["fields"] == BOUND_FIELDS for r in filtered)


def test_rejected_items_are_stored_counted_and_reported_by_status(
    env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog = emulator.catalog
    assert main(["sync"]) == 0
    bad = catalog.ids()[2]
    catalog.update(bad, type_id="x" * 40)  # longer than Magento's type_id column
    capsys.readouterr()
    assert main(["sync"]) == 0  # everything else is still written
    [reject] = query(db_url, sa.select(sync_rejects).where(sync_rejects.c.store_code == "default"))
    assert reject.product_id == bad and "type_id" in reject.reason
    assert json.loads(reject.payload)["type_id"] == "x" * 40
    assert last_run(db_url).products_rejected == 2  # default and fr
    assert rows(db_url)[bad].deleted_at is None  # the older good version stays
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "2 products rejected in the last run" in out and "sync_rejects" in out

    # Rejected again: still one row per item. Fixed upstream: the row goes.
    assert main(["sync"]) == 0
    assert len(query(db_url, sa.select(sync_rejects))) == 2
    catalog.update(bad, type_id="simple")
    assert main(["sync"]) == 0
    assert query(db_url, sa.select(sync_rejects)) == []


def test_a_response_that_is_not_json_is_retried_and_never_moves_the_watermark(
    env: dict[str, str], emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["sync"]) == 0
    watermark = _watermark(db_url)
    emulator.catalog.update(emulator.catalog.ids()[0], name="Changed")
    emulator.faults.invalid_json_next = 1
    assert main(["sync"]) == 0  # retried
    assert rows(db_url)[emulator.catalog.ids()[0]].name == "Changed"
    assert _watermark(db_url) > watermark

    watermark = _watermark(db_url)
    emulator.catalog.update(emulator.catalog.ids()[1], name="Changed too")
    monkeypatch.setenv("SYNC_MAX_ATTEMPTS", "2")
    emulator.faults.invalid_json_next = 10
    assert main(["sync"]) == 1
    assert last_run(db_url).status == "failed" and "not JSON" in last_run(db_url).error
    assert _watermark(db_url) == watermark
    assert rows(db_url)[emulator.catalog.ids()[1]].name != "Changed too"


def test_windowed_backfill_touches_only_its_window(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    catalog = emulator.catalog
    ids = catalog.ids()
    catalog.touch_many(ids[:10], at="2025-03-01 12:00:00")
    catalog.touch_many(ids[10:], at="2025-06-01 12:00:00")
    assert main(["sync"]) == 0
    watermark = _watermark(db_url)
    for pid in (ids[0], ids[20]):
        catalog.set_stock(pid, 5)  # stock-only: updated_at stays
    catalog.delete(ids[30])
    seq = last_seq(db_url)
    assert main(["backfill", "--since", "2025-02-01", "--until", "2025-04-01T00:00:00Z"]) == 0
    assert sorted(changes(db_url, seq)) == [("default", ids[0], "update"), ("fr", ids[0], "update")]
    local = rows(db_url)
    assert Decimal(str(local[ids[0]].qty)) == 5
    assert local[ids[20]].qty != 5  # outside the window
    assert local[ids[30]].deleted_at is None  # a windowed pass never tombstones
    assert _watermark(db_url) == watermark
    listed = [r.params() for r in emulator.stats.list_requests()][-4:]
    assert any(
        p.get("searchCriteria[filterGroups][1][filters][0][field]") == "updated_at" for p in listed
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "not a time"),
        (["--since", "2025-13-01"], "not a valid date"),
        (["--since", "2025-05-01", "--until", "2025-04-01"], "must be before"),
    ],
)
def test_backfill_window_is_validated(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["backfill", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_consumer_reading_changes_since_a_seq_misses_nothing(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    """The documented consumer loop: remember the last seq, read what follows."""
    catalog = emulator.catalog
    seen: list[tuple[str, int, str]] = []
    cursor = 0
    assert main(["sync"]) == 0
    for step in range(3):
        catalog.update(catalog.ids()[step], price=100 + step)
        assert main(["sync"]) == 0
        batch = changes(db_url, cursor)
        seen += batch
        cursor = last_seq(db_url)
    assert seen[-6:] == [
        (store, catalog.ids()[step], "update") for step in range(3) for store in ("default", "fr")
    ]
    assert len(seen) == 2 * N + 6


def _listing_requests(emulator: EmulatorServer) -> int:
    return sum(
        1
        for r in emulator.stats.list_requests()
        if r.params().get("fields", "").startswith("items[")
    )


def _watermark(db_url: str) -> tuple[str, int]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            value = get_state(conn, "default", WATERMARK)
    finally:
        engine.dispose()
    assert value is not None
    return (value["updated_at"], value["id"])

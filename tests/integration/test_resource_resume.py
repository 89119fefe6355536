"""Categories and source items resume an interrupted full pass from their checkpoint, on every
database (issue 15).

A pass is interrupted by the emulator refusing a page (400, not retried) once N pages were
served: the pages before it are committed with the checkpoint that says where each walk
stands, and the next run asks for what follows it, never for what is committed. Categories
(numeric keys) tombstone what each page's key interval no longer holds, so a deletion is
written with the page that covers it, even by a pass that never completes. A windowed backfill
covers categories by ``updated_at`` and never tombstones nor moves the watermark. A checkpoint
that is not one accs-sync wrote is reported and replaced by a pass from the beginning.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.engine import make_engine
from sync.db.schema import catalog_changes, categories, inventory_source_items, sync_runs
from sync.db.state import get_raw_state, set_state
from sync.emulator import EmulatorServer, RequestRecord
from sync.emulator.criteria import MagentoError
from sync.emulator.inventory import render_source_item
from tests.integration.test_resources_e2e import rows

pytestmark = pytest.mark.integration

GT = "searchCriteria[filterGroups][0][filters][0]"
CATEGORY_PAGE = 5
STOCK_PAGE = 100


def state(db_url: str, store: str, key: str) -> Any:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return get_raw_state(conn, store, key)
    finally:
        engine.dispose()


def put_state(db_url: str, store: str, key: str, value: Any) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            set_state(conn, store, key, value, datetime.now(UTC))
    finally:
        engine.dispose()


def live_categories(db_url: str) -> dict[int, str]:
    t = categories.c
    query = sa.select(t.id, t.name).where(t.store_code == "default", t.deleted_at.is_(None))
    return {r.id: r.name for r in rows(db_url, query)}


def upstream_categories(emulator: EmulatorServer) -> dict[int, str]:
    out = {}
    for category in emulator.catalog.categories():
        item = emulator.catalog.category(category.id)
        assert item is not None
        out[category.id] = item["name"]
    return out


def live_stock(db_url: str) -> set[tuple[str, str]]:
    t = inventory_source_items.c
    query = sa.select(t.source_code, t.sku).where(t.deleted_at.is_(None))
    return {(r.source_code, r.sku) for r in rows(db_url, query)}


def upstream_stock(emulator: EmulatorServer) -> set[tuple[str, str]]:
    shown = [render_source_item(item) for item in emulator.catalog.source_items()]
    return {(item["source_code"], item["sku"]) for item in shown}


def statuses(db_url: str) -> list[str]:
    return [r.status for r in rows(db_url, sa.select(sync_runs.c.status).order_by(sync_runs.c.id))]


def deletes(db_url: str, resource: str) -> list[str]:
    t = catalog_changes.c
    query = sa.select(t.entity_key).where(t.resource == resource, t.op == "delete")
    return sorted(r.entity_key for r in rows(db_url, query))


class Pages:
    """An ``on_request`` hook: records the page requests (not the one-item probes) of ``kind``
    and, once armed, refuses every one after the first ``allowed``."""

    def __init__(self, kind: str, size: int) -> None:
        self.kind, self.size = kind, str(size)
        self.allowed: int | None = None
        self.seen: list[dict[str, str]] = []

    def arm(self, allowed: int | None) -> None:
        self.allowed, self.seen = allowed, []

    def __call__(self, record: RequestRecord) -> None:
        params = record.params()
        if record.kind != self.kind or params.get("searchCriteria[pageSize]") != self.size:
            return
        self.seen.append(params)
        if self.allowed is not None and len(self.seen) > self.allowed:
            raise MagentoError(400, {"message": "refused to interrupt the pass"})


def run(*args: str) -> int:
    return main([*args, "--quiet"])


@pytest.fixture
def category_pages(
    sync_env: dict[str, str], emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> Pages:
    monkeypatch.setenv("SYNC_RESOURCES", "categories")
    monkeypatch.setenv("SYNC_PAGE_SIZE", str(CATEGORY_PAGE))
    # One walk, so pages come in id order (with more, categories walk concurrent id ranges:
    # tests/integration/test_category_ranges.py).
    monkeypatch.setenv("SYNC_CONCURRENCY", "1")
    pages = Pages("categories", CATEGORY_PAGE)
    emulator.faults.on_request.append(pages)
    return pages


def test_an_interrupted_categories_pass_resumes_from_its_checkpoint(
    category_pages: Pages, emulator: EmulatorServer, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    category_pages.arm(3)
    assert run("sync") == 1
    checkpoint = state(db_url, "default", "categories:checkpoint")
    assert checkpoint["ranges"] == [{"after": 15, "upto": None}]  # the products' shape
    assert checkpoint["window"] == {"since": None, "until": None}
    assert isinstance(checkpoint["high_water"], str)
    assert sorted(live_categories(db_url)) == list(range(1, 16))
    assert state(db_url, "default", "categories:watermark") is None

    # Upstream moves on meanwhile: behind the checkpoint and ahead of it.
    emulator.catalog.update_category(3, name="Renamed behind the checkpoint")
    emulator.catalog.update_category(30, name="Renamed ahead of the checkpoint")
    category_pages.arm(None)
    with caplog.at_level(logging.INFO, logger="sync.engine"):
        assert run("sync") == 0
    assert any("resuming" in r.getMessage() for r in caplog.records)
    first = category_pages.seen[0]
    assert (first[f"{GT}[field]"], first[f"{GT}[conditionType]"], first[f"{GT}[value]"]) == (
        "entity_id",
        "gt",
        "15",
    )
    assert len(category_pages.seen) == 6  # ids 16-42: nothing committed was read again
    assert state(db_url, "default", "categories:checkpoint") is None
    assert state(db_url, "default", "categories:watermark") == {
        "updated_at": checkpoint["high_water"]
    }
    mirrored = live_categories(db_url)
    assert mirrored[30] == "Renamed ahead of the checkpoint"
    # The resumed pass's watermark is where the first pass began: the next sync reads the
    # rename made behind the checkpoint.
    assert run("sync") == 0
    assert live_categories(db_url) == upstream_categories(emulator)
    assert statuses(db_url) == ["failed", "success", "success"]


def test_category_pages_tombstone_what_their_interval_no_longer_holds(
    category_pages: Pages, emulator: EmulatorServer, db_url: str
) -> None:
    assert run("sync") == 0
    leaves = [c.id for c in emulator.catalog.categories() if c.level >= 2]
    middle = next(cid for cid in leaves if 6 <= cid <= 10)
    gone_early = emulator.catalog.delete_category(middle)
    gone_late = emulator.catalog.delete_category(max(leaves))
    assert max(gone_early) <= 15 and min(gone_late) > 15
    category_pages.arm(3)
    assert run("backfill") == 1  # interrupted after the pages of ids 1-15
    # Written with the page that covered them, by a pass that did not complete.
    assert deletes(db_url, "categories") == sorted(str(cid) for cid in gone_early)
    category_pages.arm(None)
    assert run("backfill") == 0  # resumes; the last page's interval runs to the end
    assert deletes(db_url, "categories") == sorted(str(cid) for cid in gone_early + gone_late)
    assert live_categories(db_url) == upstream_categories(emulator)
    tombstoned = rows(db_url, sa.select(categories.c.id).where(categories.c.deleted_at.isnot(None)))
    assert {r.id for r in tombstoned} == set(gone_early + gone_late)


def test_a_windowed_backfill_covers_categories_by_updated_at(
    category_pages: Pages, emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("sync") == 0
    watermark = state(db_url, "default", "categories:watermark")
    since = emulator.catalog.now() - timedelta(hours=1)
    emulator.catalog.update_category(4, name="In the window")
    emulator.catalog.update_category(
        5, name="Before the window", updated_at=since - timedelta(hours=2)
    )
    gone = emulator.catalog.delete_category(max(c.id for c in emulator.catalog.categories()))
    stock_requests = len([r for r in emulator.stats.list_requests() if r.kind == "source_items"])
    category_pages.arm(None)
    monkeypatch.setenv("SYNC_RESOURCES", "categories,source_items")
    assert run("backfill", "--since", f"{since:%Y-%m-%d %H:%M:%S}") == 0
    [page] = category_pages.seen
    assert (page[f"{GT}[field]"], page[f"{GT}[conditionType]"]) == ("updated_at", "gteq")
    mirrored = live_categories(db_url)
    assert mirrored[4] == "In the window"
    assert mirrored[5] != "Before the window"
    assert all(cid in mirrored for cid in gone)  # a windowed pass never tombstones
    assert state(db_url, "default", "categories:watermark") == watermark
    assert state(db_url, "default", "categories:checkpoint") is None
    # Source items have no updated_at: a windowed backfill skips them.
    assert len([r for r in emulator.stats.list_requests() if r.kind == "source_items"]) == (
        stock_requests
    )


@pytest.mark.parametrize("concurrency", ["1", "2"], ids=["whole", "per-source"])
def test_an_interrupted_source_items_pass_resumes_and_sweeps_only_when_complete(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    concurrency: str,
) -> None:
    monkeypatch.setenv("SYNC_RESOURCES", "source_items")
    monkeypatch.setenv("SYNC_PAGE_SIZE", str(STOCK_PAGE))
    monkeypatch.setenv("SYNC_CONCURRENCY", concurrency)
    pages = Pages("source_items", STOCK_PAGE)
    emulator.faults.on_request.append(pages)
    total = len(upstream_stock(emulator))
    pages.arm(4)
    assert run("sync") == 1
    checkpoint = state(db_url, "*", "source_items:checkpoint")
    walks = checkpoint["walks"]
    assert walks and all(w["phase"] in ("next", "same") for w in walks)
    if concurrency == "2":
        assert {w["partition"] for w in walks} <= {"default", "eu_warehouse"}
    else:
        assert [w["partition"] for w in walks] == [None]
    mirrored = live_stock(db_url)
    assert 0 < len(mirrored) <= 4 * STOCK_PAGE  # the pages committed before the refusal
    gone_behind = sorted(mirrored)[0]
    emulator.catalog.remove_source_item(gone_behind[1], gone_behind[0])

    pages.arm(None)
    assert run("sync") == 0
    assert len(pages.seen) < total // STOCK_PAGE  # it did not start over
    assert state(db_url, "*", "source_items:checkpoint") is None
    # A resumed pass did not see the keys read before the interruption: it does not sweep
    # them (it may sweep a source it read from its start, which this one is not).
    assert live_stock(db_url) == upstream_stock(emulator) | {gone_behind}
    assert run("sync") == 0  # a complete pass sweeps
    assert live_stock(db_url) == upstream_stock(emulator)
    assert deletes(db_url, "source_items") == [f"{gone_behind[0]}/{gone_behind[1]}"]
    assert statuses(db_url) == ["failed", "success", "success"]


def test_a_resumed_source_items_pass_sweeps_the_sources_it_read_from_their_start(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed before a source was begun: the resumed pass reads that source whole, so what it
    did not see there is gone; the source it resumed in the middle waits for a complete pass."""
    monkeypatch.setenv("SYNC_RESOURCES", "source_items")
    monkeypatch.setenv("SYNC_PAGE_SIZE", str(STOCK_PAGE))
    assert run("sync") == 0
    stock = sorted(live_stock(db_url))
    default = [key for key in stock if key[0] == "default"]
    eu = [key for key in stock if key[0] == "eu_warehouse"]
    for source, sku in (default[-1], eu[0]):
        emulator.catalog.remove_source_item(sku, source)
    put_state(
        db_url,
        "*",
        "source_items:checkpoint",
        {
            "walks": [
                {"partition": "default", "after": [default[len(default) // 2][1]], "phase": "next"},
                {"partition": "eu_warehouse", "after": None, "phase": "next"},
            ],
            "high_water": None,
            "window": {"since": None, "until": None},
        },
    )
    assert run("sync") == 0
    assert deletes(db_url, "source_items") == [f"{eu[0][0]}/{eu[0][1]}"]
    assert default[-1] in live_stock(db_url)  # in the source resumed midway: not swept
    assert run("sync") == 0
    assert live_stock(db_url) == upstream_stock(emulator)


HOSTILE: list[Any] = [
    "garbage",
    {"walks": [{"partition": None, "after": [-5], "phase": "next"}], "high_water": None},
    {"walks": [{"partition": None, "after": [10**30], "phase": "next"}]},
    {"walks": [{"after": [1]}] * 10_000, "ranges": [{"after": 0, "upto": None}] * 10_001},
    {"walks": [], "ranges": [], "window": {"since": "zzz"}},
]


@pytest.mark.parametrize(
    "db_url", ["sqlite"], indirect=True
)  # parsing the JSON: the same on every database
@pytest.mark.parametrize("hostile", HOSTILE, ids=["text", "negative", "huge", "long", "window"])
def test_a_hostile_checkpoint_is_reported_and_a_full_pass_runs(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    hostile: Any,
) -> None:
    monkeypatch.setenv("SYNC_RESOURCES", "products,categories,source_items")
    monkeypatch.setenv("SYNC_CONCURRENCY", "1")  # one categories walk: its first page is id 1's
    category_pages = Pages("categories", int(sync_env["SYNC_PAGE_SIZE"]))
    emulator.faults.on_request.append(category_pages)
    assert run("sync") == 0  # creates the schema
    put_state(db_url, "default", "categories:checkpoint", hostile)
    put_state(db_url, "*", "source_items:checkpoint", hostile)
    put_state(db_url, "default", "backfill_checkpoint", hostile)
    category_pages.arm(None)
    with caplog.at_level(logging.WARNING):
        assert run("backfill") == 0
    reports = [r.getMessage() for r in caplog.records if "stored checkpoint" in r.getMessage()]
    assert len(reports) == 3, reports
    assert all(len(message) < 400 for message in reports)
    first = category_pages.seen[0]
    assert f"{GT}[field]" not in first  # from the beginning
    for store, key in (
        ("default", "categories:checkpoint"),
        ("*", "source_items:checkpoint"),
        ("default", "backfill_checkpoint"),
    ):
        assert state(db_url, store, key) is None
    assert live_categories(db_url) == upstream_categories(emulator)
    assert statuses(db_url) == ["success", "success"]


TODAYS = {
    "ranges": [{"after": 300, "upto": None}],
    "high_water": "2020-01-01 00:00:00",
    "window": {"since": None, "until": None},
}


@pytest.mark.parametrize("written", [TODAYS, {"last_id": 300}], ids=["ranges", "last_id"])
def test_a_products_checkpoint_of_the_current_release_still_resumes(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    written: dict[str, Any],
) -> None:
    monkeypatch.setenv("SYNC_RESOURCES", "products")
    pages = Pages("list", int(sync_env["SYNC_PAGE_SIZE"]))
    emulator.faults.on_request.append(pages)
    assert run("sync") == 0
    put_state(db_url, "default", "backfill_checkpoint", written)
    pages.arm(None)
    assert run("sync") == 0
    first = pages.seen[0]
    assert (first[f"{GT}[field]"], first[f"{GT}[conditionType]"], first[f"{GT}[value]"]) == (
        "entity_id",
        "gt",
        "300",
    )
    assert all(page.get(f"{GT}[value]") != "0" for page in pages.seen)
    assert state(db_url, "default", "backfill_checkpoint") is None


def test_a_categories_checkpoint_of_several_id_ranges_resumes_each_within_its_bounds(
    category_pages: Pages, emulator: EmulatorServer, db_url: str
) -> None:
    """The products' checkpoint shape: ranges ``after < id <= upto``, as concurrent id ranges
    leave it. Each range is read, and tombstoned, within its bounds only."""
    assert run("sync") == 0
    inside, between, last = (
        emulator.catalog.delete_category(14),
        emulator.catalog.delete_category(25),
        emulator.catalog.delete_category(40),
    )
    emulator.catalog.update_category(27, name="Renamed between the ranges")
    ranges = [{"after": 10, "upto": 20}, {"after": 30, "upto": None}]
    put_state(
        db_url,
        "default",
        "categories:checkpoint",
        {"ranges": ranges, "high_water": None, "window": {"since": None, "until": None}},
    )
    category_pages.arm(None)
    assert run("sync") == 0
    asked = {
        (page.get(f"{GT}[value]"), page.get("searchCriteria[filterGroups][1][filters][0][value]"))
        for page in category_pages.seen
    }
    # id <= 20 and id > 10, then id > 30: nothing else
    assert ("20", "10") in asked and ("30", None) in asked
    assert all(int(a) >= 30 if b is None else a == "20" and 10 <= int(b) < 20 for a, b in asked)
    assert deletes(db_url, "categories") == sorted(str(cid) for cid in inside + last)
    mirrored = live_categories(db_url)
    assert all(cid in mirrored for cid in between)  # not in a range the checkpoint left
    assert mirrored[27] != "Renamed between the ranges"
    assert state(db_url, "default", "categories:checkpoint") is None
    # No usable high water in the checkpoint: no watermark, so the next sync is a full pass.
    assert state(db_url, "default", "categories:watermark") is None
    assert run("sync") == 0
    assert live_categories(db_url) == upstream_categories(emulator)


def test_a_hostile_checkpoint_is_reported_once_even_when_the_pass_is_incremental(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SYNC_RESOURCES", "products,categories")
    assert run("sync") == 0
    put_state(db_url, "default", "backfill_checkpoint", {"ranges": [{"after": -1}]})
    put_state(db_url, "default", "categories:checkpoint", {"ranges": "everything"})
    with caplog.at_level(logging.WARNING):
        assert run("sync") == 0  # incremental: the watermarks are usable
        assert run("sync") == 0
    reports = [r.getMessage() for r in caplog.records if "stored checkpoint" in r.getMessage()]
    assert len(reports) == 2, reports  # one each, in the first of the two runs
    assert state(db_url, "default", "backfill_checkpoint") is None
    assert state(db_url, "default", "categories:checkpoint") is None

"""The event consumer against a scripted ACCS and a scripted journal: duplicated and
reordered events apply once and end equal to upstream; a delete then a re-create of the same
sku ends live; a gap reconciles and resumes at the end; rows and the position commit in one
transaction; readiness goes false when stuck. SQLite only: test_events_kill.py kills a real
consumer on every database."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from sync.api.criteria import SearchCriteria
from sync.api.paging import Page
from sync.clock import FakeClock
from sync.db.schema import categories, inventory_source_items, products, sync_runs
from sync.events.consumer import Consumer, EventsFailed
from sync.events.journal import JournalEvent, JournalGap, JournalPage
from sync.events.state import load_state
from sync.keys import EventKeys
from sync.pipeline import Pipeline
from sync.stats import RunStats
from tests.integration.test_keys_pass_hostile import ScriptedAccs
from tests.unit.test_pipeline import item

pytestmark = pytest.mark.integration
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
#: What the mirror ends holding (upserts, tombstones, revivals, the position) on each database.
EVERY_DATABASE = pytest.mark.parametrize(
    "db_url", ["sqlite", "postgresql", "mariadb"], indirect=True
)
SAVE = "observer.catalog_product_save_commit_after"
DELETE = "observer.catalog_product_delete_commit_after"
STOCK = "observer.cataloginventory_stock_item_save_commit_after"
CATEGORY = "observer.catalog_category_save_after"
RESOURCES = ("products", "categories", "source_items")


class Accs(ScriptedAccs):
    """ScriptedAccs with categories."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__(items)
        self.categories = [{"id": n, "name": f"Cat {n}", "parent_id": 2} for n in (3, 4)]

    def list(self, path: str, criteria: SearchCriteria, store_code: str) -> Page:
        if path == "/V1/categories/list":
            return self._answer(path, criteria, [*self.categories], [])
        return super().list(path, criteria, store_code)

    def _answer(self, path: str, criteria: SearchCriteria, rows: Any, extra: Any) -> Page:
        if path == "/V1/categories/list":
            self.requests.append((path, criteria))
            for (flt,) in criteria.groups:
                if flt.field == "entity_id" and flt.condition == "in":
                    rows = [r for r in rows if str(r["id"]) in flt.value.split(",")]
                elif flt.field == "entity_id" and flt.condition == "gt":
                    rows = [r for r in rows if r["id"] > int(flt.value)]
            rows.sort(key=lambda r: r["id"])
            return Page(rows[: criteria.page_size], len(rows), criteria.page_size)
        return super()._answer(path, criteria, rows, extra)


class Journal:
    """A journal of events; positions are their indexes. ``expired``: positions below it
    answer a gap (410)."""

    def __init__(self) -> None:
        self.events: list[JournalEvent] = []
        self.expired = 0
        self.reads = 0

    def add(self, eid: str, name: str, value: dict[str, Any]) -> None:
        when = datetime(2026, 1, 1, 0, 0, len(self.events) % 60, tzinfo=UTC)
        self.events.append(JournalEvent(str(len(self.events)), eid, name, when, value, "1"))

    def read(self, since: str | None, limit: int) -> JournalPage:
        self.reads += 1
        start = 0 if since is None else int(since) + 1
        if since is not None and int(since) < self.expired:
            raise JournalGap("the event journal answered 410", 410)
        batch = self.events[start : start + limit]
        if not batch:
            return JournalPage(position=since, retry_after=10.0)
        return JournalPage(events=batch, position=batch[-1].position)

    def latest(self) -> JournalPage:
        return JournalPage(position=str(len(self.events) - 1), retry_after=10.0)


def consumer(
    engine: Engine,
    accs: ScriptedAccs,
    journal: Journal,
    clock: FakeClock | None = None,
    wrap: Any = None,
) -> tuple[Consumer, Pipeline]:
    clock = clock or FakeClock()
    pipe = Pipeline(engine, accs, clock, ["default"], 300, resources=RESOURCES, lister=accs)

    def apply(keys: EventKeys, commit: Any) -> RunStats:
        return pipe.run("refetch", keys=keys, commit=wrap(commit) if wrap else commit)

    return (
        Consumer(
            journal=journal,  # type: ignore[arg-type]
            engine=engine,
            apply=apply,
            reconcile=lambda: pipe.run("reconcile"),
            clock=clock,
            batch=50,
            stale_seconds=60,
        ),
        pipe,
    )


def live(engine: Engine) -> dict[int, tuple[str, str]]:
    t = products.c
    with engine.connect() as conn:
        query = sa.select(t.id, t.sku, t.name).where(t.deleted_at.is_(None))
        return {r.id: (r.sku, r.name) for r in conn.execute(query)}


def upstream(accs: ScriptedAccs) -> dict[int, tuple[str, str]]:
    return {i["id"]: (i["sku"], i["name"]) for i in accs.items}


def position(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return load_state(conn).position


@pytest.fixture
def accs(engine: Engine) -> Accs:
    scripted = Accs([item(n) for n in range(1, 11)])
    pipe = Pipeline(
        engine, scripted, FakeClock(), ["default"], 300, resources=RESOURCES, lister=scripted
    )
    assert pipe.run("sync").status == "success"
    scripted.requests.clear()
    return scripted


@EVERY_DATABASE
def test_duplicated_and_reordered_events_apply_once_and_end_equal(
    engine: Engine, accs: Accs, caplog: pytest.LogCaptureFixture
) -> None:
    accs.items = [i for i in accs.items if i["id"] != 3]  # deleted
    accs.items = [dict(i, name="renamed") if i["id"] == 4 else i for i in accs.items]
    accs.items.append(item(11))  # created
    accs.stock = [dict(s, quantity=0) if s["sku"] == "SKU-5" else s for s in accs.stock]
    journal = Journal()
    events = [
        ("a", DELETE, {"entity_id": "3", "sku": "SKU-3"}),
        ("b", SAVE, {"entity_id": "4", "sku": "SKU-4"}),
        ("c", SAVE, {"entity_id": "11", "sku": "SKU-11"}),
        ("d", STOCK, {"product_id": "5", "sku": "SKU-5"}),
    ]
    shuffled = events + events[:2]  # redelivered
    random.Random(3).shuffle(shuffled)
    for event in shuffled:
        journal.add(*event)
    run, _ = consumer(engine, accs, journal)
    with caplog.at_level(logging.INFO, logger="sync.events"):
        steps = run.consume_once()
    assert sum(s.applied for s in steps) == 4 and sum(s.duplicates for s in steps) == 2
    said = [r.getMessage() for r in caplog.records if r.name == "sync.events.consumer"]
    assert any(
        "applied 4 (2 duplicates" in line and "3 products, 1 source_items" in line for line in said
    ), said
    assert live(engine) == upstream(accs)
    with engine.connect() as conn:
        t = inventory_source_items.c
        quantity = conn.execute(
            sa.select(t.quantity).where(t.sku == "SKU-5", t.source_code == "default")
        ).scalar_one()
        runs = conn.execute(sa.select(sync_runs.c.kind, sync_runs.c.status)).all()
    assert quantity == 0
    assert runs[-1] == ("refetch", "success") and len(runs) == 2  # the first sync, one batch
    assert position(engine) == str(len(shuffled) - 1)
    # Read again (a redelivery of the whole batch): nothing changes, the ids are known.
    assert run.step().wait is not None


@EVERY_DATABASE
@pytest.mark.parametrize("order", ["delete first", "create first"])
def test_a_delete_then_a_recreate_of_the_same_sku_ends_live(
    engine: Engine, accs: Accs, order: str
) -> None:
    accs.items = [i for i in accs.items if i["id"] != 3] + [item(33, sku="SKU-3")]
    journal = Journal()
    events = [
        ("del", DELETE, {"entity_id": "3", "sku": "SKU-3"}),
        ("new", SAVE, {"entity_id": "33", "sku": "SKU-3"}),
    ]
    for event in events if order == "delete first" else reversed(events):
        journal.add(*event)
    consumer(engine, accs, journal)[0].consume_once()
    assert live(engine) == upstream(accs)
    assert live(engine)[33][0] == "SKU-3" and 3 not in live(engine)


@EVERY_DATABASE
def test_a_gap_reconciles_and_resumes_at_the_end(engine: Engine, accs: Accs) -> None:
    journal = Journal()
    journal.add("a", SAVE, {"entity_id": "1"})
    run, _ = consumer(engine, accs, journal)
    run.consume_once()
    assert position(engine) == "0"
    # Changes whose events expired while the consumer was down.
    accs.items = [dict(i, name="lost change") if i["id"] == 7 else i for i in accs.items]
    accs.items = [i for i in accs.items if i["id"] != 8]
    for n in range(1, 4):
        journal.add(f"x{n}", SAVE, {"entity_id": "9"})
    journal.expired = 2
    steps = run.consume_once()
    assert steps[0].gap
    assert live(engine) == upstream(accs)
    assert position(engine) == "3"
    with engine.connect() as conn:
        state = load_state(conn)
        kinds = [r.kind for r in conn.execute(sa.select(sync_runs.c.kind))]
    assert state.gap is not None and state.gap["status"] == 410
    assert state.gap["lost_since"] is not None and kinds[-1] == "reconcile"


@EVERY_DATABASE
def test_category_events_refetch_categories_by_id(engine: Engine, accs: Accs) -> None:
    accs.categories = [{"id": 3, "name": "Renamed", "parent_id": 2}]  # 4 deleted
    journal = Journal()
    journal.add("c3", CATEGORY, {"entity_id": "3"})
    journal.add("c4", "observer.catalog_category_delete_after", {"entity_id": "4"})
    consumer(engine, accs, journal)[0].consume_once()
    with engine.connect() as conn:
        t = categories.c
        found = {
            r.id: (r.name, r.deleted_at is None)
            for r in conn.execute(sa.select(t.id, t.name, t.deleted_at))
        }
    assert found == {3: ("Renamed", True), 4: ("Cat 4", False)}


@SQLITE  # the same on every database: test_events_kill.py runs a real SIGKILL on all three
def test_rows_and_the_position_commit_together_or_not_at_all(engine: Engine, accs: Accs) -> None:
    """A crash after the refetch wrote everything and before the commit (here: the commit's
    own step fails after the position was written) leaves neither rows nor position."""
    accs.items = [dict(i, name="renamed") if i["id"] == 4 else i for i in accs.items]
    accs.items = [i for i in accs.items if i["id"] != 5]
    journal = Journal()
    journal.add("a", SAVE, {"entity_id": "4"})
    journal.add("b", DELETE, {"entity_id": "5"})
    crash = [True]

    def wrap(commit: Any) -> Any:
        def crashing(conn: Connection) -> None:
            commit(conn)
            if crash[0]:
                raise RuntimeError("killed between the refetch and the commit")

        return crashing

    before = live(engine)
    run, _ = consumer(engine, accs, journal, wrap=wrap)
    with pytest.raises(EventsFailed, match="position stays"):
        run.step()
    assert live(engine) == before and position(engine) is None
    crash[0] = False
    run.step()
    assert live(engine) == upstream(accs) and position(engine) == "1"


@SQLITE
def test_readiness_goes_false_when_the_consumer_is_stuck_behind(engine: Engine, accs: Accs) -> None:
    clock = FakeClock()
    journal = Journal()
    journal.add("a", SAVE, {"entity_id": "4"})
    run, _ = consumer(engine, accs, journal, clock=clock, wrap=lambda c: _always_fails)
    assert run.ready()[0]
    with pytest.raises(EventsFailed):
        run.step()
    clock.advance(61)
    ok, why = run.ready()
    assert not ok and "SYNC_EVENTS_STALE_SECONDS" in why


def _always_fails(conn: Connection) -> None:
    raise RuntimeError("the database went away")


@SQLITE
@pytest.mark.parametrize(("cap", "wait"), [(None, 10.0), (1.0, 1.0), (30.0, 10.0)])
def test_an_empty_journal_waits_its_retry_after_at_most_the_idle_cap(
    engine: Engine, accs: Accs, cap: float | None, wait: float
) -> None:
    run, _ = consumer(engine, accs, Journal())
    run.idle_seconds = cap
    assert run.step().wait == wait


@SQLITE
def test_a_batch_window_gathers_changes_once_caught_up_and_reads_on_while_behind(
    engine: Engine, accs: Accs
) -> None:
    clock = FakeClock()
    journal = Journal()
    for n in range(1, 4):
        journal.add(f"e{n}", SAVE, {"entity_id": str(n), "sku": f"SKU-{n}"})
    run, _ = consumer(engine, accs, journal, clock=clock)
    run.batch, run.window_seconds = 2, 60.0
    full = run.step()  # 2 of 3 events: the journal has more, read on at once
    assert (full.applied, full.wait) == (2, None)
    caught_up = run.step()  # the last one: wait out the window, gathering what comes
    assert (caught_up.applied, caught_up.wait) == (1, 60.0)
    assert run.step().wait == 60.0  # an empty journal: the window, not only its retry-after
    run.window_seconds = 0.0
    journal.add("e4", SAVE, {"entity_id": "4", "sku": "SKU-4"})
    assert run.step().wait is None  # no window: read on at once, as before
    assert run.step().wait == 10.0


@SQLITE
def test_the_window_counts_from_the_read_not_from_the_commit(engine: Engine, accs: Accs) -> None:
    clock = FakeClock()
    journal = Journal()
    journal.add("e1", SAVE, {"entity_id": "1", "sku": "SKU-1"})
    run, _ = consumer(engine, accs, journal, clock=clock)
    apply = run.apply

    def slow_apply(keys: EventKeys, commit: Any) -> RunStats:
        clock.advance(15)  # the refetch took 15 s
        return apply(keys, commit)

    run.apply, run.window_seconds = slow_apply, 60.0
    assert run.step().wait == 45.0

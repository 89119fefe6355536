"""A run whose database goes away for longer than SYNC_DB_RETRY_SECONDS, driven by a fake clock:
it stops at a page boundary, says what it committed, and says when its own outcome could not be
recorded; the next run marks it abandoned and resumes."""

from __future__ import annotations

from typing import Any

import psycopg.errors
import sqlalchemy as sa
from sqlalchemy import Engine, event

from sync.clock import FakeClock
from sync.db.faults import DatabaseUnavailable
from sync.db.state import recent_runs
from sync.pipeline import Pipeline
from tests.unit.test_pipeline import ScriptedCatalog, engine, item, skus

__all__ = ["engine"]  # the fixture, shared with test_pipeline


class Outage:
    """Once ``after`` pages' products are written, every statement matching one of ``prefixes``
    fails as a terminated connection does."""

    def __init__(self, engine: Engine, prefixes: tuple[str, ...], after: int = 0) -> None:
        self.engine, self.prefixes, self.after = engine, prefixes, after
        self.pages = 0

    def __enter__(self) -> Outage:
        event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)

    def down(self) -> bool:
        return self.pages >= self.after

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        text = statement.lstrip().upper()
        if text.startswith(self.prefixes) and self.down():
            orig = psycopg.errors.lookup("57P01")("terminating connection")
            raise sa.exc.OperationalError(statement, parameters, orig, connection_invalidated=True)
        if text.startswith("INSERT INTO PRODUCTS"):
            self.pages += 1


def pipeline(engine: Engine, catalog: ScriptedCatalog, clock: FakeClock) -> Pipeline:
    return Pipeline(
        engine, catalog, clock, ["default"], page_size=10, concurrency=1, db_retry_seconds=30
    )


def test_an_outcome_that_cannot_be_recorded_is_reported_and_the_next_run_resumes(
    engine: Engine,
) -> None:
    catalog = ScriptedCatalog([item(n) for n in range(1, 46)])
    clock = FakeClock()
    # Two pages are written; from the third (its run counters fail) neither a page nor the
    # run's outcome can be.
    with Outage(engine, ("INSERT INTO PRODUCTS", "UPDATE SYNC_RUNS"), after=3):
        stats = pipeline(engine, catalog, clock).run("backfill")
    assert stats.status == "failed"
    assert isinstance(stats.exception, DatabaseUnavailable)
    assert stats.error is not None
    assert stats.error.startswith(
        "the database stopped answering (connection lost) at 00:00:00 UTC and still failed "
        "after 30s (SYNC_DB_RETRY_SECONDS; AdminShutdown 57P01: terminating connection); "
        "this run committed 2 pages (20 products written) before it; the next run resumes "
        "from there; run 1 could not be recorded as failed in sync_runs"
    ), stats.error
    assert stats.pages == 2 and stats.products == 20
    assert 59 <= sum(clock.sleeps) <= 60.01  # the page's 30 s, then the outcome's 30 s
    assert [r.status for r in recent_runs(engine)] == ["running"]

    again = pipeline(engine, catalog, FakeClock()).run("backfill")
    assert again.status == "success"
    assert again.stores[0].mode == "full (resumed)" and again.products == 25
    assert len(skus(engine)) == 45
    assert [r.status for r in recent_runs(engine)] == ["success", "abandoned"]


def test_a_page_written_again_after_a_lost_connection_counts_once(engine: Engine) -> None:
    catalog = ScriptedCatalog([item(n) for n in range(1, 26)])

    class Twice(Outage):
        """The second page's first two attempts fail."""

        failed = 0

        def down(self) -> bool:
            if self.pages == 1 and self.failed < 2:
                self.failed += 1
                return True
            return False

    clock = FakeClock()
    with Twice(engine, ("INSERT INTO PRODUCTS",)):
        stats = pipeline(engine, catalog, clock).run("backfill")
    assert stats.status == "success", stats.error
    assert (stats.pages, stats.products) == (3, 25)
    [run] = recent_runs(engine)
    assert (run.pages, run.products_written) == (3, 25)
    assert len(clock.sleeps) == 2

"""A database that drops its connections, or goes away for a while, during a concurrent backfill.

The run in this process (``accs-sync backfill`` through :func:`sync.cli.main`) writes to a real
PostgreSQL or MariaDB; a hook on every engine (SQLAlchemy's class-level events) picks the moment:
just before the Nth page's products are written, an admin connection terminates every other
connection of the scratch database (``pg_terminate_backend`` / ``KILL CONNECTION``), as a
failover or a restart does, so each fault lands inside a page's transaction. For an outage
longer than ``SYNC_DB_RETRY_SECONDS`` new connections are refused as well, for a while.
SQLite has no server to lose, so these run on the two servers only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from sync.cli import main
from sync.db.engine import make_engine, normalize_url
from sync.db.lock import AlreadyRunning, LockLost, instance_lock
from sync.db.state import ERROR_MAX, finish_run, recent_runs, start_run
from sync.emulator import EmulatorServer, RequestRecord
from tests.integration.mirror import assert_mirror_equals_upstream, page_requests, runs

SERVERS = pytest.mark.parametrize("db_url", ["postgresql", "mariadb"], indirect=True)
ERROR_CAP = 2000


class Faults:
    """Terminates the scratch database's connections before chosen page writes, and refuses new
    connections for ``down_for`` seconds after the last of them (0: never refuses)."""

    def __init__(self, db_url: str, at: set[int], down_for: float = 0.0) -> None:
        self.url = normalize_url(db_url)
        self.postgres = self.url.get_backend_name() == "postgresql"
        self.admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.at = at
        self.down_for = down_for
        self.writes = 0
        self.terminated: list[int] = []
        self.down_until: float | None = None
        self.refused = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Faults:
        event.listen(Engine, "before_cursor_execute", self._before_execute)
        event.listen(Engine, "do_connect", self._do_connect)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._before_execute)
        event.remove(Engine, "do_connect", self._do_connect)
        self.admin.dispose()

    def _before_execute(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if conn.engine is self.admin or not statement.lstrip().upper().startswith(
            "INSERT INTO PRODUCTS"
        ):
            return
        with self._lock:
            self.writes += 1
            if self.writes not in self.at:
                return
            self.terminated.append(self.terminate())
            if self.down_for and self.writes == max(self.at):
                self.down_until = time.monotonic() + self.down_for

    def _do_connect(self, dialect: Any, *_: Any) -> None:
        if dialect is self.admin.dialect or self.down_until is None:
            return
        if time.monotonic() >= self.down_until:
            return
        self.refused += 1
        if self.postgres:
            raise psycopg.OperationalError("connection failed: Connection refused")
        raise pymysql.err.OperationalError(2003, "Can't connect to MySQL server (refused)")

    def terminate(self) -> int:
        """Every connection of the database but the admin's own; returns how many."""
        with self.admin.connect() as conn:
            if self.postgres:
                return len(
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    ).all()
                )
            ids = conn.execute(
                sa.text(
                    "SELECT ID FROM information_schema.PROCESSLIST "
                    "WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
                )
            ).scalars()
            killed = 0
            for thread_id in ids:
                try:
                    conn.execute(sa.text(f"KILL CONNECTION {int(thread_id)}"))
                    killed += 1
                except sa.exc.OperationalError:  # it ended meanwhile
                    pass
            return killed


@pytest.fixture
def backfill_env(sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SYNC_PAGE_SIZE", "30")  # 25 pages of 750 products
    monkeypatch.setenv("SYNC_CONCURRENCY", "4")
    monkeypatch.setenv("SYNC_RESOURCES", "products")
    yield


def _pages(emulator: EmulatorServer) -> list[RequestRecord]:
    """The product pages served (not the one-item probes)."""
    return [r for r in page_requests(emulator) if r.params()["searchCriteria[pageSize]"] != "1"]


def _assert_no_sql(errors: list[str | None], emulator: EmulatorServer) -> None:
    descriptions = {
        str(a.get("value"))
        for item in emulator.catalog.items("default")
        for a in item.get("custom_attributes", [])
        if a.get("attribute_code") == "description"
    }
    assert descriptions
    for error in errors:
        if error is None:
            continue
        assert len(error) <= ERROR_CAP
        for word in ("INSERT", "SELECT", "UPDATE", "[SQL", "parameters"):
            assert word not in error, error
        assert not any(d in error for d in descriptions), error


@SERVERS
def test_connections_terminated_three_times_during_a_concurrent_backfill(
    backfill_env: None,
    emulator: EmulatorServer,
    db_url: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with Faults(db_url, at={3, 9, 16}) as faults:
        code = main(["backfill"])
    out, err = capfd.readouterr()
    assert faults.writes >= 25 and len(faults.terminated) == 3 and all(faults.terminated), (
        faults.terminated
    )
    assert code == 0, err
    assert "Traceback" not in err, err
    # A page written again after a fault counts once: every product and page once.
    pages = len(_pages(emulator))
    assert f"success: 750 products, {pages} pages" in out, out
    assert_mirror_equals_upstream(db_url, emulator, deleted=())
    [run] = runs(db_url)
    assert (run["status"], run["products_written"], run["pages"]) == ("success", 750, pages)
    _assert_no_sql([run["error"]], emulator)


@SERVERS
def test_an_outage_longer_than_the_bound_stops_with_one_line_and_the_next_run_resumes(
    backfill_env: None,
    emulator: EmulatorServer,
    db_url: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNC_DB_RETRY_SECONDS", "2")
    # Down for 3.5 s from the first fault: longer than the bound (the page gives up 2 s after
    # its first failure), back while the run records its failure (within 2 s more).
    with Faults(db_url, at={8}, down_for=3.5) as faults:
        started = time.monotonic()
        code = main(["backfill"])
        took = time.monotonic() - started
    out, err = capfd.readouterr()
    assert faults.refused > 0
    assert code == 1, err
    assert took < 15, took
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("accs-sync: error:")]
    assert len(errors) == 1, err
    [line] = errors
    assert "the database stopped answering (connection lost)" in line, line
    assert " UTC" in line and "SYNC_DB_RETRY_SECONDS" in line, line
    assert "committed" in line and "next run resumes" in line, line
    [failed] = runs(db_url)
    assert failed["status"] == "failed", failed
    assert failed["error"] and "the database stopped answering" in failed["error"]

    assert main(["backfill"]) == 0
    out, err = capfd.readouterr()
    assert "full (resumed)" in out, out
    assert_mirror_equals_upstream(db_url, emulator, deleted=())
    log = runs(db_url)
    assert [r["status"] for r in log] == ["failed", "success"]
    assert sum(r["products_written"] for r in log) == 750
    _assert_no_sql([r["error"] for r in log], emulator)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_database_error_in_a_run_is_stored_and_printed_without_its_sql(
    backfill_env: None,
    emulator: EmulatorServer,
    db_url: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def broken(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> Any:
        # A table that is not there: an error no retry can fix, raised with a page's SQL.
        return statement.replace(
            "INSERT INTO products ", "INSERT INTO products_gone ", 1
        ), parameters

    event.listen(Engine, "before_cursor_execute", broken, retval=True)
    try:
        code = main(["backfill"])
    finally:
        event.remove(Engine, "before_cursor_execute", broken)
    _, err = capfd.readouterr()
    assert code == 1, err
    assert "Traceback" not in err and "INSERT" not in err, err
    [line] = [line for line in err.splitlines() if line.startswith("accs-sync: error:")]
    assert line == (
        "accs-sync: error: database error (OperationalError SQLITE_ERROR: no such table: "
        "products_gone)"
    ), line
    [run] = runs(db_url)
    assert run["status"] == "failed" and run["error"] == line.removeprefix("accs-sync: error: ")
    _assert_no_sql([run["error"], err], emulator)


@pytest.mark.parametrize("db_url", ["sqlite", "mariadb"], indirect=True)
def test_a_stored_error_is_capped(engine: Engine) -> None:
    run_id = start_run(engine, "sync", ["default"], datetime(2026, 1, 1))
    finish_run(engine, run_id, "failed", datetime(2026, 1, 1), "x" * 100_000)
    [run] = recent_runs(engine)
    assert run.error is not None and len(run.error) == ERROR_MAX


@SERVERS
def test_a_run_lock_lost_with_its_connection_is_taken_again_or_the_run_stops(db_url: str) -> None:
    """Terminating the connections ends the run lock's session too, and the server drops the
    lock with it: the run takes it again before it writes, or stops if another run has it."""
    engine, other = make_engine(db_url), make_engine(db_url)
    try:
        with Faults(db_url, at=set()) as faults, instance_lock(engine) as lock:
            assert faults.terminate() >= 1
            lock.ensure()  # taken again on a fresh connection
            with pytest.raises(AlreadyRunning), instance_lock(other):
                pytest.fail("two runs hold the lock")
            lock.ensure()  # still held: nothing to do
            faults.terminate()
            with instance_lock(other):  # another run starts while this one's session is gone
                with pytest.raises(LockLost) as caught:
                    lock.ensure()
            assert "another accs-sync run" in caught.value.message
    finally:
        engine.dispose()
        other.dispose()

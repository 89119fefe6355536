"""Database faults: which are retried, how they are described (never with SQL), and the retry
of a unit of work (bounded, jittered, through the clock, stoppable, counted once)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator

import psycopg
import psycopg.errors
import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event

from sync.clock import FakeClock
from sync.db.engine import make_engine
from sync.db.faults import DatabaseUnavailable, Fault, classify, describe
from sync.db.retry import Transactions, after_commit
from sync.errors import Interrupted

STATEMENT = "INSERT INTO products (id, data) VALUES (%(id)s, %(data)s)"
PARAMS = {"id": 7, "data": "<p>The Atlas line is built for the trail.</p>"}


def wrapped(orig: BaseException, *, invalidated: bool = False) -> sa.exc.DBAPIError:
    """``orig`` as SQLAlchemy raises it: with the statement and its parameters."""
    return sa.exc.OperationalError(STATEMENT, PARAMS, orig, connection_invalidated=invalidated)


def pg(code: str, message: str = "boom") -> BaseException:
    return psycopg.errors.lookup(code)(message)


def my(code: int, message: str = "boom") -> BaseException:
    return pymysql.err.OperationalError(code, message)


@pytest.mark.parametrize(
    ("orig", "invalidated", "fault"),
    [
        (
            pg("57P01", "terminating connection due to administrator command"),
            False,
            Fault("connection lost", "57P01"),
        ),
        (pg("57P02"), False, Fault("connection lost", "57P02")),
        (
            pg("57P03", "the database system is starting up"),
            False,
            Fault("connection lost", "57P03"),
        ),
        (pg("08006"), False, Fault("connection lost", "08006")),
        (pg("40001"), False, Fault("serialization failure", "40001")),
        (pg("40P01", "deadlock detected"), False, Fault("deadlock", "40P01")),
        (pg("55P03"), False, Fault("lock wait timeout", "55P03")),
        (
            psycopg.OperationalError("connection failed: Connection refused"),
            False,
            Fault("connection lost"),
        ),
        (
            psycopg.OperationalError("consuming input failed: server closed the connection"),
            True,
            Fault("connection lost"),
        ),
        (my(2013), True, Fault("connection lost", "2013")),
        (my(2006), False, Fault("connection lost", "2006")),
        (my(2003), False, Fault("connection lost", "2003")),
        (my(1927), False, Fault("connection lost", "1927")),
        (my(4031), False, Fault("connection lost", "4031")),
        (my(1205), False, Fault("lock wait timeout", "1205")),
        (my(1213), False, Fault("deadlock", "1213")),
        (sqlite3.OperationalError("database is locked"), False, Fault("database is locked")),
        # Not retried: retrying cannot fix them.
        (pg("23505", "duplicate key value violates unique constraint"), False, None),
        (pg("22001", "value too long for type character varying(64)"), False, None),
        (pg("28P01", "password authentication failed"), False, None),
        (pymysql.err.OperationalError(1045, "Access denied for user"), False, None),
        (pymysql.err.DataError(1406, "Data too long for column 'sku'"), False, None),
        (sqlite3.OperationalError("no such table: products"), False, None),
    ],
)
def test_faults_worth_a_fresh_connection_are_told_apart(
    orig: BaseException, invalidated: bool, fault: Fault | None
) -> None:
    found = classify(wrapped(orig, invalidated=invalidated))
    assert (found and found.what) == (fault and fault.what)
    if found is not None and fault is not None and fault.code is not None:
        assert found.code == fault.code


def test_a_bug_is_not_a_database_fault() -> None:
    assert classify(ValueError("x")) is None
    assert classify(sa.exc.ArgumentError("x")) is None


@pytest.mark.parametrize(
    ("orig", "expected"),
    [
        (
            pg("57P01", "terminating connection due to administrator command"),
            "AdminShutdown 57P01: terminating connection due to administrator command",
        ),
        (
            pg(
                "23505", 'duplicate key value violates unique constraint "pk"\nDETAIL: Key (id)=(7)'
            ),
            'UniqueViolation 23505: duplicate key value violates unique constraint "pk"',
        ),
        (
            pymysql.err.OperationalError(2013, "Lost connection to server during query"),
            "OperationalError 2013: Lost connection to server during query",
        ),
        (sqlite3.OperationalError("database is locked"), "OperationalError: database is locked"),
        (
            psycopg.OperationalError("bad \x1b[31m\u202e text\nsecond line"),
            "OperationalError: bad \\x1b[31m\\u202e text",
        ),
    ],
)
def test_a_database_error_is_described_without_sql(orig: BaseException, expected: str) -> None:
    text = describe(wrapped(orig))
    assert text.removeprefix("OperationalError ") == expected.removeprefix("OperationalError ")
    assert "INSERT" not in text and "Atlas" not in text and "\n" not in text


def test_a_description_is_short_and_passes_the_secret_filter() -> None:
    orig = psycopg.OperationalError("password s3cr3t-value rejected " + "x" * 5000)
    text = describe(wrapped(orig), scrub=lambda t: t.replace("s3cr3t-value", "***"))
    assert "s3cr3t-value" not in text and "***" in text
    assert len(text) < 400
    # SQLAlchemy's own errors (no driver exception) keep their first line only.
    statement = sa.exc.StatementError("A value is required", STATEMENT, PARAMS, None)
    assert describe(statement) == "StatementError: A value is required"


# -- the retry of a unit of work ---------------------------------------------------------------


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = sa.create_engine("sqlite://")
    try:
        yield engine
    finally:
        engine.dispose()


def failing(
    times: int,
    orig: BaseException,
    then: Callable[[Connection], int],
    invalidated: bool = True,
) -> Callable[[Connection], int]:
    left = [times]

    def work(conn: Connection) -> int:
        if left[0]:
            left[0] -= 1
            after_commit(lambda: pytest.fail("an effect of a failed attempt ran"))
            raise wrapped(orig, invalidated=invalidated)
        return then(conn)

    return work


def test_a_lost_connection_is_retried_with_growing_jittered_pauses(engine: Engine) -> None:
    clock = FakeClock()
    counted: list[int] = []

    def page(conn: Connection) -> int:
        after_commit(lambda: counted.append(1))
        return int(conn.execute(sa.text("SELECT 41 + 1")).scalar_one())

    db = Transactions(engine, clock, retry_seconds=60, jitter=lambda: 1.0)
    lost = pg("57P01", "terminating connection due to administrator command")
    assert db.write(failing(5, lost, page)) == 42
    assert counted == [1]  # the page's effects once, after its commit
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0, 4.0]
    half = Transactions(engine, clock, retry_seconds=60, jitter=lambda: 0.0)
    clock.sleeps.clear()
    assert half.write(failing(2, lost, page)) == 42
    assert clock.sleeps == [0.125, 0.25]


def test_past_the_bound_the_error_says_what_since_when_and_the_setting(engine: Engine) -> None:
    clock = FakeClock()
    db = Transactions(engine, clock, retry_seconds=10)
    lost = pymysql.err.OperationalError(2013, "Lost connection to server during query")
    with pytest.raises(DatabaseUnavailable) as caught:
        db.write(failing(1000, lost, lambda conn: 0))
    message = caught.value.message
    assert message.startswith(
        "the database stopped answering (connection lost) at 00:00:00 UTC and still failed "
        "after 10s (SYNC_DB_RETRY_SECONDS; OperationalError 2013: Lost connection"
    ), message
    assert "INSERT" not in message and "Atlas" not in message
    assert sum(clock.sleeps) == pytest.approx(10)  # the last pause ends at the bound
    deadlock = pg("40P01", "deadlock detected")
    with pytest.raises(DatabaseUnavailable) as caught:
        db.read(failing(1000, deadlock, lambda conn: 0, invalidated=False))
    assert "kept failing the page's transaction (deadlock) since 00:00" in caught.value.message


def test_a_stop_request_ends_the_wait(engine: Engine) -> None:
    stop = threading.Event()
    clock = FakeClock()
    db = Transactions(engine, clock, stop, retry_seconds=60)

    def work(conn: Connection) -> int:
        stop.set()  # SIGTERM arrives while the database is away
        raise wrapped(pg("57P01"), invalidated=True)

    with pytest.raises(Interrupted):
        db.write(work)
    assert len(clock.sleeps) == 1


def test_other_errors_are_not_retried(engine: Engine) -> None:
    clock = FakeClock()
    db = Transactions(engine, clock)
    with pytest.raises(sa.exc.OperationalError):
        db.write(failing(1, pg("23505"), lambda conn: 0, invalidated=False))
    assert clock.sleeps == []


def test_outside_a_transaction_an_effect_runs_at_once() -> None:
    ran: list[int] = []
    after_commit(lambda: ran.append(1))
    assert ran == [1]


@pytest.mark.parametrize(
    ("url", "timeout"),
    [
        ("postgresql://u@127.0.0.1:1/db", 10),
        ("postgresql://u@127.0.0.1:1/db?connect_timeout=3", "3"),
        ("mysql://u@127.0.0.1:1/db", 10),
    ],
)
def test_a_server_that_vanished_fails_a_connect_in_seconds(url: str, timeout: object) -> None:
    engine = make_engine(url)
    seen: list[dict[str, object]] = []

    def refuse(
        _dialect: object, _record: object, _cargs: object, cparams: dict[str, object]
    ) -> None:
        seen.append(dict(cparams))
        raise RuntimeError("refused before any network")

    event.listen(engine, "do_connect", refuse)
    try:
        with pytest.raises(RuntimeError):
            engine.connect()
    finally:
        engine.dispose()
    assert seen and seen[0]["connect_timeout"] == timeout


def test_the_run_lock_is_checked_before_each_retry_and_only_then(engine: Engine) -> None:
    """A lost connection may have taken the run lock's session with it: before a unit of work
    runs again, the guard checks (or takes again) the lock; a first attempt costs no check."""
    clock = FakeClock()
    checks: list[int] = []
    db = Transactions(engine, clock, retry_seconds=60)
    db.guard = lambda: checks.append(1)
    lost = pg("57P01", "terminating connection due to administrator command")
    assert db.write(failing(2, lost, lambda conn: 7)) == 7
    assert checks == [1, 1]
    assert db.write(lambda conn: 8) == 8
    assert checks == [1, 1]

    def refused() -> None:
        raise Interrupted("another run took the lock")

    db.guard = refused
    with pytest.raises(Interrupted):
        db.write(failing(1, lost, lambda conn: 9))

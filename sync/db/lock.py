"""One accs-sync run per database at a time (a daemon and a cron job must not interleave).

Held for the whole run on a dedicated connection: PostgreSQL's session advisory lock, MySQL's
GET_LOCK, or, for SQLite, ``flock`` on a ``<database>.lock`` file beside the database's real
path (symbolic links resolved, so two spellings of one file share the lock; the lock file
itself is never a link). All three vanish
with the process that holds them, so a crashed run never leaves the mirror locked.

A run that finds the lock taken waits for it, asking again every few seconds, for up to
``SYNC_LOCK_WAIT_SECONDS``: a cron-style ``sync`` that meets the nightly ``reconcile`` (or the
reconcile that meets a sync) runs once the other has finished. When the wait runs out it
raises :class:`AlreadyRunning`, whose exit code 3 says "did nothing, another run is mirroring"
(the Kubernetes CronJobs do not count it as a failure).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from sync.clock import Clock, SystemClock
from sync.errors import AccsSyncError, Interrupted
from sync.lockfile import open_lock_file

__all__ = [
    "EXIT_BUSY",
    "AlreadyRunning",
    "LockLost",
    "RunLock",
    "instance_lock",
    "mysql_lock_name",
]

log = logging.getLogger(__name__)

_LOCK_NAME = "accs_sync_run"
_PG_KEY = 0x4143_4353_5255_4E31 & 0x7FFF_FFFF_FFFF_FFFF  # "ACCSRUN1"
#: The exit code of a run that did nothing because another run held the lock.
EXIT_BUSY = 3
#: How often a waiting run asks for the lock again.
POLL_SECONDS = 5.0


def mysql_lock_name(database: str | None, prefix: str = _LOCK_NAME) -> str:
    """GET_LOCK names are server-wide (PostgreSQL's advisory locks are per database): include
    the database, hashed to stay within MySQL's 64-character limit, so mirrors into two
    databases on one server do not block each other (the migration lock uses it too)."""
    digest = hashlib.sha256((database or "").encode()).hexdigest()[:32]
    return f"{prefix}.{digest}"


class AlreadyRunning(AccsSyncError):
    """Another accs-sync run holds this database's run lock (for longer than this run waits)."""

    exit_code = EXIT_BUSY


def _busy(waited: float) -> AlreadyRunning:
    how_long = (
        f"waited {waited:g}s for it (SYNC_LOCK_WAIT_SECONDS)"
        if waited > 0
        else "SYNC_LOCK_WAIT_SECONDS=0: no wait"
    )
    return AlreadyRunning(
        "another accs-sync run is using this database right now (a daemon or another sync); "
        f"this one did nothing ({how_long}). Try again when it has finished."
    )


@contextmanager
def instance_lock(
    engine: Engine,
    *,
    wait_seconds: float = 0.0,
    clock: Clock | None = None,
    poll_seconds: float = POLL_SECONDS,
    stop: threading.Event | None = None,
) -> Iterator[RunLock]:
    """Hold the run lock (yielded: see :meth:`RunLock.ensure`); while another run holds it,
    wait up to ``wait_seconds`` (asking every ``poll_seconds``), then raise
    :class:`AlreadyRunning`. A ``stop`` set while waiting raises
    :class:`~sync.errors.Interrupted` (nothing was done)."""
    clock = clock or SystemClock(stop)
    deadline = clock.monotonic() + wait_seconds
    announced = False
    while True:
        with _attempt(engine) as held:
            if held is not None:
                if announced:
                    log.info("the other run has finished; this one starts")
                yield held
                return
        if stop is not None and stop.is_set():
            raise Interrupted("stop requested while waiting for the run lock; nothing was done")
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            raise _busy(wait_seconds)
        if not announced:
            log.info(
                "another accs-sync run is using this database; waiting up to %gs for it "
                "(SYNC_LOCK_WAIT_SECONDS)",
                wait_seconds,
            )
            announced = True
        clock.sleep(min(poll_seconds, remaining))


class RunLock:
    """The run lock while it is held. On a server it lives in its connection's session, and a
    failover or a restart ends that session and drops the lock with it: :meth:`ensure` (called
    before a page is written again after a lost connection, see :mod:`sync.db.retry`) takes it
    again on a fresh connection, or raises :class:`LockLost` when another run has it by then."""

    def __init__(self, engine: Engine | None = None, conn: sa.Connection | None = None) -> None:
        self._engine = engine
        self._conn = conn
        self._mutex = threading.Lock()

    def ensure(self) -> None:
        """Return when the lock is still (or again) this run's; a database that does not
        answer raises its own error (retried by the caller), another holder :class:`LockLost`."""
        if self._engine is None:
            return  # SQLite's flock belongs to the process, not to a connection
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(sa.select(1))
                    self._conn.commit()
                    return  # the session is alive, and so is its lock
                except sa.exc.SQLAlchemyError:
                    self._drop()
            conn = _locked_connection(self._engine)
            if conn is None:
                raise LockLost(
                    "the database dropped this run's lock with its connection, and another "
                    "accs-sync run holds it now: this run stops (every page committed before "
                    "is kept; the other run carries on)"
                )
            self._conn = conn
            log.warning("the run lock ended with its database connection; it is this run's again")

    def _drop(self) -> None:
        """Forget a connection whose session (and lock) is gone."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.invalidate()
            conn.close()
        except sa.exc.SQLAlchemyError:  # nothing is left to close
            log.debug("closing the run lock's lost connection failed", exc_info=True)

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            _unlock(self._conn)
            self._conn.close()
        except sa.exc.SQLAlchemyError:
            # The connection is gone, and the server released the lock with it.
            log.debug("could not release the run lock", exc_info=True)
            self._drop()


class LockLost(AccsSyncError):
    """Another run took the run lock while this run's connection (holding it) was gone."""


def _lock_name(conn: sa.Connection) -> str:
    return mysql_lock_name(conn.execute(sa.select(sa.func.database())).scalar())


def _try_lock(conn: sa.Connection) -> bool:
    if conn.dialect.name == "postgresql":
        got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(_PG_KEY))).scalar()
    else:
        got = conn.execute(sa.select(sa.func.get_lock(_lock_name(conn), 0))).scalar()
    conn.commit()
    return bool(got)


def _locked_connection(engine: Engine) -> sa.Connection | None:
    """A new connection whose session holds the server's run lock; None when it is taken."""
    conn = engine.connect()
    try:
        if _try_lock(conn):
            return conn
    except BaseException:
        conn.close()
        raise
    conn.close()
    return None


def _unlock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_unlock(_PG_KEY)))
    else:
        conn.execute(sa.select(sa.func.release_lock(_lock_name(conn))))
    conn.commit()


@contextmanager
def _attempt(engine: Engine) -> Iterator[RunLock | None]:
    """Try the lock once: yields the held lock (released on exit), None if busy."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield RunLock()  # a private in-memory database cannot be shared
            return
        # The real path: the same file reached through a link must meet the same lock.
        real = Path(os.path.realpath(database))
        fd = open_lock_file(real.with_name(real.name + ".lock"), "DATABASE_URL")
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            try:
                yield RunLock()
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return
    conn = _locked_connection(engine)
    if conn is None:
        yield None
        return
    lock = RunLock(engine, conn)
    try:
        yield lock
    finally:
        lock.release()

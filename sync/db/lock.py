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

__all__ = ["EXIT_BUSY", "AlreadyRunning", "instance_lock", "mysql_lock_name"]

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
) -> Iterator[None]:
    """Hold the run lock; while another run holds it, wait up to ``wait_seconds`` (asking
    every ``poll_seconds``), then raise :class:`AlreadyRunning`. A ``stop`` set while waiting
    raises :class:`~sync.errors.Interrupted` (nothing was done)."""
    clock = clock or SystemClock(stop)
    deadline = clock.monotonic() + wait_seconds
    announced = False
    while True:
        with _attempt(engine) as got:
            if got:
                if announced:
                    log.info("the other run has finished; this one starts")
                yield
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


@contextmanager
def _attempt(engine: Engine) -> Iterator[bool]:
    """Try the lock once: yields True while holding it (released on exit), False if busy."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield True  # a private in-memory database cannot be shared
            return
        # The real path: the same file reached through a link must meet the same lock.
        real = Path(os.path.realpath(database))
        fd = open_lock_file(real.with_name(real.name + ".lock"), "DATABASE_URL")
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return
    with engine.connect() as conn:
        if dialect == "postgresql":
            got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(_PG_KEY))).scalar()
            release = sa.select(sa.func.pg_advisory_unlock(_PG_KEY))
        else:
            name = mysql_lock_name(conn.execute(sa.select(sa.func.database())).scalar())
            got = conn.execute(sa.select(sa.func.get_lock(name, 0))).scalar()
            release = sa.select(sa.func.release_lock(name))
        conn.commit()
        if not got:
            yield False
            return
        try:
            yield True
        finally:
            try:
                conn.execute(release)
                conn.commit()
            except sa.exc.DBAPIError:
                # The connection is gone, and the server released the lock with it.
                log.debug("could not release the run lock", exc_info=True)

"""One accs-sync run per database at a time (a daemon and a cron job must not interleave).

Held for the whole run on a dedicated connection: PostgreSQL's session advisory lock, MySQL's
GET_LOCK, or, for SQLite, ``flock`` on a ``<database>.lock`` file beside the database's real
path (symbolic links resolved, so two spellings of one file share the lock; the lock file
itself is never a link). All three vanish
with the process that holds them, so a crashed run never leaves the mirror locked.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from sync.errors import AccsSyncError
from sync.lockfile import open_lock_file

__all__ = ["AlreadyRunning", "instance_lock", "mysql_lock_name"]

log = logging.getLogger(__name__)

_LOCK_NAME = "accs_sync_run"
_PG_KEY = 0x4143_4353_5255_4E31 & 0x7FFF_FFFF_FFFF_FFFF  # "ACCSRUN1"


def mysql_lock_name(database: str | None, prefix: str = _LOCK_NAME) -> str:
    """GET_LOCK names are server-wide (PostgreSQL's advisory locks are per database): include
    the database, hashed to stay within MySQL's 64-character limit, so mirrors into two
    databases on one server do not block each other (the migration lock uses it too)."""
    digest = hashlib.sha256((database or "").encode()).hexdigest()[:32]
    return f"{prefix}.{digest}"


class AlreadyRunning(AccsSyncError):
    """Another accs-sync run holds this database's run lock."""


def _busy() -> AlreadyRunning:
    return AlreadyRunning(
        "another accs-sync run is using this database right now (a daemon or another sync); "
        "this one did nothing. Try again when it has finished."
    )


@contextmanager
def instance_lock(engine: Engine) -> Iterator[None]:
    """Hold the run lock, or raise :class:`AlreadyRunning` at once."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield  # a private in-memory database cannot be shared
            return
        # The real path: the same file reached through a link must meet the same lock.
        real = Path(os.path.realpath(database))
        fd = open_lock_file(real.with_name(real.name + ".lock"), "DATABASE_URL")
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _busy() from None
            try:
                yield
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
            raise _busy()
        try:
            yield
        finally:
            try:
                conn.execute(release)
                conn.commit()
            except sa.exc.DBAPIError:
                # The connection is gone, and the server released the lock with it.
                log.debug("could not release the run lock", exc_info=True)

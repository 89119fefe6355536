"""Database errors, decided in one place: which are worth retrying, and how to say what happened
without SQL.

SQLAlchemy's exception text carries the whole statement and its parameters (a page of products:
tens of kilobytes of descriptions). Nothing of it may reach a log line, an error, ``sync_runs``
or ``status``: :func:`describe` renders a database error from the driver's exception (``orig``)
only: its class, its code (SQLSTATE, MySQL error number) and the first line of its message,
with control characters escaped.

:func:`classify` says whether retrying on a fresh connection can help:

* the connection is gone (SQLAlchemy invalidated it; PostgreSQL SQLSTATE ``08xxx``, ``57P01``
  to ``57P03`` (shutdown, crash, starting up); a libpq failure with no SQLSTATE (refused,
  reset); MySQL/MariaDB 2002, 2003, 2006, 2013, 2055, 1053, 1927, 4031): a failover or restart;
* the transaction lost a race: deadlock (``40P01``, 1213), serialization failure (``40001``),
  lock wait timeout (``55P03``, 1205), SQLite's "database is locked".

Everything else (a constraint, a type, a full disk, a wrong password) is not retried.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError

from sync.errors import AccsSyncError
from sync.redact import escape_control

__all__ = [
    "CONNECTION_LOST",
    "DatabaseFailed",
    "DatabaseUnavailable",
    "Fault",
    "classify",
    "describe",
]

CONNECTION_LOST = "connection lost"
_DEADLOCK, _SERIALIZATION, _LOCK_WAIT, _LOCKED = (
    "deadlock",
    "serialization failure",
    "lock wait timeout",
    "database is locked",
)

_PG_CODES = {
    "40001": _SERIALIZATION,
    "40P01": _DEADLOCK,
    "55P03": _LOCK_WAIT,
    "57P01": CONNECTION_LOST,  # admin_shutdown: pg_terminate_backend, a fast shutdown
    "57P02": CONNECTION_LOST,  # crash_shutdown
    "57P03": CONNECTION_LOST,  # cannot_connect_now: starting up, shutting down
}
_MYSQL_CODES = {
    1205: _LOCK_WAIT,
    1213: _DEADLOCK,
    1053: CONNECTION_LOST,  # server shutdown in progress
    1927: CONNECTION_LOST,  # MariaDB: connection was killed
    2002: CONNECTION_LOST,  # cannot connect (socket)
    2003: CONNECTION_LOST,  # cannot connect (TCP): the server is restarting
    2006: CONNECTION_LOST,  # server has gone away
    2013: CONNECTION_LOST,  # lost connection during query
    2055: CONNECTION_LOST,  # lost connection (system error)
    4031: CONNECTION_LOST,  # MySQL 8: disconnected by the server (idle timeout)
}
#: Longest first line of a driver's message kept in a description.
_MESSAGE_MAX = 300


@dataclass(frozen=True)
class Fault:
    """A retriable database failure: ``what`` in words (``connection lost``, ``deadlock``, ...)
    and the driver's ``code`` when it has one."""

    what: str
    code: str | None = None

    @property
    def connection(self) -> bool:
        return self.what == CONNECTION_LOST


class DatabaseFailed(AccsSyncError):
    """A database operation failed; the message names the driver's error, never SQL."""


class DatabaseUnavailable(DatabaseFailed):
    """The database kept failing past ``SYNC_DB_RETRY_SECONDS``; nothing half-written, the run
    stopped at a page boundary. ``since``: when the first attempt failed (UTC)."""

    def __init__(self, message: str, fault: Fault, since: datetime) -> None:
        super().__init__(message)
        self.fault = fault
        self.since = since


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception inside a SQLAlchemy one (``exc`` when there is none)."""
    orig = exc.orig if isinstance(exc, StatementError) else None
    return orig if isinstance(orig, BaseException) else exc


def _code(error: BaseException) -> str | None:
    sqlstate = getattr(error, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate
    args = getattr(error, "args", ())
    if args and isinstance(args[0], int) and not isinstance(args[0], bool):  # PyMySQL
        return str(args[0])
    code = getattr(error, "sqlite_errorname", None)  # sqlite3
    return code if isinstance(code, str) else None


def classify(exc: BaseException) -> Fault | None:
    """The fault if retrying on a fresh connection may succeed, else None."""
    if not isinstance(exc, DBAPIError):
        return None
    error = _driver_error(exc)
    code = _code(error)
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return Fault(_LOCKED, code) if "locked" in text or "busy" in text else None
    if code is not None and code in _PG_CODES:
        return Fault(_PG_CODES[code], code)
    if code is not None and code.startswith("08") and len(code) == 5:
        return Fault(CONNECTION_LOST, code)
    if code is not None and code.isdigit() and int(code) in _MYSQL_CODES:
        return Fault(_MYSQL_CODES[int(code)], code)
    if exc.connection_invalidated:
        return Fault(CONNECTION_LOST, code)
    # psycopg raises OperationalError without a SQLSTATE for libpq's own failures: refused,
    # reset, closed by the server; never for an error the server reported.
    if type(error).__module__.startswith("psycopg") and code is None:
        if type(error).__name__ in ("OperationalError", "InterfaceError"):
            return Fault(CONNECTION_LOST)
    return None


def describe(exc: BaseException, scrub: Callable[[str], str] = str) -> str:
    """``exc`` in one line without SQL or parameters: the driver's exception class, its code
    and the first line of its message (``AdminShutdown 57P01: terminating connection due to
    administrator command``), control characters escaped, then ``scrub`` (the secret filter)."""
    error = _driver_error(exc)
    code = _code(error)
    args: tuple[object, ...] = tuple(getattr(error, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
        message = args[1]  # PyMySQL: (errno, message)
    elif isinstance(error, SQLAlchemyError):
        # No driver exception: SQLAlchemy's own text, which for a statement error carries the
        # SQL after the first line.
        message = str(error.args[0]) if error.args else ""
    else:
        message = str(error)
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if len(first) > _MESSAGE_MAX:
        first = first[: _MESSAGE_MAX - 3] + "..."
    head = type(error).__name__ + (f" {code}" if code else "")
    text = f"{head}: {first}" if first else head
    return scrub(escape_control(text))

"""Build the SQLAlchemy engine from ``DATABASE_URL``, with each backend set up for a sync tool.

Users write short URLs (``postgres://``, ``mysql://``); we pick the one tested driver per
backend (psycopg 3, PyMySQL, the stdlib sqlite3) so upserts and locking behave as tested, and we
turn a bad URL or a missing driver into a :class:`~sync.errors.ConfigError` that says what to
do instead of an ``ImportError`` traceback.

SQLite gets 16 KiB pages in a new file (:data:`SQLITE_PAGE_SIZE`), WAL (readers never block
the writer), a busy timeout (a second process waits
instead of failing with "database is locked"), foreign keys, and ``BEGIN IMMEDIATE``: SQLite
allows one writer, and taking the write lock when the transaction starts makes a second writer
wait for it, where upgrading a read transaction later would fail at once.

A file's connections keep temporary data in memory (``temp_store = MEMORY``): every multi-row
INSERT or upsert in a page's transaction keeps a statement journal of the pages it changes, and
by default SQLite moves one past 64 KiB (four pages) into a temporary file, which a
20,000-product backfill opened once a page and wrote 700 MB into. A migration, whose sorts can
be large, sorts on disk instead (``sync.db.migrate`` sets ``temp_store = FILE`` while the
schema is created or upgraded).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from sync import jsontext
from sync.errors import ConfigError

__all__ = [
    "SERVER_CONNECT_TIMEOUT",
    "SQLITE_BUSY_TIMEOUT_MS",
    "SQLITE_PAGE_SIZE",
    "make_engine",
    "normalize_url",
    "redacted_url",
    "sqlite_file",
    "url_password",
]

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Page size of a new SQLite file (SQLite's default is 4 KiB). A product row is a ~2 KB JSON
#: document plus its columns, so 4 KiB pages mostly held one row each and a page's commit wrote
#: (to the WAL, then back by the checkpoint) far more pages: 16 KiB pages made a 20,000-product
#: backfill's file a quarter smaller and ~0.1 CPU-s cheaper. An existing file keeps its size:
#: SQLite changes it only before the first table, and never in WAL mode.
SQLITE_PAGE_SIZE = 16384
#: Seconds a connection to a server may take unless the URL says otherwise (``connect_timeout``
#: in its query): a server that vanished without a word (a failover moving its address) must fail
#: a connect in time for the run's retries (SYNC_DB_RETRY_SECONDS), not after the system's minutes.
SERVER_CONNECT_TIMEOUT = 10

_SETTING = "DATABASE_URL"
_EXAMPLES = "use sqlite:///file.db, postgresql://... or mysql://..."

# drivername as written -> the drivername we use. Anything else is refused. MariaDB gets the
# mysql dialect, as mysql:// does (it tells a MariaDB server on connect): SQLAlchemy's mariadb
# dialect ignores the tables' mysql_engine/mysql_charset options, so a mariadb:// mirror got
# the database's default character set (often latin1) and the server's default storage engine.
_DRIVERS: dict[str, str] = {
    "sqlite": "sqlite+pysqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mysql+pymysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mariadb+pymysql": "mysql+pymysql",
}

_EXTRAS: dict[str, tuple[str, str]] = {
    "postgresql": ("PostgreSQL", "pip install 'accs-sync[postgres]'"),
    "mysql": ("MySQL/MariaDB", "pip install 'accs-sync[mysql]'"),
    "mariadb": ("MySQL/MariaDB", "pip install 'accs-sync[mysql]'"),
}

# Readable JSON in the database (no \u escapes), compact separators to save space: the text of
# json.dumps(ensure_ascii=False, separators=(",", ":")), written by orjson where it is the same
# (and taken as it is from a jsontext.Encoded, text made earlier).
_json_serializer = jsontext.serialize


def redacted_url(url: str | URL) -> str:
    """``url`` with its password masked: the only form of a database URL we ever print."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        # Not parseable, so we cannot tell where a password would be: print nothing of it.
        return "<unparseable database URL>"
    return parsed.render_as_string(hide_password=True)


def normalize_url(url: str) -> URL:
    """Parse ``url`` and map it to the driver accs-sync uses for that backend.

    Raises :class:`ConfigError` (setting ``DATABASE_URL``) for an unparseable URL or an
    unsupported database or driver.
    """
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise ConfigError(
            f"{_SETTING}: not a valid database URL; {_EXAMPLES}", setting=_SETTING
        ) from None
    drivername = _DRIVERS.get(parsed.drivername.lower())
    if drivername is None:
        backend, _, driver = parsed.drivername.partition("+")
        if backend.lower() in ("sqlite", "postgres", "postgresql", "mysql", "mariadb"):
            raise ConfigError(
                f"{_SETTING}: unsupported driver {driver!r} for {backend}; leave the driver out "
                f"(e.g. {backend}://...) and accs-sync uses the one it is tested with",
                setting=_SETTING,
            )
        raise ConfigError(
            f"{_SETTING}: unsupported database {parsed.drivername!r}; {_EXAMPLES}",
            setting=_SETTING,
        )
    parsed = parsed.set(drivername=drivername)
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        # utf8mb4: MySQL's "utf8" cannot store 4-byte characters (emoji) found in product names.
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def url_password(url: str) -> str | None:
    """The password inside a database URL, so the log filter can mask it (None for an invalid
    URL: that fails properly in :func:`make_engine`, with a clear message)."""
    try:
        return normalize_url(url).password
    except ConfigError:
        return None


def make_engine(url: str, *, connect_timeout: int | None = None, read_only: bool = False) -> Engine:
    """An engine for ``url`` (the ``DATABASE_URL`` setting), configured for its backend.

    ``connect_timeout`` (seconds) bounds connecting to a server, so a check of an unreachable
    database answers quickly instead of waiting for the operating system to give up.
    ``read_only`` (``status``, ``check``): a SQLite file is opened read-only, so a file this
    user may read but not write (or in a read-only directory) can be read, and a missing one is
    a :class:`ConfigError`, never created; servers are unaffected (the commands only read).
    The caller owns the engine and must ``dispose()`` it.
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"json_serializer": _json_serializer}
    read_only_uri: str | None = None
    if backend == "sqlite":
        if read_only:
            read_only_uri = _read_only_uri(parsed)
        else:
            parsed = _prepare_sqlite_path(parsed)
    else:
        # Test every connection before use: daemons outlive server-side idle timeouts, and after
        # a restart or failover the pool holds only dead connections (sync.db.retry).
        kwargs["pool_pre_ping"] = True
        kwargs["pool_recycle"] = 3600
        if connect_timeout is None and "connect_timeout" not in parsed.query:
            connect_timeout = SERVER_CONNECT_TIMEOUT
        if connect_timeout is not None:  # psycopg and PyMySQL both take whole seconds
            kwargs["connect_args"] = {"connect_timeout": connect_timeout}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ImportError, NoSuchModuleError) as exc:
        label, hint = _EXTRAS.get(backend, (backend, "pip install 'accs-sync'"))
        raise ConfigError(
            f"{_SETTING}: the {label} driver is not installed ({exc}); {hint}",
            setting=_SETTING,
        ) from None
    except ArgumentError as exc:
        raise ConfigError(f"{_SETTING}: {exc}; {_EXAMPLES}", setting=_SETTING) from None
    if backend == "sqlite":
        _configure_sqlite(engine, read_only_uri, read_only=read_only)
    logger.debug("database engine for %s", redacted_url(parsed))
    return engine


def sqlite_file(url: URL) -> str | None:
    """The file path of a SQLite URL, or None for an in-memory or URI-style database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _prepare_sqlite_path(url: URL) -> URL:
    """Expand ``~`` and check that the file's folder exists; create a new database file 0600
    (SQLite would make it 0644 less the umask): the catalog, prices and stock are the tenant's
    business. SQLite gives its -wal and -shm files the database file's mode, and an existing
    file keeps the mode it has (chmod it to share the mirror).

    The folder is never created: a mistyped path would otherwise get its folders made up and a
    fresh full mirror, next to the real one. The default (``accs-sync.db`` in the working
    directory) and the image's ``/data`` always have theirs."""
    database = sqlite_file(url)
    if database is None:
        return url
    path = Path(database).expanduser()
    folder = path.absolute().parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ConfigError(
            f"{_SETTING}: the folder {str(folder)!r} of the SQLite database {what}; check the "
            "path, or create the folder first (accs-sync creates the file, never its folder)",
            setting=_SETTING,
        )
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:  # e.g. a read-only directory: SQLite says what it says
        logger.debug("cannot create %s beforehand: %s", path, exc.strerror)
    return url.set(database=str(path))


def _read_only_uri(url: URL) -> str | None:
    """The SQLite URI that opens ``url``'s file read-only (None: not a plain file URL).

    ``mode=ro`` reads a WAL database only where SQLite can find or create its ``-shm`` file. In
    a directory this user cannot write, with no ``-wal`` file (no writer has changes pending:
    a writer would have created it, and the last one to close removes both), the file is
    opened ``immutable`` instead, which needs no ``-shm``.
    """
    database = sqlite_file(url)
    if database is None:
        return None
    path = Path(database).expanduser().absolute()
    if not path.is_file():
        raise ConfigError(
            f"{_SETTING}: the SQLite database {str(path)!r} does not exist; check the path, or "
            "create it with accs-sync migrate (a sync creates it too)",
            setting=_SETTING,
        )
    uri = f"file:{quote(str(path))}?mode=ro"
    wal = path.with_name(path.name + "-wal")
    if not os.access(path.parent, os.W_OK) and not wal.exists():
        uri += "&immutable=1"
    return uri


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (a persistent setting, so usually already done).

    Changing the journal mode needs the database to itself and SQLite does not apply
    busy_timeout to it: while another connection is migrating a brand-new file, the switch
    answers "database is locked" at once. Wait for it here, within the same busy timeout.
    """
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: Engine, read_only_uri: str | None, *, read_only: bool) -> None:
    """Pragmas on every new connection; SQLAlchemy, not sqlite3, emits BEGIN (see module doc).

    Read-only: the file is opened through ``read_only_uri`` (the engine's URL stays the one
    the user wrote, for messages), its journal mode is left alone and transactions take no
    write lock.
    """
    file_backed = sqlite_file(engine.url) is not None and not read_only

    if read_only_uri is not None:

        @event.listens_for(engine, "do_connect")
        def _open_read_only(_dialect: Any, _record: Any, cargs: list[Any], cparams: Any) -> None:
            cargs[:] = [read_only_uri]
            cparams["uri"] = True

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop the sqlite3 module's own implicit BEGIN/COMMIT handling, which leaves DDL and
        # SELECTs outside the transaction; _on_begin below emits BEGIN instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if file_backed:
                cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")  # a new file only
                _enable_wal(cursor)
                # NORMAL is durable against application crashes in WAL mode, and much faster.
                cursor.execute("PRAGMA synchronous = NORMAL")
                # Statement journals in memory (see the module doc).
                cursor.execute("PRAGMA temp_store = MEMORY")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

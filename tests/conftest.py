"""Fixtures shared by the whole test suite.

Databases: ``db_url`` runs a test on SQLite, PostgreSQL and MariaDB (ids ``sqlite``,
``postgresql``, ``mariadb``). Each server gets one scratch database per test session
(``accs_sync_test_<pid>_<random>``), created through the server's ``test`` database and dropped at
the end. A test gets it migrated to head with every table empty (emptied in place when no
earlier test changed its schema), or with no schema at all when marked ``empty_database``.
Servers come from ``TEST_POSTGRES_URL`` and ``TEST_MYSQL_URL``. A server that does not answer skips its tests, except under ``CI=true``,
where it fails them: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from sync.db.engine import make_engine, normalize_url, redacted_url
from sync.db.migrate import ensure_schema

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
_CONNECT_TIMEOUT_SECONDS = 5


@pytest.fixture(autouse=True)
def _private_token_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test (and every process it starts) gets its own token cache directory, never
    the developer's ~/.cache: the default cache lives under ``$XDG_CACHE_HOME``."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    monkeypatch.delenv("SYNC_TOKEN_CACHE", raising=False)


# --- databases ---------------------------------------------------------------------------------


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: database tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


def _admin_engine(server: URL) -> Engine:
    """Autocommit (CREATE/DROP DATABASE refuse to run in a transaction), no pooling."""
    return sa.create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": _CONNECT_TIMEOUT_SECONDS},
    )


def _scratch_database(env_var: str, default: str, label: str) -> Iterator[str]:
    server = normalize_url(os.environ.get(env_var, default))
    name = f"accs_sync_test_{os.getpid()}_{secrets.token_hex(4)}"
    postgres = server.get_backend_name() == "postgresql"
    try:
        admin = _admin_engine(server)
        with admin.connect() as conn:
            # MySQL gets a latin1 default, as many old servers have: the tables must still
            # store any character because they declare utf8mb4 themselves.
            charset = "" if postgres else " CHARACTER SET latin1"
            conn.exec_driver_sql(f"CREATE DATABASE {name}{charset}")
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        _unavailable(f"{label}: driver not installed ({exc}); pip install -e '.[test]'")
    except sa.exc.DBAPIError as exc:
        _unavailable(
            f"{label} at {redacted_url(server)} did not answer ({type(exc.orig).__name__}); "
            f"start it or set {env_var}"
        )
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if postgres else ""  # a leaked connection must not block it
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """URL of this session's scratch PostgreSQL database (not emptied between tests)."""
    yield from _scratch_database("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL, "PostgreSQL")


@pytest.fixture(scope="session")
def mariadb_database() -> Iterator[str]:
    """URL of this session's scratch MariaDB/MySQL database (not emptied between tests)."""
    yield from _scratch_database("TEST_MYSQL_URL", DEFAULT_MYSQL_URL, "MariaDB")


def _drop_all_tables(url: str) -> None:
    """Empty a scratch database, alembic_version included (views first: PostgreSQL refuses
    to drop a table a view reads)."""
    engine = sa.create_engine(normalize_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for view in sa.inspect(conn).get_view_names():
                conn.execute(sa.text(f"DROP VIEW {conn.dialect.identifier_preparer.quote(view)}"))
            existing = sa.MetaData()
            existing.reflect(conn)
            existing.drop_all(conn)
    finally:
        engine.dispose()


_SERVER_FIXTURES = {"postgresql": "postgres_database", "mariadb": "mariadb_database"}

#: A test that needs a database with no schema at all (migration tests) says so with this marker
#: (or by asking for ``empty_engine``); every other test gets a database migrated to head with
#: every table empty, which costs a few DELETEs instead of a migration from nothing.
EMPTY_DATABASE = "empty_database"


_FINGERPRINT_QUERIES = {
    "postgresql": (
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1, 2",
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1",
        "SELECT table_name FROM information_schema.views "
        "WHERE table_schema = current_schema() ORDER BY 1",
    ),
    "mysql": (
        "SELECT table_name, column_name, column_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = database() ORDER BY 1, 2",
        "SELECT table_name, index_name, column_name, seq_in_index, non_unique "
        "FROM information_schema.statistics WHERE table_schema = database() ORDER BY 1, 2, 4",
        "SELECT table_name FROM information_schema.views WHERE table_schema = database() "
        "ORDER BY 1",
    ),
}
_FINGERPRINT_QUERIES["mariadb"] = _FINGERPRINT_QUERIES["mysql"]


def _schema_fingerprint(conn: sa.Connection) -> tuple[object, ...]:
    """What the schema is made of (revision, columns, indexes, views), to tell whether a test
    left it as the migrations made it."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return ()
    parts = [conn.exec_driver_sql(query).all() for query in _FINGERPRINT_QUERIES[conn.dialect.name]]
    parts.append(conn.exec_driver_sql("SELECT version_num FROM alembic_version").all())
    return tuple(tuple(rows) for rows in parts)


@dataclass(frozen=True)
class _Head:
    """A scratch database's schema as a migration from nothing made it this session."""

    fingerprint: tuple[object, ...]
    #: Tables children first, so rows can be deleted in this order.
    tables: tuple[str, ...]


_HEADS: dict[str, _Head] = {}


def _empty_tables(conn: sa.Connection, tables: tuple[str, ...]) -> None:
    """Delete every row but the schema revision's and restart the id counters, so ids start
    at 1 as they do in a new database."""
    for name in tables:
        conn.execute(sa.table(name).delete())
    if conn.dialect.name == "postgresql":
        quote = conn.dialect.identifier_preparer.quote
        for sequence in conn.exec_driver_sql(
            "SELECT sequencename FROM pg_sequences "
            "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
        ).scalars():
            conn.exec_driver_sql(f"ALTER SEQUENCE {quote(sequence)} RESTART")
    else:
        quote = conn.dialect.identifier_preparer.quote
        for table_name in conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = database() AND auto_increment > 1"
        ).scalars():
            conn.exec_driver_sql(f"ALTER TABLE {quote(table_name)} AUTO_INCREMENT = 1")


def _migrated_and_empty(url: str) -> None:
    """Leave the scratch database at head with every table empty: emptied in place when its
    schema is exactly what a migration from nothing made this session, else rebuilt."""
    engine = sa.create_engine(normalize_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            head = _HEADS.get(url)
            if head is not None and _schema_fingerprint(conn) == head.fingerprint:
                _empty_tables(conn, head.tables)
                return
    finally:
        engine.dispose()
    _drop_all_tables(url)
    migrated = make_engine(url)
    try:
        ensure_schema(migrated)
        with migrated.connect() as conn:
            existing = sa.MetaData()
            existing.reflect(conn)
            tables = tuple(
                table.name
                for table in reversed(existing.sorted_tables)
                if table.name != "alembic_version"
            )
            _HEADS[url] = _Head(_schema_fingerprint(conn), tables)
    finally:
        migrated.dispose()


_SQLITE_TEMPLATE: list[Path] = []


def _sqlite_at_head(path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Copy of a SQLite file migrated once this session."""
    if not _SQLITE_TEMPLATE:
        template = tmp_path_factory.mktemp("sqlite-template") / "head.db"
        migrated = make_engine(f"sqlite:///{template}")
        try:
            ensure_schema(migrated)
        finally:
            migrated.dispose()
        _SQLITE_TEMPLATE.append(template)
    shutil.copyfile(_SQLITE_TEMPLATE[0], path)


def _wants_empty_database(request: pytest.FixtureRequest) -> bool:
    return (
        request.node.get_closest_marker(EMPTY_DATABASE) is not None
        or "empty_engine" in request.fixturenames
    )


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A ``DATABASE_URL``, once per supported backend: migrated to head with every table empty
    (what ``accs-sync`` makes of a new database), or, for a test marked ``empty_database`` or
    asking for ``empty_engine``, with no schema at all."""
    empty = _wants_empty_database(request)
    if request.param == "sqlite":
        path = tmp_path / "accs-sync.db"
        if not empty:
            _sqlite_at_head(path, tmp_path_factory)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue(_SERVER_FIXTURES[request.param])
    if empty:
        _drop_all_tables(url)
    else:
        _migrated_and_empty(url)
    return url


@pytest.fixture
def empty_engine(db_url: str) -> Iterator[Engine]:
    """An engine (from make_engine) on an empty, never migrated database."""
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    engine = make_engine(db_url)
    try:
        ensure_schema(engine)  # at head already: a check, not a migration
        yield engine
    finally:
        engine.dispose()

"""Fixtures shared by the whole test suite.

Databases: ``db_url`` runs a test on SQLite, PostgreSQL and MariaDB (ids ``sqlite``,
``postgresql``, ``mariadb``). Each server gets one scratch database per test session
(``accs_sync_test_<pid>_<random>``), created through the server's ``test`` database and dropped at
the end; every test starts with it empty. Servers come from ``TEST_POSTGRES_URL`` and
``TEST_MYSQL_URL``. A server that does not answer skips its tests, except under ``CI=true``,
where it fails them: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
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


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ``DATABASE_URL`` for an empty database, once per supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'accs-sync.db'}"
    url: str = request.getfixturevalue(_SERVER_FIXTURES[request.param])
    _drop_all_tables(url)
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
def engine(empty_engine: Engine) -> Engine:
    """An engine on a database migrated to head."""
    ensure_schema(empty_engine)
    return empty_engine

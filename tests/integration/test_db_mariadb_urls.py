"""A ``mariadb://`` DATABASE_URL makes the same InnoDB, utf8mb4 tables as ``mysql://``, and
revision 0010 repairs the latin1, non-InnoDB tables such URLs used to make.

Each test gets databases of its own (``accs_maria_<random>``) on the MariaDB test server
(``TEST_MYSQL_URL``), created latin1 as on many older servers, and its connections default to
the Aria storage engine (``init_command`` in the URL: the server's own default is left alone),
so a table that does not ask for InnoDB and utf8mb4 does not get them. Skipped when the server
does not answer, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from sync.db.engine import make_engine, normalize_url
from sync.db.migrate import alembic_config, current_revision, ensure_schema, head_revision
from sync.db.schema import metadata, products
from sync.db.upsert import upsert_products
from sync.models import parse_item

pytestmark = pytest.mark.integration

DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
T0 = datetime(2026, 12, 5, 12, 0, 0, 123456)
ARIA = {"init_command": "SET default_storage_engine=Aria"}
OUR_TABLES = sorted(metadata.tables)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: database tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def new_database() -> Iterator[Callable[[str], str]]:
    """Makes a latin1 database on the MariaDB test server and returns its URL with the given
    scheme (``mariadb``, ``mysql``, ``mariadb+pymysql``), Aria the default engine of its
    connections; every database made is dropped at the end."""
    server: URL = normalize_url(os.environ.get("TEST_MYSQL_URL", DEFAULT_MYSQL_URL))
    admin = sa.create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 5},
    )
    made: list[str] = []

    def make(scheme: str) -> str:
        name = f"accs_maria_{secrets.token_hex(4)}"
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET latin1")
        except sa.exc.DBAPIError as exc:
            _unavailable(f"MariaDB did not answer ({type(exc.orig).__name__}); set TEST_MYSQL_URL")
        made.append(name)
        url = server.set(drivername=scheme, database=name).update_query_dict(ARIA)
        return url.render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


def _tables(engine: Engine) -> dict[str, tuple[str, str]]:
    """accs-sync's tables -> (engine, collation)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT table_name, engine, table_collation FROM information_schema.tables "
            "WHERE table_schema = database() AND table_type = 'BASE TABLE'"
        ).all()
    return {name: (eng, coll) for name, eng, coll in rows if name in metadata.tables}


def _columns(engine: Engine) -> list[tuple[Any, ...]]:
    """Every column as the server describes it, character set and collation included."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT table_name, column_name, column_type, is_nullable, column_default, "
            "character_set_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = database() AND table_name <> 'alembic_version' ORDER BY 1, 2"
        ).all()
    return [tuple(row) for row in rows]


def _assert_innodb_utf8mb4(engine: Engine) -> None:
    tables = _tables(engine)
    assert sorted(tables) == OUR_TABLES
    wrong = {
        name: found
        for name, found in tables.items()
        if found[0] != "InnoDB" or not found[1].startswith("utf8mb4_")
    }
    assert wrong == {}
    latin = [column for column in _columns(engine) if column[5] not in (None, "utf8mb4")]
    assert latin == []


def _emoji_round_trip(engine: Engine, product_id: int = 1) -> None:
    """A product whose name and data hold a 4-byte character, through the normal write path."""
    item = {"id": product_id, "sku": f"TEE-{product_id}", "name": "Tee 👕", "type_id": "simple"}
    item["custom_attributes"] = [{"attribute_code": "description", "value": "Soft 🧵 cotton"}]
    with engine.begin() as conn:
        assert upsert_products(conn, [parse_item(item, "default")], T0) == 1
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(products.c.name, products.c.data).where(products.c.id == product_id)
        ).one()
    assert row.name == "Tee 👕"
    assert row.data["name"] == "Tee 👕"
    assert row.data["custom_attributes"][0]["value"] == "Soft 🧵 cotton"


def _diffs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "target_metadata": metadata}
        )
        return list(compare_metadata(context, metadata))


def test_a_mariadb_url_makes_innodb_utf8mb4_tables(new_database: Callable[[str], str]) -> None:
    url = new_database("mariadb")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:  # the connections' default really is Aria
            assert conn.exec_driver_sql("SELECT @@default_storage_engine").scalar() == "Aria"
        ensure_schema(engine)
        _assert_innodb_utf8mb4(engine)
        _emoji_round_trip(engine)
    finally:
        engine.dispose()


def test_mariadb_and_mysql_urls_make_the_same_schema(new_database: Callable[[str], str]) -> None:
    engines = [make_engine(new_database("mariadb")), make_engine(new_database("mysql"))]
    try:
        for engine in engines:
            ensure_schema(engine)
        assert _columns(engines[0]) == _columns(engines[1])
        assert _tables(engines[0]) == _tables(engines[1])
    finally:
        for engine in engines:
            engine.dispose()


def test_0010_repairs_the_tables_an_old_mariadb_url_made(
    new_database: Callable[[str], str],
) -> None:
    """A mirror made through SQLAlchemy's ``mariadb`` dialect (what ``mariadb://`` used to
    pick), at 0009 with rows in it, upgrades to InnoDB, utf8mb4 tables exactly like a new
    mirror's, every row kept."""
    old_url = new_database("mariadb+pymysql")
    old = sa.create_engine(normalize_url(old_url).set(drivername="mariadb+pymysql"))
    try:
        assert old.dialect.name == "mariadb"
        with old.connect() as conn:
            command.upgrade(alembic_config(conn), "0009")
            conn.commit()
        with old.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO products (store_code, id, sku, name, data, synced_at) VALUES "
                "('default', 7, 'CAFE-7', 'Café crème', '{\"name\": \"Café crème\"}', "
                "'2026-12-01 08:00:00.000001')"
            )
            conn.exec_driver_sql(
                "INSERT INTO sync_auth_events (occurred_at, event) VALUES "
                "('2026-12-01 08:00:00', 'mint')"
            )
    finally:
        old.dispose()
    engine = make_engine(old_url.replace("mariadb+pymysql://", "mariadb://", 1))
    fresh = make_engine(new_database("mysql"))
    try:
        before = _tables(engine)
        assert before["products"] == ("Aria", "latin1_swedish_ci")  # the old behaviour
        ensure_schema(engine)
        assert current_revision(engine) == head_revision() == "0010"
        _assert_innodb_utf8mb4(engine)
        ensure_schema(fresh)
        assert _columns(engine) == _columns(fresh)
        assert _tables(engine) == _tables(fresh)
        assert _diffs(engine) == []
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(products.c.sku, products.c.name, products.c.data, products.c.synced_at)
            ).one()
            detail = conn.exec_driver_sql("SELECT detail FROM sync_auth_events").scalar_one()
        assert tuple(row) == (
            "CAFE-7",
            "Café crème",
            {"name": "Café crème"},
            datetime(2026, 12, 1, 8, 0, 0, 1),
        )
        assert detail == ""  # the column's default survived the conversion
        _emoji_round_trip(engine, product_id=8)
        ensure_schema(engine)  # at head: nothing more to do
    finally:
        engine.dispose()
        fresh.dispose()

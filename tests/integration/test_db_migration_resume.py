"""Revision 0005 (item text as long as Magento's), migrations a killed MySQL/MariaDB ``migrate``
left half-done, and the advice ``status`` gives for a schema newer than this accs-sync."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from sync.cli import main
from sync.db.engine import make_engine
from sync.db.migrate import alembic_config, current_revision, ensure_schema, head_revision
from sync.db.schema import categories, metadata, product_attributes, products
from tests.integration.test_db_migrations import _diffs

pytestmark = [pytest.mark.integration, pytest.mark.empty_database]

LONG = "é" * 100_000  # 200 KB of UTF-8: over MySQL's TEXT


def point_cli_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, url: str) -> None:
    """``accs-sync`` commands run here use only ``url``: no stray settings, no .env."""
    for name in list(os.environ):
        if name.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Any) -> None:
    point_cli_at(monkeypatch, tmp_path, db_url)


@pytest.fixture
def mariadb_engine(mariadb_database: str) -> Iterator[Engine]:
    engine = make_engine(mariadb_database)
    with engine.begin() as conn:
        for table in [*reversed(metadata.sorted_tables), sa.table("alembic_version")]:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade_to(engine: Engine, revision: str) -> None:
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), revision)
        conn.commit()


def test_upgrading_from_0004_keeps_rows_and_holds_long_item_text(empty_engine: Engine) -> None:
    upgrade_to(empty_engine, "0004")
    with empty_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO products (store_code, id, sku, name, data, synced_at) "
                "VALUES ('default', 1, 'A', 'Short', '{}', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO product_attributes (store_code, product_id, attribute_code, value) "
                "VALUES ('default', 1, 'description', 'kept')"
            )
        )
    ensure_schema(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert _diffs(empty_engine, metadata) == []
    with empty_engine.begin() as conn:
        assert conn.execute(sa.select(products.c.name)).scalar_one() == "Short"
        assert conn.execute(sa.select(product_attributes.c.value)).scalar_one() == "kept"
        conn.execute(sa.update(products).values(name=LONG))
        conn.execute(sa.update(product_attributes).values(value=LONG))
        conn.execute(
            sa.insert(categories).values(
                store_code="default", id=3, name=LONG, data={}, synced_at=sa.func.now()
            )
        )
    with empty_engine.connect() as conn:
        assert conn.execute(sa.select(products.c.name)).scalar_one() == LONG
        assert conn.execute(sa.select(product_attributes.c.value)).scalar_one() == LONG
        assert conn.execute(sa.select(categories.c.name)).scalar_one() == LONG


@pytest.mark.parametrize("left", ["one table", "tables, an index and a column"])
def test_a_half_applied_migration_on_mariadb_completes_on_the_next_migrate(
    mariadb_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
    left: str,
) -> None:
    """MySQL DDL commits as it goes: a migrate killed inside 0004 leaves some of its tables
    while alembic_version still says 0003. The next migrate finishes the job."""
    upgrade_to(mariadb_engine, "0003")
    with mariadb_engine.begin() as conn:
        conn.execute(sa.schema.CreateTable(categories))
        if left != "one table":
            conn.execute(sa.schema.CreateTable(metadata.tables["product_categories"]))
            conn.execute(
                sa.text(
                    "CREATE INDEX ix_categories_store_code_parent_id ON categories (store_code, parent_id)"
                )
            )
            conn.execute(
                sa.text(
                    "ALTER TABLE sync_rejects ADD COLUMN resource VARCHAR(32) NOT NULL DEFAULT 'products'"
                )
            )
        conn.execute(
            sa.text(
                "INSERT INTO products (store_code, id, sku, data, synced_at) VALUES "
                "('default', 1, 'A', '{\"extension_attributes\": {\"category_links\": "
                '[{"category_id": "3"}]}}\', \'2026-01-01 00:00:00\')'
            )
        )
    point_cli_at(monkeypatch, tmp_path, mariadb_engine.url.render_as_string(False))
    assert main(["migrate"]) == 0, capsys.readouterr().err
    assert current_revision(mariadb_engine) == head_revision()
    assert _diffs(mariadb_engine, metadata) == []
    with mariadb_engine.connect() as conn:
        links = conn.execute(sa.text("SELECT product_id, category_id FROM product_categories"))
        assert [tuple(r) for r in links] == [(1, 3)]
    assert main(["migrate"]) == 0


def test_a_foreign_table_in_the_way_is_named_precisely(
    mariadb_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upgrade_to(mariadb_engine, "0003")
    with mariadb_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE categories (id INT PRIMARY KEY, title TEXT)"))
    point_cli_at(monkeypatch, tmp_path, mariadb_engine.url.render_as_string(False))
    capsys.readouterr()
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "upgrading from revision 0003 creates table 'categories'" in err
    assert "id, title" in err
    assert "DATABASE_URL" not in err
    assert current_revision(mariadb_engine) == "0003"


def test_an_interrupted_first_migrate_on_mariadb_completes(
    mariadb_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Killed inside 0001: alembic_version exists but is empty, products exists."""
    with mariadb_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(
            sa.text(
                "CREATE TABLE products (store_code VARCHAR(64) NOT NULL, id BIGINT NOT NULL, "
                "sku VARCHAR(64) NOT NULL, name TEXT, type_id VARCHAR(32), attribute_set_id INT, "
                "status INT, visibility INT, price NUMERIC(20, 6), weight NUMERIC(20, 6), "
                "created_at DATETIME(6), updated_at DATETIME(6), data JSON NOT NULL, "
                "synced_at DATETIME(6) NOT NULL, deleted_at DATETIME(6), "
                "CONSTRAINT pk_products PRIMARY KEY (store_code, id)) "
                "ENGINE=InnoDB CHARSET=utf8mb4"
            )
        )
    point_cli_at(monkeypatch, tmp_path, mariadb_engine.url.render_as_string(False))
    assert main(["migrate"]) == 0, capsys.readouterr().err
    assert current_revision(mariadb_engine) == head_revision()
    assert _diffs(mariadb_engine, metadata) == []


@pytest.mark.usefixtures("cli_env")
def test_status_on_a_newer_schema_advises_upgrading_accs_sync(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    capsys.readouterr()
    main(["status"])
    out = capsys.readouterr().out
    assert "schema revision: 9999" in out
    assert "accs-sync migrate" not in out
    assert "upgrade accs-sync" in out

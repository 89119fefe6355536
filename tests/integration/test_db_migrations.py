"""Migrations create exactly the documented schema, on every backend, and refuse what they must."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from sync.db.engine import make_engine
from sync.db.migrate import alembic_config, current_revision, ensure_schema, head_revision, upgrade
from sync.db.runlog import PassRow, run_resources
from sync.db.schema import metadata
from sync.errors import SchemaError

pytestmark = [pytest.mark.integration, pytest.mark.empty_database]

REPO = Path(__file__).resolve().parents[2]

# The public contract (docs/schema.md): column -> nullable.
CONTRACT: dict[str, dict[str, bool]] = {
    "products": {
        "store_code": False,
        "id": False,
        "sku": False,
        "name": True,
        "type_id": True,
        "attribute_set_id": True,
        "status": True,
        "visibility": True,
        "price": True,
        "weight": True,
        "created_at": True,
        "updated_at": True,
        "data": False,
        "synced_at": False,
        "deleted_at": True,
        "content_hash": True,
        "qty": True,
        "is_in_stock": True,
    },
    "product_attributes": {
        "store_code": False,
        "product_id": False,
        "attribute_code": False,
        "value": True,
    },
    "product_changes": {
        "seq": False,
        "store_code": False,
        "product_id": False,
        "sku": False,
        "op": False,
        "changed_at": False,
        "run_id": True,
    },
    "sync_rejects": {
        "id": False,
        "run_id": True,
        "store_code": False,
        "product_id": True,
        "sku": True,
        "resource": False,
        "entity_key": True,
        "reason": False,
        "payload": False,
        "rejected_at": False,
    },
    "sync_runs": {
        "id": False,
        "kind": False,
        "store_codes": False,
        "started_at": False,
        "finished_at": True,
        "status": False,
        "pages": False,
        "products_written": False,
        "error": True,
        "token_mints": False,
        "token_refreshes": False,
        "auth_retries": False,
        "secret_fallbacks": False,
        "products_unchanged": False,
        "products_rejected": False,
        "products_deleted": False,
        "products_revived": False,
    },
    "sync_state": {"store_code": False, "key": False, "value": False, "updated_at": False},
    # The auth audit's events (revision 0008, issue 18).
    "sync_auth_events": {
        "id": False,
        "occurred_at": False,
        "event": False,
        "detail": False,
        "run_id": True,
    },
    "categories": {
        "store_code": False,
        "id": False,
        "parent_id": True,
        "name": True,
        "is_active": True,
        "position": True,
        "level": True,
        "path": True,
        "include_in_menu": True,
        "created_at": True,
        "updated_at": True,
        "data": False,
        "content_hash": True,
        "synced_at": False,
        "deleted_at": True,
    },
    "product_categories": {
        "store_code": False,
        "product_id": False,
        "category_id": False,
        "position": True,
    },
    "inventory_source_items": {
        "source_code": False,
        "sku": False,
        "quantity": True,
        "status": True,
        "data": False,
        "content_hash": True,
        "synced_at": False,
        "deleted_at": True,
    },
    "catalog_changes": {
        "seq": False,
        "resource": False,
        "store_code": False,
        "entity_key": False,
        "op": False,
        "changed_at": False,
        "run_id": True,
    },
    "sync_run_resources": {
        "run_id": False,
        "resource": False,
        "store_code": False,
        "mode": True,
        "pages": False,
        "written": False,
        "unchanged": False,
        "deleted": False,
        "rejected": False,
        "revived": False,  # since 0009
    },
    "product_attribute_metadata": {
        "store_code": False,
        "attribute_id": False,
        "attribute_code": False,
        "frontend_input": True,
        "label": True,
        "is_user_defined": True,
        "scope": True,
        "data": False,
        "content_hash": True,
        "synced_at": False,
        "deleted_at": True,
    },
    "product_attribute_options": {
        "store_code": False,
        "attribute_id": False,
        "attribute_code": False,
        "value": False,
        "label": True,
        "sort_order": True,
        "store_labels": True,
    },
}
#: The documented views (docs/schema.md): column names in order.
VIEWS = {
    "product_attribute_labels": ["store_code", "product_id", "attribute_code", "value", "label"],
}
PRIMARY_KEYS = {
    "products": ["store_code", "id"],
    "sync_runs": ["id"],
    "sync_state": ["store_code", "key"],
    "sync_auth_events": ["id"],
    "product_attributes": ["store_code", "product_id", "attribute_code"],
    "product_changes": ["seq"],
    "sync_rejects": ["id"],
    "categories": ["store_code", "id"],
    "product_categories": ["store_code", "product_id", "category_id"],
    "inventory_source_items": ["source_code", "sku"],
    "catalog_changes": ["seq"],
    "sync_run_resources": ["run_id", "resource", "store_code"],
    "product_attribute_metadata": ["store_code", "attribute_id"],
    "product_attribute_options": ["store_code", "attribute_id", "value"],
}
PRODUCT_INDEXES = {
    "ix_products_store_code_sku": ["store_code", "sku"],
    "ix_products_store_code_updated_at": ["store_code", "updated_at"],
    "ix_products_synced_at": ["synced_at"],
}


def _diffs(engine: Engine, target: sa.MetaData) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "target_metadata": target}
        )
        return list(compare_metadata(context, target))


def test_head_creates_exactly_the_contract(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) == {*CONTRACT, "alembic_version"}
    for table, columns in CONTRACT.items():
        found = {c["name"]: c["nullable"] for c in inspector.get_columns(table)}
        assert found == columns, table
        assert inspector.get_pk_constraint(table)["constrained_columns"] == PRIMARY_KEYS[table]
    indexes = {
        ix["name"]: ix["column_names"]
        for ix in inspector.get_indexes("products")
        if not ix.get("unique")
    }
    assert indexes == PRODUCT_INDEXES
    assert inspector.get_unique_constraints("products") == []  # sku is deliberately not unique
    assert set(inspector.get_view_names()) == set(VIEWS)
    for view, names in VIEWS.items():
        assert [c["name"] for c in inspector.get_columns(view)] == names, view
    assert current_revision(engine) == head_revision()


def test_migrations_match_the_metadata(engine: Engine) -> None:
    """Guards the contract: schema.py and the revisions must never drift apart."""
    assert _diffs(engine, metadata) == []


def test_the_drift_check_would_notice_drift(engine: Engine) -> None:
    drifted = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["products"].c.price.type = sa.Numeric(10, 2)
    drifted.tables["products"].append_column(sa.Column("extra", sa.Integer()))
    # compare_metadata gives a tuple per change, or a list of tuples for column modifications.
    kinds = {(diff[0] if isinstance(diff, list) else diff)[0] for diff in _diffs(engine, drifted)}
    assert kinds == {"modify_type", "add_column"}


def test_downgrade_to_base_and_up_again(engine: Engine) -> None:
    with engine.connect() as conn:
        command.downgrade(alembic_config(conn), "base")
        conn.commit()
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    assert sa.inspect(engine).get_view_names() == []
    assert current_revision(engine) is None
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    assert _diffs(engine, metadata) == []


def test_ensure_schema_creates_an_empty_database_once(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    ensure_schema(empty_engine)
    ensure_schema(empty_engine)
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()


def test_ensure_schema_refuses_a_newer_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaError) as caught:
        ensure_schema(engine)
    assert caught.value.message == (
        f"database schema is at revision 9999, newer than this accs-sync "
        f"(head {head_revision()}); upgrade accs-sync"
    )
    with pytest.raises(SchemaError):
        upgrade(engine)
    assert current_revision(engine) == "9999"


def test_ensure_schema_refuses_tables_without_a_revision(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
    with pytest.raises(SchemaError) as caught:
        ensure_schema(engine)
    assert "products" in caught.value.message
    assert "alembic_version" in caught.value.message
    assert "empty database" in caught.value.message


@pytest.mark.timeout(60)
def test_concurrent_ensure_schema_does_not_break(db_url: str) -> None:
    """Two processes starting at once (daemon + manual run): one migrates, the other waits."""
    engines = [make_engine(db_url) for _ in range(3)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def migrate(engine: Engine) -> None:
        barrier.wait()
        try:
            ensure_schema(engine)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=50)
        assert errors == []
        assert current_revision(engines[0]) == head_revision()
    finally:
        for engine in engines:
            engine.dispose()


def test_migrating_does_not_depend_on_the_working_directory(
    empty_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ensure_schema(empty_engine)
    assert current_revision(empty_engine) == head_revision()


def test_developer_alembic_ini_uses_database_url(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    config = Config(str(REPO / "alembic.ini"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
    command.check(config)  # `alembic check`: no autogenerate differences
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_offline_sql_for_a_dba(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    buffer = io.StringIO()
    config = Config(str(REPO / "alembic.ini"), output_buffer=buffer)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head", sql=True)
    sql = buffer.getvalue()
    assert "CREATE TABLE products" in sql
    assert "CREATE TABLE sync_state" in sql
    assert "CREATE TABLE product_changes" in sql


def test_upgrading_from_0001_keeps_rows_and_fills_defaults(empty_engine: Engine) -> None:
    """A database synced by the first release upgrades in place (0002 auth counters, 0003
    completeness): its products and runs are kept and the new counters read 0."""
    with empty_engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.commit()
    with empty_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO products (store_code, id, sku, data, synced_at) "
                "VALUES ('default', 1, 'A', '{}', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO sync_runs (kind, store_codes, started_at, status, pages, "
                "products_written) VALUES ('sync', 'default', '2026-01-01 00:00:00', 'success', 1, 1)"
            )
        )
    ensure_schema(empty_engine)
    with empty_engine.connect() as conn:
        product = conn.execute(sa.text("SELECT sku, content_hash, qty FROM products")).one()
        run = conn.execute(
            sa.text(
                "SELECT kind, pages, products_unchanged, products_rejected, products_deleted, "
                "token_mints, token_refreshes, auth_retries, secret_fallbacks FROM sync_runs"
            )
        ).one()
    assert tuple(product) == ("A", None, None)
    assert tuple(run) == ("sync", 1, 0, 0, 0, 0, 0, 0, 0)
    assert current_revision(empty_engine) == head_revision()


def test_upgrading_from_0003_keeps_every_row_and_links_products_to_categories(
    empty_engine: Engine,
) -> None:
    """Today's schema upgrades in place: products, attributes, the change log, rejects, runs
    and state are kept; product_categories is filled from the products' own category links,
    so no pass is needed; existing rejects are products'."""
    with empty_engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0003")
        conn.commit()
    links = (
        '{"sku": "A", "extension_attributes": {"category_links": '
        '[{"position": 0, "category_id": "3"}, {"position": 2, "category_id": "14"}]}}'
    )
    with empty_engine.begin() as conn:
        for store, pid, data in (("default", 1, links), ("fr", 1, links), ("default", 2, "{}")):
            conn.execute(
                sa.text(
                    "INSERT INTO products (store_code, id, sku, data, synced_at, content_hash) "
                    "VALUES (:s, :i, :k, :d, '2026-01-01 00:00:00', 'h')"
                ),
                {"s": store, "i": pid, "k": f"SKU{pid}", "d": data},
            )
        conn.execute(
            sa.text(
                "INSERT INTO product_attributes (store_code, product_id, attribute_code, value) "
                "VALUES ('default', 1, 'color', '49')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO product_changes (store_code, product_id, sku, op, changed_at) "
                "VALUES ('default', 1, 'SKU1', 'insert', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO sync_rejects (store_code, product_id, sku, reason, payload, "
                "rejected_at) VALUES ('default', 9, 'X', 'bad', '{}', '2026-01-01 00:00:00')"
            )
        )
    ensure_schema(empty_engine)
    with empty_engine.connect() as conn:
        count = {
            table: conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()  # noqa: S608
            for table in ("products", "product_attributes", "product_changes", "sync_rejects")
        }
        linked = conn.execute(
            sa.text(
                "SELECT store_code, product_id, category_id, position FROM product_categories "
                "ORDER BY store_code, product_id, category_id"
            )
        ).all()
        reject = conn.execute(sa.text("SELECT resource, entity_key FROM sync_rejects")).one()
    assert count == {
        "products": 3,
        "product_attributes": 1,
        "product_changes": 1,
        "sync_rejects": 1,
    }
    assert [tuple(row) for row in linked] == [
        ("default", 1, 3, 0),
        ("default", 1, 14, 2),
        ("fr", 1, 3, 0),
        ("fr", 1, 14, 2),
    ]
    assert tuple(reject) == ("products", None)
    assert current_revision(empty_engine) == head_revision()


def test_upgrading_from_0008_counts_revived_from_zero_and_downgrades(
    empty_engine: Engine,
) -> None:
    """0009 adds ``sync_run_resources.revived``: a run logged before reads 0, and a downgrade
    to 0008 drops the column and keeps the rows."""
    with empty_engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0008")
        conn.commit()
    with empty_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO sync_run_resources (run_id, resource, store_code, mode, pages, "
                "written) VALUES (1, 'categories', 'default', 'full', 2, 40)"
            )
        )
    ensure_schema(empty_engine)
    with empty_engine.connect() as conn:
        row = conn.execute(sa.text("SELECT written, revived FROM sync_run_resources")).one()
    assert tuple(row) == (40, 0)
    with empty_engine.connect() as conn:
        command.downgrade(alembic_config(conn), "0008")
        conn.commit()
    columns = {c["name"] for c in sa.inspect(empty_engine).get_columns("sync_run_resources")}
    assert "revived" not in columns and "rejected" in columns
    with empty_engine.connect() as conn:
        # What status reads of a database not upgraded yet: the rows, revived as 0.
        assert run_resources(conn, [1]) == {
            1: [PassRow("categories", "default", "full", 2, 40, 0, 0, 0)]
        }

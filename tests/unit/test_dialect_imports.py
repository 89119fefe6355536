"""A SQLite run does not import SQLAlchemy's PostgreSQL dialect (about 40 ms of CPU a start),
and no module of :mod:`sync` imports it or the MySQL/MariaDB one when it is imported: the types,
upserts and queries that need them import them when a database of theirs is used. Those
databases still get exactly their own types: JSONB, DATETIME(6), MEDIUMTEXT and LONGTEXT in the
DDL, and the same bind casts and conversions.

SQLAlchemy itself still loads the MySQL dialect in every process: :mod:`sync.db.schema` gives
its tables ``mysql_engine`` and ``mysql_charset``, which SQLAlchemy validates against the dialect
when a table is defined."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

import sync
from sync.db import schema

#: The dialect packages of the servers.
SERVER_DIALECTS = ("sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.mysql")

#: What a SQLite backfill imports, from the command to the page writes.
RUN_MODULES = (
    "sync.cli_run",
    "sync.tokens",
    "sync.accs_side",
    "sync.app",
    "sync.db.schema",
    "sync.db.dialect",
    "sync.db.changes",
    "sync.db.upsert",
)


def postgresql_after(code: str) -> bool:
    """Whether SQLAlchemy's PostgreSQL dialect is in ``sys.modules`` after running ``code`` in a
    fresh interpreter."""
    script = f"import sys\n{code}\nprint('sqlalchemy.dialects.postgresql' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True"


def test_a_sqlite_run_does_not_import_the_postgresql_dialect() -> None:
    assert not postgresql_after(f"import {', '.join(RUN_MODULES)}")


def imported_at_load(tree: ast.AST) -> list[str]:
    """The modules a module's code imports when the module itself is imported: everything but
    function bodies and ``if TYPE_CHECKING:`` blocks."""
    found: list[str] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found += [name for child in node.orelse for name in imported_at_load(child)]
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found += imported_at_load(node)
    return found


def test_no_module_imports_a_server_dialect_when_imported() -> None:
    """Every module of the package, run or not by a SQLite backfill (migrations, outside the
    package, import them freely: they run only when a database is migrated)."""
    root = Path(sync.__file__).parent
    offenders = {
        str(path.relative_to(root)): name
        for path in sorted(root.rglob("*.py"))
        for name in imported_at_load(ast.parse(path.read_text(encoding="utf-8")))
        if name.startswith(SERVER_DIALECTS)
    }
    assert offenders == {}


def test_a_sqlite_mirror_is_created_written_and_read_without_other_dialects(
    tmp_path: Path,
) -> None:
    """The DDL, the writes (plain inserts, upserts, the change log) and the reads go through
    the types' SQLite forms only."""
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    code = (
        "from datetime import datetime\n"
        "import sqlalchemy as sa\n"
        "from sync.db.dialect import insert_rows, upsert_rows\n"
        "from sync.db.engine import make_engine\n"
        "from sync.db.migrate import ensure_schema\n"
        "from sync.db.schema import product_attribute_options as options, products\n"
        f"engine = make_engine({url!r})\n"
        "ensure_schema(engine)\n"
        "now = datetime(2026, 12, 5, 8, 0, 0, 1)\n"
        "columns = ['store_code', 'id', 'sku', 'name', 'data', 'synced_at']\n"
        "row = ('default', 1, 'a', 'A', {'k': [1]}, now)\n"
        "with engine.begin() as conn:\n"
        "    upsert_rows(conn, products, columns, [row], ['sku', 'name', 'data', 'synced_at'])\n"
        "    insert_rows(conn, options, ['store_code', 'attribute_id', 'attribute_code',\n"
        "        'value', 'store_labels'], [('default', 1, 'color', '49', None)])\n"
        "    got = conn.execute(sa.select(products.c.data, products.c.synced_at)).one()\n"
        "    labels = conn.execute(sa.select(options.c.store_labels)).scalar_one()\n"
        "assert tuple(got) == ({'k': [1]}, now) and labels is None, (got, labels)\n"
        "engine.dispose()\n"
    )
    assert not postgresql_after(code)


def server_dialects() -> list[Any]:
    """The dialects (with the drivers) :func:`sync.db.engine.make_engine` picks for servers."""
    # mariadb:// gets mysql+pymysql too: the mariadb dialect ignores mysql_engine/mysql_charset.
    urls = ("postgresql+psycopg://", "mysql+pymysql://")
    return [sa.make_url(url).get_dialect()() for url in urls]


@pytest.mark.parametrize("dialect", server_dialects(), ids=lambda d: d.name)
def test_server_databases_keep_their_own_types(dialect: Any) -> None:
    """The DDL each server gets, and the dialect types SQLAlchemy converts values with."""
    ddl = str(CreateTable(schema.products).compile(dialect=dialect))
    rejects = str(CreateTable(schema.sync_rejects).compile(dialect=dialect))
    options = str(CreateTable(schema.product_attribute_options).compile(dialect=dialect))
    data = schema.products.c.data.type._unwrapped_dialect_impl(dialect)
    labels = schema.product_attribute_options.c.store_labels.type._unwrapped_dialect_impl(dialect)
    synced = schema.products.c.synced_at.type._unwrapped_dialect_impl(dialect)
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        assert "data JSONB NOT NULL" in ddl and "store_labels JSONB" in options
        assert "synced_at TIMESTAMP WITHOUT TIME ZONE NOT NULL" in ddl
        assert "name TEXT" in ddl and "payload TEXT NOT NULL" in rejects
        assert isinstance(data, JSONB) and not data.none_as_null
        assert isinstance(labels, JSONB) and labels.none_as_null
        # psycopg: every parameter carries its type, a JSON one ::JSONB.
        where = sa.select(schema.products.c.id).where(schema.products.c.data == {"k": 1})
        assert "products.data = %(data_1)s::JSONB" in str(where.compile(dialect=dialect))
    else:
        from sqlalchemy.dialects import mysql

        assert "data JSON NOT NULL" in ddl and "store_labels JSON" in options
        assert ddl.rstrip().endswith("ENGINE=InnoDB CHARSET=utf8mb4"), ddl
        assert "synced_at DATETIME(6) NOT NULL" in ddl
        assert "name LONGTEXT" in ddl and "payload MEDIUMTEXT NOT NULL" in rejects
        assert type(synced) is mysql.DATETIME and synced.fsp == 6
        assert isinstance(data, mysql.JSON) and not data.none_as_null
        assert isinstance(labels, mysql.JSON) and labels.none_as_null


def test_alembic_drafts_spell_the_dialect_types() -> None:
    """A migration drafted by autogenerate (migrations/env.py passes ``render_item``) names the
    dialect types, as when schema.py used them directly, never a class of schema.py."""
    from alembic.autogenerate import render_python_code
    from alembic.operations import ops

    tables = (schema.products, schema.sync_rejects, schema.product_attribute_options)
    upgrade = ops.UpgradeOps([ops.CreateTableOp.from_table(table) for table in tables])
    code = render_python_code(upgrade, render_item=schema.render_item)
    assert "sync.db" not in code and "_PostgresJSONB" not in code, code
    assert "sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')" in code
    assert "postgresql.JSONB(none_as_null=True, astext_type=Text()), 'postgresql')" in code
    assert ".with_variant(mysql.DATETIME(fsp=6), 'mysql')" in code
    assert ".with_variant(mysql.MEDIUMTEXT(), 'mysql')" in code
    assert ".with_variant(mysql.LONGTEXT(), 'mysql')" in code

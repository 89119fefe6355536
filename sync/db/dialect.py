"""The one place that knows how each backend spells "insert, or update if the key exists".

SQLite and PostgreSQL say ``ON CONFLICT (key) DO UPDATE`` and name the proposed row
``excluded``; MySQL and MariaDB say ``ON DUPLICATE KEY UPDATE`` and name it ``inserted`` (SQL
``VALUES(col)`` or a row alias). A native upsert is one statement and one round trip per batch,
and it is atomic, unlike select-then-insert which races with a concurrent writer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

__all__ = ["bulk_insert", "dialect_name", "upsert_statement"]


def dialect_name(conn: Connection) -> str:
    """``"sqlite"``, ``"postgresql"`` or ``"mysql"`` (MariaDB included: same SQL here)."""
    name = conn.dialect.name
    return "mysql" if name == "mariadb" else name


def upsert_statement(
    conn: Connection,
    table: sa.Table,
    update_columns: Sequence[str],
    literal_updates: Mapping[str, Any] | None = None,
) -> Insert:
    """An INSERT for ``table`` that, on a primary-key clash, updates ``update_columns``.

    Updated columns take the value proposed by the INSERT. ``literal_updates`` sets other
    columns to SQL expressions (e.g. ``sa.null()``); they must not be bound parameters, because
    PyMySQL batches an executemany only when the ON DUPLICATE clause has no parameters.
    Execute it with a list of parameter dicts to write a whole batch in one statement.
    """
    extra = dict(literal_updates or {})
    name = dialect_name(conn)
    if name == "postgresql":
        pg = postgresql.insert(table)
        pg_set = {c: pg.excluded[c] for c in update_columns} | extra
        return pg.on_conflict_do_update(constraint=table.primary_key, set_=pg_set)
    if name == "sqlite":
        lite = sqlite.insert(table)
        lite_set = {c: lite.excluded[c] for c in update_columns} | extra
        index = [c.name for c in table.primary_key.columns]
        return lite.on_conflict_do_update(index_elements=index, set_=lite_set)
    if name == "mysql":
        my = mysql.insert(table)
        my_set = {c: my.inserted[c] for c in update_columns} | extra
        return my.on_duplicate_key_update(my_set)
    raise NotImplementedError(f"no upsert for database dialect {conn.dialect.name!r}")


def bulk_insert(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) in as few round trips as the driver allows.

    psycopg runs an executemany as one statement per row (pipelined, but still a statement and
    a parameter conversion each), which made a page's few thousand attribute rows the slowest
    part of a sync. On PostgreSQL the rows therefore travel as one array per column and
    ``unnest`` turns them back into rows: one statement, whatever the count. SQLite's and
    PyMySQL's executemany are already fast (PyMySQL rewrites it into multi-row INSERTs), and
    neither has a bound-parameter limit problem that way.
    """
    if not rows:
        return
    if dialect_name(conn) != "postgresql":
        _driver_executemany(conn, table, rows)
        return
    columns = list(rows[0])
    # The psycopg dialect renders each as %(p)s::TYPE[], so PostgreSQL knows the array types.
    arrays = [
        sa.bindparam(
            f"p_{name}",
            [row[name] for row in rows],
            type_=postgresql.ARRAY(table.c[name].type),
        )
        for name in columns
    ]
    # WITH ORDINALITY + ORDER BY: rows go in, and take serial values, in the given order.
    source = (
        sa.func.unnest(*arrays)
        .table_valued(*columns, with_ordinality="ordinality")
        .render_derived(name="unnested")
    )
    select = sa.select(*[source.c[name] for name in columns]).order_by(source.c.ordinality)
    conn.execute(sa.insert(table).from_select(columns, select))


def _driver_executemany(
    conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """``executemany`` of a plain INSERT, straight to the driver when no column needs converting.

    SQLAlchemy prepares every row of an executemany in Python (a dict per row, a bind processor
    lookup per value), which for a page's thousands of attribute rows cost more than SQLite's
    own insert. When none of the columns has a bind processor on this dialect, the compiled
    INSERT goes to the driver's executemany as is, with the values in the statement's order;
    otherwise (e.g. a DATETIME on SQLite) SQLAlchemy converts them as usual.
    """
    columns = list(rows[0])
    dialect = conn.dialect
    if any(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns):
        conn.execute(sa.insert(table), list(rows))
        return
    compiled = sa.insert(table).compile(dialect=dialect, column_keys=columns)
    if compiled.positional:
        order = compiled.positiontup or []
        params: list[Any] = [tuple(row[name] for name in order) for row in rows]
    else:
        params = [dict(row) for row in rows]
    conn.exec_driver_sql(str(compiled), params)

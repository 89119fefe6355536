"""The one place that knows how each backend spells "insert, or update if the key exists".

SQLite and PostgreSQL say ``ON CONFLICT (key) DO UPDATE`` and name the proposed row
``excluded``; MySQL and MariaDB say ``ON DUPLICATE KEY UPDATE`` and name it ``inserted`` (SQL
``VALUES(col)`` or a row alias). A native upsert is one statement and one round trip per batch,
and it is atomic, unlike select-then-insert which races with a concurrent writer.

The PostgreSQL and MySQL dialect packages are imported inside the functions that build their
statements: a SQLite process never needs them, and importing PostgreSQL's cost it about 40 ms of
CPU at every start (:mod:`sync.db.schema` defers its dialect types for the same reason; the
MySQL one is still imported there, to check the tables' MySQL options).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import Null

from sync import jsontext

__all__ = ["bulk_insert", "dialect_name", "insert_rows", "upsert_rows", "upsert_statement"]


def dialect_name(conn: Connection) -> str:
    """``"sqlite"``, ``"postgresql"`` or ``"mysql"`` (MariaDB included: same SQL here)."""
    name = conn.dialect.name
    return "mysql" if name == "mariadb" else name


def upsert_statement(
    conn: Connection,
    table: sa.Table,
    update_columns: Sequence[str],
    literal_updates: Mapping[str, Any] | None = None,
    added_columns: Sequence[str] = (),
) -> Insert:
    """An INSERT for ``table`` that, on a primary-key clash, updates ``update_columns``.

    Updated columns take the value proposed by the INSERT; ``added_columns`` take the stored
    value plus the proposed one (a counter). ``literal_updates`` sets other
    columns to SQL expressions (e.g. ``sa.null()``); they must not be bound parameters, because
    PyMySQL batches an executemany only when the ON DUPLICATE clause has no parameters.
    Execute it with a list of parameter dicts to write a whole batch in one statement.

    Statements are immutable: one built for the same table, columns and dialect is reused
    (pages build the same few again and again), unless ``literal_updates`` holds anything but
    NULL, which is then built anew rather than compared.
    """
    name = dialect_name(conn)
    extra = dict(literal_updates or {})
    key = None
    if all(isinstance(value, Null) for value in extra.values()):
        key = (name, table, tuple(update_columns), tuple(sorted(extra)), tuple(added_columns))
        found = _UPSERTS.get(key)
        if found is not None:
            return found
    statement = _upsert(name, conn, table, update_columns, extra, added_columns)
    if key is not None:
        if len(_UPSERTS) >= 64:
            _UPSERTS.clear()
        _UPSERTS[key] = statement
    return statement


#: Upserts already built, by dialect, table and columns (see :func:`upsert_statement`).
_UPSERTS: dict[tuple[Any, ...], Insert] = {}


def _upsert(
    name: str,
    conn: Connection,
    table: sa.Table,
    update_columns: Sequence[str],
    extra: dict[str, Any],
    added_columns: Sequence[str],
) -> Insert:
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(table)
        pg_set = {c: pg.excluded[c] for c in update_columns} | extra
        pg_set |= {c: table.c[c] + pg.excluded[c] for c in added_columns}
        return pg.on_conflict_do_update(constraint=table.primary_key, set_=pg_set)
    if name == "sqlite":
        lite = sqlite.insert(table)
        lite_set = {c: lite.excluded[c] for c in update_columns} | extra
        lite_set |= {c: table.c[c] + lite.excluded[c] for c in added_columns}
        index = [c.name for c in table.primary_key.columns]
        return lite.on_conflict_do_update(index_elements=index, set_=lite_set)
    if name == "mysql":
        from sqlalchemy.dialects import mysql

        my = mysql.insert(table)
        my_set = {c: my.inserted[c] for c in update_columns} | extra
        my_set |= {c: table.c[c] + my.inserted[c] for c in added_columns}
        return my.on_duplicate_key_update(my_set)
    raise NotImplementedError(f"no upsert for database dialect {conn.dialect.name!r}")


def bulk_insert(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) in as few round trips as the driver allows
    (see :func:`insert_rows`)."""
    if not rows:
        return
    columns = list(rows[0])
    insert_rows(conn, table, columns, [tuple(row[name] for name in columns) for row in rows])


def insert_rows(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (one value per name in ``columns``, in that order) into ``table``, in the
    given order, in as few statements as the driver allows.

    psycopg runs an executemany as one statement per row (pipelined, but still a statement and
    a parameter conversion each), which made a page's few thousand attribute rows the slowest
    part of a sync. On PostgreSQL the rows therefore travel as one array per column and
    ``unnest`` turns them back into rows: one statement, whatever the count. SQLite gets
    multi-row VALUES of up to 999 parameters (the oldest builds' limit): a third cheaper than
    one step per row. PyMySQL rewrites an executemany into multi-row INSERTs itself.
    """
    if not rows:
        return
    name = dialect_name(conn)
    if name == "postgresql":
        conn.execute(sa.insert(table).from_select(columns, _unnest(table, columns, rows)))
    elif name == "sqlite":
        _sqlite_values(conn, table, columns, rows)
    else:
        _executemany(conn, sa.insert(table), table, columns, rows)


def upsert_rows(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    update_columns: Sequence[str],
    literal_updates: Mapping[str, Any] | None = None,
) -> None:
    """:func:`upsert_statement` for ``rows`` (values in ``columns`` order), in one statement on
    PostgreSQL (``INSERT ... SELECT FROM unnest(...) ON CONFLICT``) and one driver executemany
    elsewhere. No two rows may have the same key (PostgreSQL refuses to update a row twice)."""
    if not rows:
        return
    if dialect_name(conn) == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(table).from_select(columns, _unnest(table, columns, rows))
        pg_set = {c: pg.excluded[c] for c in update_columns} | dict(literal_updates or {})
        conn.execute(pg.on_conflict_do_update(constraint=table.primary_key, set_=pg_set))
        return
    statement = upsert_statement(conn, table, update_columns, literal_updates)
    _executemany(conn, statement, table, columns, rows)


def _unnest(
    table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> sa.Select[Any]:
    """The rows as a SELECT over one array parameter per column, in the given order.

    A JSON column travels instead as one JSON array text, split by ``jsonb_array_elements``:
    psycopg writes a text array with every ``"`` and ``\\`` escaped by a regular expression,
    which for a page of product JSON (600 KB of quotes) cost more than the rest of the write.
    """
    from sqlalchemy.dialects.postgresql import ARRAY, JSONB

    columns = list(columns)
    by_column = dict(zip(columns, zip(*rows, strict=True), strict=True))
    plain = [name for name in columns if not isinstance(table.c[name].type, sa.JSON)]
    if not plain:
        raise ValueError("unnest needs at least one column that is not JSON")
    # The psycopg dialect renders each as %(p)s::TYPE[], so PostgreSQL knows the array types.
    arrays = [
        sa.bindparam(f"p_{name}", list(by_column[name]), type_=ARRAY(table.c[name].type))
        for name in plain
    ]
    # WITH ORDINALITY + ORDER BY: rows go in, and take serial values, in the given order.
    source = (
        sa.func.unnest(*arrays)
        .table_valued(*plain, with_ordinality="ordinality")
        .render_derived(name="unnested")
    )
    selected: dict[str, Any] = {name: source.c[name] for name in plain}
    joined: sa.FromClause = source
    for name in columns:
        if name in selected:
            continue
        text = "[" + ",".join(jsontext.serialize(v) for v in by_column[name]) + "]"
        as_json = sa.cast(sa.bindparam(f"p_{name}", text, type_=sa.Text()), JSONB())
        elements = (
            sa.func.jsonb_array_elements(as_json)
            .table_valued("value", with_ordinality="ordinality")
            .render_derived(name=f"json_{name}")
        )
        joined = joined.join(elements, elements.c.ordinality == source.c.ordinality)
        selected[name] = elements.c.value
    query = sa.select(*[selected[name] for name in columns]).select_from(joined)
    return query.order_by(source.c.ordinality)


@dataclass(frozen=True)
class _Prepared:
    """A statement compiled for straight-to-driver execution."""

    sql: str
    #: Where each bound value comes from: positions in the row, in the statement's order.
    order: tuple[int, ...]
    #: The bind names, in the same order, for a driver taking named parameters; else None.
    names: tuple[str, ...] | None
    #: (position in the row, the dialect's conversion) for the values that need converting.
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]
    #: One row's driver parameters (see :func:`_row_function`).
    row: Callable[[Sequence[Any]], Any]
    #: Whether a tuple row is its own parameters (positional, in order, nothing to convert).
    as_is: bool


def _row_function(
    order: Sequence[int],
    names: Sequence[str] | None,
    converters: Sequence[tuple[int, Callable[[Any], Any]]],
) -> Callable[[Sequence[Any]], Any]:
    """A function of one row (one value per column) returning its driver parameters: a tuple
    in the statement's ``order``, or a dict by bind ``names``, each value converted by its
    column's converter. Written out for the statement, as ``dataclasses`` writes ``__init__``,
    it costs a third of converting value by value in a loop (a page's rows are thousands)."""
    convert = dict(converters)
    env: dict[str, Any] = {}
    parts = []
    for slot, position in enumerate(order):
        value = f"row[{int(position)}]"
        if position in convert:
            env[f"c{slot}"] = convert[position]
            value = f"c{slot}({value})"
        parts.append(value if names is None else f"{names[slot]!r}: {value}")
    body = (
        "(" + "".join(f"{part}, " for part in parts) + ")"
        if names is None
        else ("{" + ", ".join(parts) + "}")
    )
    code = f"def row_parameters(row):\n    return {body}\n"
    exec(compile(code, "<sync.db.dialect row>", "exec"), env)  # noqa: S102 - our own text
    function: Callable[[Sequence[Any]], Any] = env["row_parameters"]
    return function


# Compiling an 18-column upsert costs half a millisecond; pages reuse a handful of statements.
_PREPARED: dict[tuple[Any, ...], _Prepared] = {}


def _prepare(
    conn: Connection, statement: Insert, table: sa.Table, columns: Sequence[str]
) -> _Prepared:
    dialect = conn.dialect
    # SQLAlchemy's own cache key: the statement's structure, without parameter values.
    cache_key = statement._generate_cache_key()
    key = None
    if cache_key is not None and not cache_key.bindparams:
        key = (dialect, cache_key.key, tuple(columns))
        found = _PREPARED.get(key)
        if found is not None:
            return found
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    bound = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    index = {name: i for i, name in enumerate(columns)}
    if sorted(bound) != sorted(columns):
        raise ValueError(f"statement binds {bound}, not the columns {list(columns)}")
    converters = []
    for i, name in enumerate(columns):
        impl = table.c[name].type.dialect_impl(dialect)
        process = impl.bind_processor(dialect)
        if process is not None:
            converters.append((i, _sqlite_datetime(impl, process) or process))
    order = tuple(index[name] for name in bound)
    names = None if compiled.positional else tuple(bound)
    prepared = _Prepared(
        sql=str(compiled),
        order=order,
        names=names,
        converters=tuple(converters),
        row=_row_function(order, names, converters),
        as_is=names is None and not converters and order == tuple(range(len(order))),
    )
    if key is not None:
        if len(_PREPARED) >= 64:
            _PREPARED.clear()
        _PREPARED[key] = prepared
    return prepared


def _sqlite_datetime(impl: Any, process: Callable[[Any], Any]) -> Callable[[Any], Any] | None:
    """For SQLite's ``DATETIME`` in its default storage format, a converter writing the same
    text (``YYYY-MM-DD HH:MM:SS.ffffff``) with ``isoformat``, at a third of the cost of
    SQLAlchemy's ``%`` formatting (five of them per product); None for any other type."""
    if type(impl) is not sqlite.DATETIME:
        return None
    if impl._storage_format != sqlite.DATETIME._storage_format:
        return None

    def convert(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return process(value)  # a date, an aware datetime, None, or a wrong type: as before

    return convert


def _converted(prepared: _Prepared, rows: Sequence[Sequence[Any]]) -> Sequence[Any]:
    """Driver parameters for ``rows``: converted as SQLAlchemy would, in the statement's order
    (``rows`` themselves when they already are: tuples, in order, with nothing to convert)."""
    if prepared.as_is and type(rows) is list and all(type(row) is tuple for row in rows):
        return rows  # a list: a tuple of rows would be read as one row's parameters
    return list(map(prepared.row, rows))


def _executemany(
    conn: Connection,
    statement: Insert,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """``statement`` once per row, as one driver ``executemany``.

    SQLAlchemy prepares every row of an executemany in Python (a dict per row, a bind processor
    lookup per value), which for a page's products and thousands of attribute rows cost more
    than the database's own work. Here the compiled statement goes to the driver as is, with
    the values converted by the same bind processors SQLAlchemy would use.
    """
    prepared = _prepare(conn, statement, table, columns)
    conn.exec_driver_sql(prepared.sql, _converted(prepared, rows))


#: SQLite's bound-parameter limit before 3.32 (later builds allow 32766).
_SQLITE_MAX_PARAMETERS = 999


#: Below this many rows a statement is small, and any count gets a shape of its own.
_SQLITE_SMALL = 16


def _sqlite_values(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Plain INSERTs of many rows each (``VALUES (...), (...), ...``), rows in the given order.

    The driver keeps the last 128 statements it prepared, per connection, and one of a few
    hundred rows holds a few hundred KB: a statement for every row count made a long
    backfill's memory creep. So the counts come from a few shapes only (see
    :func:`_sqlite_chunks`), which the driver's cache also prepares once.
    """
    prepared = _prepare(conn, sa.insert(table), table, columns)
    head, values = prepared.sql.rsplit(" VALUES ", 1)
    most = max(1, _SQLITE_MAX_PARAMETERS // len(columns))
    params = _converted(prepared, rows)
    start = 0
    for size in _sqlite_chunks(len(params), most):
        part = params[start : start + size]
        start += size
        sql = f"{head} VALUES {', '.join([values] * size)}"
        conn.exec_driver_sql(sql, tuple(itertools.chain.from_iterable(part)))


def _sqlite_chunks(count: int, most: int) -> list[int]:
    """``count`` rows as statement sizes: ``most`` while that many are left, then halves of
    it (down to :data:`_SQLITE_SMALL`) while they fit, then what is left in one small one."""
    sizes = [most] * (count // most)
    left = count % most
    size = most // 2
    while left >= _SQLITE_SMALL and size >= _SQLITE_SMALL:
        if left >= size:
            sizes.append(size)
            left -= size
        size //= 2
    while left >= _SQLITE_SMALL:  # only when most itself is below twice the small size
        sizes.append(_SQLITE_SMALL)
        left -= _SQLITE_SMALL
    if left:
        sizes.append(left)
    return sizes

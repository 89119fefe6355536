"""Migration steps that a MySQL/MariaDB migration killed half-way can simply repeat.

SQLite and PostgreSQL run a whole migration in one transaction: killed, it leaves nothing. MySQL
and MariaDB commit every DDL statement at once, so a migration killed after its first
``CREATE TABLE`` leaves that table behind while ``alembic_version`` still names the revision
before; the rerun then failed on "Table 'categories' already exists" for ever. These
replacements for :mod:`alembic.op` look first, on MySQL/MariaDB only, and skip what an earlier
attempt already did: a table (one ``CREATE TABLE`` is atomic, so a leftover has all its
columns: a table of the same name with other columns is not ours, and the migration stops
with a :class:`~sync.errors.SchemaError` naming it), an index, a column, a column type. On
other databases, and for ``alembic upgrade --sql``, they are exactly :mod:`alembic.op`'s.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from sync.errors import SchemaError

__all__ = ["add_column", "create_index", "create_table"]

logger = logging.getLogger(__name__)


def _resuming() -> bool:
    """Whether to look before each step: a live MySQL/MariaDB connection."""
    if context.is_offline_mode():
        return False
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def _inspector() -> sa.Inspector:
    # A fresh inspector each time: an Inspector caches what it has read.
    return sa.inspect(op.get_bind())


def _step() -> str:
    """The upgrade being made, in words: "upgrading from revision 0003"."""
    heads = context.get_context().get_current_heads()
    return f"upgrading from revision {heads[0]}" if heads else "creating the schema"


def create_table(name: str, *elements: Any, **kw: Any) -> None:
    """``op.create_table``, or nothing when an interrupted run already created the table."""
    if _resuming():
        inspector = _inspector()
        if inspector.has_table(name):
            wanted = {e.name for e in elements if isinstance(e, sa.Column)}
            found = {c["name"] for c in inspector.get_columns(name)}
            if found != wanted:
                raise SchemaError(
                    f"cannot migrate: {_step()} creates table {name!r}, but the database "
                    f"already has a table of that name with other columns "
                    f"({', '.join(sorted(found))}); it is not accs-sync's. Rename or drop it, "
                    "or keep accs-sync's tables in a database of their own"
                )
            logger.info("table %s was created by an interrupted migration; kept", name)
            return
    op.create_table(name, *elements, **kw)


def create_index(name: str, table: str, columns: list[str], **kw: Any) -> None:
    """``op.create_index``, or nothing when the index exists already."""
    if _resuming() and name in {ix["name"] for ix in _inspector().get_indexes(table)}:
        return
    op.create_index(name, table, columns, **kw)


def add_column(table: str, column: sa.Column[Any]) -> None:
    """``op.add_column``, or nothing when the column exists already."""
    if _resuming() and column.name in {c["name"] for c in _inspector().get_columns(table)}:
        return
    op.add_column(table, column)

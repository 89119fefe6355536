"""Child rows: rows of another table that belong to one row of a resource's table.

An attribute's options belong to its row in ``product_attribute_metadata``. They are written
as a whole: when the parent row is written its child rows are deleted and inserted again, in
the same transaction, so a removed option disappears with the write that no longer lists it;
when the parent is tombstoned they are deleted (or kept, as the resource declares). The child
table carries the parent's key columns under the same names (``store_code``, the key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from sync.db.changes import chunks
from sync.db.dialect import dialect_name, upsert_statement

__all__ = ["delete_children", "replace_children"]


def delete_children(
    conn: Connection,
    table: sa.Table,
    scope: Mapping[str, Any],
    key_columns: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
) -> None:
    """Delete the child rows of the parents ``keys`` (values of ``key_columns``) within
    ``scope`` (column -> value, e.g. the store view)."""
    columns = [table.c[name] for name in key_columns]
    fixed = [table.c[name] == value for name, value in scope.items()]
    for part in chunks(keys):
        match = (
            columns[0].in_([key[0] for key in part])
            if len(columns) == 1
            else sa.tuple_(*columns).in_([tuple(key) for key in part])
        )
        conn.execute(sa.delete(table).where(*fixed, match))


def replace_children(
    conn: Connection,
    table: sa.Table,
    scope: Mapping[str, Any],
    key_columns: Sequence[str],
    families: Sequence[tuple[tuple[Any, ...], list[dict[str, Any]]]],
) -> None:
    """Make each parent's child rows exactly the ones given: ``families`` pairs a parent key
    with its rows (the child table's other columns; scope and key columns are added here)."""
    delete_children(conn, table, scope, key_columns, [key for key, _ in families])
    rows = [
        {**scope, **dict(zip(key_columns, key, strict=True)), **row}
        for key, children in families
        for row in children
    ]
    if not rows:
        return
    insert: sa.Insert = sa.insert(table)
    if dialect_name(conn) == "mysql":
        # Values MySQL/MariaDB's collation calls equal ("e", "é") are one key there: the last
        # one wins instead of a duplicate-key error failing the page.
        keys = {c.name for c in table.primary_key.columns}
        insert = upsert_statement(
            conn, table, [c.name for c in table.columns if c.name not in keys]
        )
    for part in chunks(rows):
        conn.execute(insert, list(part))

"""The driver parameters sync.db.dialect prepares for SQLite's DATETIME columns are, text for
text, what SQLAlchemy's own bind processor writes (the stored text must never change: the
mirror compares and sorts it)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from sync.db.dialect import _prepare, dialect_name
from sync.db.schema import products


def values() -> list[Any]:
    rng = random.Random(3)
    out: list[Any] = [
        None,
        datetime(1, 1, 1),
        datetime(999, 12, 31, 23, 59, 59, 999999),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 12, 5, 8, 0, 0),
        datetime(2026, 12, 5, 8, 0, 0, 1),
        datetime(2026, 12, 5, 8, 0, 0, tzinfo=UTC),
        datetime(2026, 12, 5, 8, 0, 0, tzinfo=timezone(timedelta(hours=2))),
        date(2026, 12, 5),
    ]
    start = datetime(1970, 1, 1)
    out += [start + timedelta(microseconds=rng.randrange(10**17)) for _ in range(2000)]
    return out


class FakeConnection:
    dialect = sqlite.dialect()


def test_sqlite_datetime_parameters_are_sqlalchemys_text() -> None:
    conn: Any = FakeConnection()
    assert dialect_name(conn) == "sqlite"
    columns = ["store_code", "id", "sku", "created_at", "synced_at"]
    prepared = _prepare(conn, sa.insert(products), products, columns)
    converters = dict(prepared.converters)
    reference = products.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    assert reference is not None
    for index in (3, 4):
        for value in values():
            assert converters[index](value) == reference(value), value

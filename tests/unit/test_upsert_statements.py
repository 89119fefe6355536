"""A page builds the same few upsert statements every time: each is built once per process and
shared, and statements that differ in any way are never mixed up."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from sync.db.dialect import upsert_statement
from sync.db.schema import products, sync_state


class FakeConnection:
    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect


DIALECTS = [sqlite.dialect(), postgresql.dialect(), mysql.dialect()]


def sql(conn: Any, statement: sa.Insert) -> str:
    return str(statement.compile(dialect=conn.dialect))


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_the_same_upsert_is_built_once(dialect: Any) -> None:
    conn = FakeConnection(dialect)
    first = upsert_statement(conn, sync_state, ["value", "updated_at"])  # type: ignore[arg-type]
    again = upsert_statement(conn, sync_state, ("value", "updated_at"))  # type: ignore[arg-type]
    assert again is first


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_upserts_that_differ_are_not_mixed_up(dialect: Any) -> None:
    conn: Any = FakeConnection(dialect)
    value = upsert_statement(conn, sync_state, ["value"])
    both = upsert_statement(conn, sync_state, ["value", "updated_at"])
    assert sql(conn, value) != sql(conn, both)
    cleared = upsert_statement(conn, products, ["sku"], {"deleted_at": sa.null()})
    plain = upsert_statement(conn, products, ["sku"])
    assert (
        "deleted_at" in sql(conn, cleared) and "deleted_at" not in sql(conn, plain).split("ON")[-1]
    )
    # Expressions other than NULL are not compared, only built anew: never a stale one.
    one = upsert_statement(conn, products, ["sku"], {"name": sa.literal_column("'one'")})
    two = upsert_statement(conn, products, ["sku"], {"name": sa.literal_column("'two'")})
    assert "'one'" in sql(conn, one) and "'two'" in sql(conn, two)
    added = upsert_statement(conn, products, ["sku"], added_columns=["status"])
    assert sql(conn, added) != sql(conn, plain)


def test_another_dialect_gets_its_own_statement() -> None:
    lite: Any = FakeConnection(sqlite.dialect())
    pg: Any = FakeConnection(postgresql.dialect())
    assert upsert_statement(lite, sync_state, ["value"]) is not upsert_statement(
        pg, sync_state, ["value"]
    )

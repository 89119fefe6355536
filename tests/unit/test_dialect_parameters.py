"""Driver parameters from sync.db.dialect's prepared statements: each row's values in the
statement's order, converted by their columns' bind processors, as a tuple for a positional
driver (SQLite) or a dict by bind name for a named one (psycopg, PyMySQL); a row of tuples
already in order with nothing to convert goes to the driver as it is."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from sync.db.dialect import _converted, _prepare, _row_function
from sync.db.schema import product_attributes, products


def test_a_row_function_orders_converts_and_names() -> None:
    def double(value: Any) -> Any:
        return value * 2

    positional = _row_function([2, 0, 1], None, [(0, double)])
    assert positional(["a", "b", "c"]) == ("c", "aa", "b")
    assert positional(("x", 1, None)) == (None, "xx", 1)
    named = _row_function([1, 0], ["p_b", "p'a"], [(1, str)])
    assert named((5, 6)) == {"p_b": "6", "p'a": 5}
    assert _row_function([], None, [])(()) == ()


class Dialect:
    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect


def test_parameters_equal_sqlalchemys_bind_processors_on_each_driver() -> None:
    """What SQLAlchemy itself would send for the same row: its compiled statement's own bind
    names and order (``construct_params``, ``positiontup``) and bind processors, not ours."""
    columns = ("updated_at", "store_code", "price", "id", "is_in_stock", "sku", "synced_at")
    row = (
        datetime(2026, 1, 2, 3, 4, 5),
        "default",
        Decimal("12.5"),
        7,
        True,
        "SKU-7",
        datetime(2026, 1, 2, 3, 4, 6, 7),
    )
    for dialect in (sqlite.dialect(), postgresql.dialect(), mysql.dialect()):
        conn: Any = Dialect(dialect)
        prepared = _prepare(conn, sa.insert(products), products, columns)
        compiled = sa.insert(products).compile(dialect=dialect, column_keys=list(columns))
        raw = compiled.construct_params(dict(zip(columns, row, strict=True)))
        processors = compiled._bind_processors
        expected = {
            name: processors[name](value) if name in processors else value
            for name, value in raw.items()
        }
        (got,) = _converted(prepared, [row])
        if compiled.positional:
            assert got == tuple(expected[name] for name in compiled.positiontup or ())
        else:
            assert got == expected


def test_rows_already_in_order_are_handed_on_as_they_are() -> None:
    conn: Any = Dialect(sqlite.dialect())
    columns = ("store_code", "product_id", "attribute_code", "value")
    prepared = _prepare(conn, sa.insert(product_attributes), product_attributes, columns)
    rows = [("default", 1, "color", "Red"), ("default", 1, "size", None)]
    assert _converted(prepared, rows) is rows
    lists = [list(row) for row in rows]
    assert _converted(prepared, lists) == rows  # not tuples: copied
    assert _converted(prepared, tuple(rows)) == rows  # not a list: a list of rows

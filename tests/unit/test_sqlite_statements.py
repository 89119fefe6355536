"""Multi-row INSERTs on SQLite come in a few shapes only: the driver keeps up to 128 prepared
statements per connection, and one of a few hundred rows holds a few hundred KB, so a new shape
for every row count made a long backfill's memory creep (5 MB over 20,000 products)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from sync.db.dialect import insert_rows

metadata = sa.MetaData()
pairs = sa.Table(
    "pairs",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("a", sa.Integer),
    sa.Column("b", sa.String(10)),
)


def test_every_row_count_is_written_in_order_with_few_statement_shapes(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shapes.db'}")
    metadata.create_all(engine)
    shapes: set[str] = set()

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO pairs"):
            shapes.add(statement)

    expected: list[tuple[int, str]] = []
    with engine.begin() as conn:
        for count in range(1, 1200, 7):
            rows = [(count * 10_000 + i, f"r{i}") for i in range(count)]
            insert_rows(conn, pairs, ("a", "b"), rows)
            expected += rows
    with engine.connect() as conn:
        stored = conn.execute(sa.select(pairs.c.a, pairs.c.b).order_by(pairs.c.seq)).all()
    assert [tuple(row) for row in stored] == expected
    # 499 rows a statement at most (999 parameters), halves down to 16, then up to 15 rows.
    assert len(shapes) <= 25, len(shapes)
    engine.dispose()

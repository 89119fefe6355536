"""A new SQLite mirror is written in 16 KiB pages; a mirror made before keeps its own.

A product row is a ~2 KB JSON document plus its columns: in SQLite's default 4 KiB pages most
pages held one row, and every page a commit touched was written to the WAL (two system calls a
frame) and copied back by the checkpoint. In 16 KiB pages a 20,000-product backfill makes a
quarter smaller file and costs ~0.1 CPU-s less. The page size of an existing file never
changes (SQLite allows it only before the first table, and never in WAL mode).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

from sync.db.engine import SQLITE_PAGE_SIZE, make_engine
from sync.db.migrate import ensure_schema


def page_size(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def test_a_new_sqlite_mirror_has_16_kib_pages(tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        ensure_schema(engine)
    finally:
        engine.dispose()
    assert SQLITE_PAGE_SIZE == 16384
    assert page_size(path) == SQLITE_PAGE_SIZE


def test_a_mirror_made_with_4_kib_pages_keeps_them_and_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    made = sqlite3.connect(path)
    made.execute("PRAGMA journal_mode = WAL")
    made.execute("CREATE TABLE kept (x INTEGER)")
    made.execute("INSERT INTO kept VALUES (1)")
    made.commit()
    made.close()
    assert page_size(path) == 4096
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO kept VALUES (2)")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM kept ORDER BY x")).scalars().all() == [1, 2]
    finally:
        engine.dispose()
    assert page_size(path) == 4096

"""A new, empty SQLite mirror is created at head in one step, and is exactly what migrating
from nothing makes.

Alembic's import and eight revisions run one by one cost a first backfill ~0.15 CPU-s; an
empty SQLite file is instead created from the schema metadata, the view, and the head revision
stamped, as Alembic documents for new databases. These tests compare every part of the two
schemas SQLite keeps (tables' columns in order with types, NOT NULL, defaults and keys,
indexes and their columns, foreign keys, CHECK constraints, views' SQL, every row) and that
the later migrations still find the database at head.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from sync.db.engine import make_engine
from sync.db.migrate import alembic_config, current_revision, ensure_schema, head_revision


def migrated_from_nothing(path: Path) -> None:
    """The reference: Alembic's revisions run one by one on the empty file."""
    from alembic import command

    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            command.upgrade(alembic_config(conn), "head")
            conn.commit()
    finally:
        engine.dispose()


def created(path: Path) -> None:
    engine = make_engine(f"sqlite:///{path}")
    try:
        ensure_schema(engine)
    finally:
        engine.dispose()


def _clauses(sql: str, word: str = "CHECK") -> list[str]:
    """The ``word`` clauses' texts in a CREATE TABLE statement (CHECK constraints; COLLATE
    and its name)."""
    if word == "COLLATE":
        return sorted(sql[i : i + 30].split(",")[0] for i in _find_all(sql, "COLLATE"))
    found = []
    start = sql.find("CHECK")
    while start != -1:
        depth, i = 0, sql.index("(", start)
        for j in range(i, len(sql)):
            depth += {"(": 1, ")": -1}.get(sql[j], 0)
            if depth == 0:
                found.append(sql[start : j + 1])
                break
        start = sql.find("CHECK", start + 5)
    return sorted(found)


def _find_all(text: str, word: str) -> list[int]:
    found, start = [], text.find(word)
    while start != -1:
        found.append(start)
        start = text.find(word, start + len(word))
    return found


def structure(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        master = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        out: dict[str, Any] = {"objects": [(t, n, tbl) for t, n, tbl, _ in master]}
        for kind, name, _, sql in master:
            if kind == "view":
                out[f"view {name}"] = sql
            if kind != "table":
                continue
            out[f"columns {name}"] = conn.execute(f"PRAGMA table_xinfo('{name}')").fetchall()
            out[f"foreign keys {name}"] = conn.execute(
                f"PRAGMA foreign_key_list('{name}')"
            ).fetchall()
            out[f"checks {name}"] = _clauses(sql or "")
            out[f"collations {name}"] = _clauses(sql or "", "COLLATE")
            out[f"kind {name}"] = conn.execute(f"PRAGMA table_list('{name}')").fetchall()
            indexes = sorted(conn.execute(f"PRAGMA index_list('{name}')").fetchall())
            out[f"indexes {name}"] = sorted(row[1:] for row in indexes)  # not their order
            for index in indexes:
                out[f"index {index[1]}"] = conn.execute(
                    f"PRAGMA index_xinfo('{index[1]}')"
                ).fetchall()
                out[f"index sql {index[1]}"] = conn.execute(
                    "SELECT sql FROM sqlite_master WHERE name = ?", (index[1],)
                ).fetchall()
            rows = conn.execute(f"SELECT * FROM '{name}'")  # noqa: S608 - our own table names
            out[f"rows {name}"] = sorted(rows.fetchall())
        out["journal"] = conn.execute("PRAGMA journal_mode").fetchall()
        out["user_version"] = conn.execute("PRAGMA user_version").fetchall()
        return out
    finally:
        conn.close()


def test_a_new_sqlite_mirror_is_exactly_the_migrated_schema(tmp_path: Path) -> None:
    migrated_from_nothing(tmp_path / "migrated.db")
    created(tmp_path / "created.db")
    reference, made = structure(tmp_path / "migrated.db"), structure(tmp_path / "created.db")
    assert made.keys() == reference.keys()
    for part, value in reference.items():
        assert made[part] == value, part


def test_a_new_sqlite_mirror_stays_at_head_for_the_next_run(tmp_path: Path) -> None:
    created(tmp_path / "created.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'created.db'}")
    try:
        assert current_revision(engine) == head_revision()
        ensure_schema(engine)  # nothing to do, nothing refused
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_a_new_sqlite_mirror_is_created_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    probe = (
        "import sys\n"
        "from sync.db.engine import make_engine\n"
        "from sync.db.migrate import ensure_schema\n"
        f"ensure_schema(make_engine({url!r}))\n"
        "print(sorted(m for m in sys.modules if m == 'alembic' or m.startswith('alembic.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_database_downgraded_to_nothing_is_migrated_again(tmp_path: Path) -> None:
    # A downgrade to base leaves Alembic's empty version table: the revisions run again.
    from alembic import command

    path = tmp_path / "downgraded.db"
    created(path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            command.downgrade(alembic_config(conn), "base")
            conn.commit()
        ensure_schema(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    migrated_from_nothing(tmp_path / "migrated.db")
    assert structure(path) == structure(tmp_path / "migrated.db")

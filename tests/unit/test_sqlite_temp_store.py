"""Statement journals of a SQLite mirror stay in memory; a migration's sorts stay on disk.

Every multi-row INSERT (and every upsert) inside a page's transaction may fail half-way, so
SQLite keeps a statement journal of the pages it changes that earlier statements of the same
transaction changed too. With the default ``temp_store`` that journal goes to a temporary file
once it outgrows 64 KiB (four 16 KiB pages): a 20,000-product backfill opened one such file per
page and wrote 700 MB through 85,000 system calls into them. With ``temp_store = MEMORY`` it
stays a few pages in memory. A migration's sorts (an index built over a large table) would
then be held in memory whole, so Alembic revisions run with ``temp_store = FILE``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sync.db import migrate
from sync.db.engine import make_engine

needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


def _temporary_files() -> list[str]:
    """SQLite's open temporary files: ``etilqs_*``, unlinked as soon as they are opened."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "etilqs_" in target:
            found.append(target)
    return found


@needs_proc
def test_a_write_transaction_opens_no_temporary_file(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
            conn.exec_driver_sql("CREATE INDEX ix_t_v ON t (v)")
        sql = "INSERT INTO t (k, v) VALUES " + ", ".join(["(?, ?)"] * 200)  # noqa: S608
        with engine.begin() as conn:
            for start in (0, 2000):  # the second statement changes pages the first changed
                for part in range(start, start + 2000, 200):
                    values: list[Any] = []
                    for k in range(part, part + 200):
                        values += [k % 2000 * 2 + start // 2000, f"{k % 37:03d}" + "x" * 300]
                    conn.exec_driver_sql(sql, tuple(values))
            assert _temporary_files() == []
            assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
    finally:
        engine.dispose()


def test_alembic_revisions_sort_on_disk_and_the_connection_is_given_back_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    seen: list[int] = []

    def upgrade(config: Any, revision: str) -> None:
        conn = config.attributes["connection"]
        seen.append(conn.exec_driver_sql("PRAGMA temp_store").scalar())
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        conn.execute(
            sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": migrate.head_revision()}
        )

    from alembic import command

    monkeypatch.setattr(command, "upgrade", upgrade)
    monkeypatch.setattr(migrate, "_new_sqlite_file", lambda conn: False)
    try:
        migrate.ensure_schema(engine)
        with engine.connect() as conn:
            after = conn.exec_driver_sql("PRAGMA temp_store").scalar()
    finally:
        engine.dispose()
    assert seen == [1]  # FILE
    assert after == 2


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
@pytest.mark.parametrize("invalidate", [False, True])
def test_a_failed_migration_raises_its_own_error_and_leaves_no_connection_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException, invalidate: bool
) -> None:
    """Giving temp_store back must never hide what the migration raised: a Ctrl-C makes
    SQLAlchemy invalidate (close) the connection, and a pragma on it would then raise
    sqlite3's "Cannot operate on a closed database" in its place."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")

    def upgrade(config: Any, revision: str) -> None:
        conn = config.attributes["connection"]
        conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
        if invalidate:
            conn.invalidate()
        raise error

    from alembic import command

    monkeypatch.setattr(command, "upgrade", upgrade)
    monkeypatch.setattr(migrate, "_new_sqlite_file", lambda conn: False)
    try:
        with pytest.raises(type(error)) as raised:
            migrate.ensure_schema(engine)
        assert raised.value is error
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2
            tables = conn.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
        assert "half_done" not in tables  # rolled back
    finally:
        engine.dispose()

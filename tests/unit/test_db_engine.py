"""make_engine: URL normalisation, actionable errors, SQLite set-up; redacted_url."""

from __future__ import annotations

import stat
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync.db.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine, redacted_url
from sync.db.schema import naive_utc
from sync.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "drivername", "charset"),
    [
        ("postgres://u@db.example/accs", "postgresql+psycopg", None),
        ("postgresql://u@db.example/accs", "postgresql+psycopg", None),
        ("postgresql+psycopg://u@db.example/accs", "postgresql+psycopg", None),
        ("mysql://u@db.example/accs", "mysql+pymysql", "utf8mb4"),
        # The mysql dialect (it detects MariaDB on connect): the mariadb dialect ignores the
        # tables' mysql_engine/mysql_charset options, so its tables were latin1 or not InnoDB.
        ("mariadb://u@db.example/accs", "mysql+pymysql", "utf8mb4"),
        ("mariadb+pymysql://u@db.example/accs", "mysql+pymysql", "utf8mb4"),
        ("mysql+pymysql://u@db.example/accs", "mysql+pymysql", "utf8mb4"),
        ("mysql://u@db.example/accs?charset=utf8mb4&ssl_disabled=true", "mysql+pymysql", "utf8mb4"),
        ("sqlite://", "sqlite+pysqlite", None),
    ],
)
def test_short_urls_get_the_tested_driver(url: str, drivername: str, charset: str | None) -> None:
    engine = make_engine(url)  # server engines connect lazily: nothing is contacted here
    try:
        assert engine.url.drivername == drivername
        assert engine.url.query.get("charset") == charset
    finally:
        engine.dispose()


def test_unknown_database_names_the_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        make_engine("xyz://host/db")
    assert caught.value.setting == "DATABASE_URL"
    assert caught.value.message == (
        "DATABASE_URL: unsupported database 'xyz'; "
        "use sqlite:///file.db, postgresql://... or mysql://..."
    )


@pytest.mark.parametrize("url", ["not a url", "postgresql+psycopg2://u:s3cret@h/db", ""])
def test_bad_urls_are_config_errors_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_engine(url)
    assert caught.value.setting == "DATABASE_URL"
    assert "s3cret" not in caught.value.message


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("postgresql://u:s3cret@h/db", "psycopg", "pip install 'accs-sync[postgres]'"),
        ("mysql://u:s3cret@h/db", "pymysql", "pip install 'accs-sync[mysql]'"),
    ],
)
def test_missing_driver_names_the_pip_extra(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` fail
    with pytest.raises(ConfigError) as caught:
        make_engine(url)
    assert caught.value.setting == "DATABASE_URL"
    assert extra in caught.value.message
    assert "s3cret" not in caught.value.message


def test_redacted_url_hides_the_password() -> None:
    assert (
        redacted_url("postgresql://sync:s3cret@db:5432/accs")
        == "postgresql://sync:***@db:5432/accs"
    )
    assert (
        redacted_url("mysql+pymysql://root@127.0.0.1/test") == "mysql+pymysql://root@127.0.0.1/test"
    )
    assert "s3cret" not in redacted_url("::s3cret@@")


def test_sqlite_file_is_created_with_its_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert path.exists()
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
    }


def test_sqlite_ddl_is_transactional() -> None:
    """sqlite3's own transaction handling would autocommit CREATE TABLE; ours rolls it back."""
    engine = make_engine("sqlite://")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.rollback()
            assert not sa.inspect(conn).has_table("t")
    finally:
        engine.dispose()


def test_naive_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert naive_utc(datetime(2025, 3, 1, 12, 0, tzinfo=plus_two)) == datetime(2025, 3, 1, 10, 0)
    assert naive_utc(datetime(2025, 3, 1, 12, 0, tzinfo=UTC)) == datetime(2025, 3, 1, 12, 0)
    assert naive_utc(datetime(2025, 3, 1, 12, 0)) == datetime(2025, 3, 1, 12, 0)


def test_a_read_only_engine_reads_and_never_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    writer = make_engine(url)
    try:
        with writer.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    finally:
        writer.dispose()
    reader = make_engine(url, read_only=True)
    try:
        with reader.connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM t")).scalar() == 1
            with pytest.raises(sa.exc.OperationalError, match="readonly"):
                conn.execute(sa.text("INSERT INTO t VALUES (2)"))
    finally:
        reader.dispose()
    assert reader.url.database == str(tmp_path / "mirror.db")  # messages show the user's URL


def test_a_read_only_engine_never_creates_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "mirror.db"
    with pytest.raises(ConfigError, match=r"DATABASE_URL: the SQLite database .* does not exist"):
        make_engine(f"sqlite:///{missing}", read_only=True)
    assert not missing.parent.exists()


def test_a_new_sqlite_mirror_is_private(tmp_path: Path) -> None:
    """Created 0600 (the catalog is the tenant's business); a mode set later is kept."""
    path = tmp_path / "mirror.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in tmp_path.glob("mirror.db-*"))
    finally:
        engine.dispose()
    path.chmod(0o640)  # shared with a reader's group on purpose
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    finally:
        engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize("missing", ["nested/dir", "mirror.db/inside"])
def test_a_sqlite_path_in_a_missing_folder_is_refused_and_nothing_is_created(
    tmp_path: Path, missing: str
) -> None:
    """A mistyped path is an error, never a fresh full mirror in folders made up for it."""
    (tmp_path / "mirror.db").write_bytes(b"")  # a file where a folder would have to be
    folder = tmp_path / missing
    with pytest.raises(ConfigError) as caught:
        make_engine(f"sqlite:///{folder / 'accs.db'}")
    assert caught.value.setting == "DATABASE_URL"
    assert caught.value.message.startswith("DATABASE_URL: ")
    assert repr(str(folder)) in caught.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror.db"]


def test_the_cli_exits_2_for_a_sqlite_path_in_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync.cli import main

    folder = tmp_path / "typo"
    assert main(["migrate", "--database-url", f"sqlite:///{folder}/accs.db"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err and str(folder) in err
    assert not folder.exists()


def test_the_demo_refuses_a_database_in_a_missing_folder_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync.cli import main

    folder = tmp_path / "typo"
    assert main(["demo", "--database", str(folder / "demo.db")]) == 2
    out = capsys.readouterr()
    assert out.out == ""  # no emulator was started
    assert out.err.startswith("accs-sync: error: --database ") and str(folder) in out.err
    assert not folder.exists()

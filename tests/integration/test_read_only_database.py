"""``status`` and ``check`` only read the database: they work on a SQLite file they may read
but not write (a read-only directory, a read-only volume), and never create one."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from sync.cli import main
from sync.db.engine import make_engine
from sync.db.migrate import ensure_schema, head_revision
from tests.integration.processes import CLI, clean_env


def migrated(directory: Path) -> str:
    """A migrated SQLite mirror in ``directory`` (WAL, its -wal/-shm gone as after a run)."""
    directory.mkdir()
    url = f"sqlite:///{directory / 'mirror.db'}"
    engine = make_engine(url)
    try:
        ensure_schema(engine)
    finally:
        engine.dispose()
    assert sorted(p.name for p in directory.iterdir()) == ["mirror.db"]
    return url


def run_read_only(
    directory: Path, args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``accs-sync args`` with ``directory`` read-only to it: a 0555 directory for a normal
    user; for root (who ignores modes) a read-only bind mount in a mount namespace of its own."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            return subprocess.run(
                CLI + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60
            )
        finally:
            directory.chmod(0o755)
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("running as root without unshare: cannot make a directory read-only")
    d = shlex.quote(str(directory))
    script = (
        f"mount --bind {d} {d} && mount -o remount,bind,ro {d} && touch {d}/probe 2>/dev/null "
        f"&& exit 99; exec {shlex.join(CLI + args)}"
    )
    result = subprocess.run(
        [unshare, "-m", "/bin/sh", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode == 99 or "mount:" in result.stderr or "unshare:" in result.stderr:
        pytest.skip(f"cannot make a read-only mount here: {result.stderr.strip()}")
    return result


def test_status_reads_a_database_in_a_read_only_directory(tmp_path: Path) -> None:
    url = migrated(tmp_path / "ro")
    result = run_read_only(tmp_path / "ro", ["status"], clean_env(DATABASE_URL=url), tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"schema revision: {head_revision()}" in result.stdout
    assert sorted(p.name for p in (tmp_path / "ro").iterdir()) == ["mirror.db"]


def test_check_reads_a_database_in_a_read_only_directory(tmp_path: Path) -> None:
    url = migrated(tmp_path / "ro")
    env = clean_env(
        DATABASE_URL=url,
        IMS_CLIENT_ID="c",
        IMS_CLIENT_SECRET="s3cret-value",
        IMS_ORG_ID="o@AdobeOrg",
        API_ENDPOINT="http://127.0.0.1:9/T",  # nothing listens: loopback only
        IMS_TOKEN_URL="http://127.0.0.1:9/ims/token/v3",
        SYNC_TOKEN_CACHE="none",
    )
    result = run_read_only(tmp_path / "ro", ["check", "--json"], env, tmp_path)
    found = {f["name"]: f for f in json.loads(result.stdout)["findings"]}
    assert found["database"]["status"] == "ok", found["database"]
    assert found["schema"]["status"] == "ok", found["schema"]


def test_status_on_a_missing_sqlite_file_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "not-there" / "mirror.db"
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--database-url", f"sqlite:///{missing}"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err and str(missing) in err and "does not exist" in err
    assert not missing.parent.exists()

"""``accs-sync`` as users run it: separate processes, real signals, real exit codes."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync.db.engine import make_engine
from sync.db.schema import products, sync_runs
from sync.emulator import Catalog, EmulatorServer
from tests.integration.processes import CLI, clean_env, run_cli, terminate


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``accs-sync emulator`` in its own process; yields the variables it printed."""
    proc = subprocess.Popen(
        [*CLI, "emulator", "--port", "0", "--products", "400"],
        env=clean_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    exports: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                exports[name] = value.strip("'")
            if line.startswith("Press Ctrl-C"):
                break
        assert {"IMS_CLIENT_ID", "IMS_CLIENT_SECRET", "IMS_ORG_ID", "API_ENDPOINT"} <= set(exports)
        yield exports
    finally:
        terminate(proc)


def test_sync_against_a_separately_started_emulator(
    emulator_process: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    env = clean_env(**emulator_process, DATABASE_URL=db_url)
    result = run_cli(["sync"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "success" in result.stdout
    expected = {item["sku"]: item for item in Catalog.generate(400).items()}  # same seed as served
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(products.c.sku, products.c.name, products.c.price, products.c.updated_at)
            ).all()
    finally:
        engine.dispose()
    assert {r.sku for r in rows} == set(expected)
    for row in rows:
        item = expected[row.sku]
        assert row.name == item.get("name")
        assert (row.price is None) == (item.get("price") is None)
        if row.price is not None:
            assert float(row.price) == pytest.approx(float(item["price"]))
        assert f"{row.updated_at:%Y-%m-%d %H:%M:%S}" == item["updated_at"]
    status = run_cli(["status"], env, tmp_path)
    assert status.returncode == 0, status.stderr
    assert "400 live" in status.stdout and "watermark" in status.stdout
    assert (
        emulator_process["IMS_CLIENT_SECRET"] not in status.stdout + result.stdout + result.stderr
    )


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({}, "IMS_CLIENT_ID, IMS_CLIENT_SECRET, IMS_ORG_ID, API_ENDPOINT are required"),
        ({"API_ENDPOINT": "http://accs.example.com/T"}, "API_ENDPOINT must use https://"),
        ({"DATABASE_URL": "oracle://scott@db/orcl"}, "DATABASE_URL"),
        ({"SYNC_PAGE_SIZE": "1000"}, "SYNC_PAGE_SIZE"),
    ],
)
def test_bad_configuration_exits_2_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], fragment: str
) -> None:
    base = (
        {}
        if not env
        else {
            "IMS_CLIENT_ID": "c",
            "IMS_CLIENT_SECRET": "s3cret-value",
            "IMS_ORG_ID": "o@AdobeOrg",
            "API_ENDPOINT": "https://na1.api.commerce.adobe.com/T",
        }
    )
    result = run_cli(["sync"], clean_env(**{**base, **env}), tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("accs-sync: error: ") and fragment in lines[0]
    assert "Traceback" not in result.stderr and "s3cret-value" not in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_cli(["frobnicate"], clean_env(), tmp_path).returncode == 2


def test_a_database_newer_than_the_code_is_refused(
    tmp_path: Path, emulator_process: dict[str, str]
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    env = clean_env(**emulator_process, DATABASE_URL=url)
    assert run_cli(["migrate"], env, tmp_path).returncode == 0
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))
    engine.dispose()
    result = run_cli(["sync"], env, tmp_path)
    assert result.returncode == 2
    assert "newer than this accs-sync" in result.stderr and "Traceback" not in result.stderr


def _wait_for_rows(url: str, at_least: int, timeout: float = 30) -> None:
    engine = make_engine(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with engine.connect() as conn:
                    if (
                        conn.execute(sa.select(sa.func.count()).select_from(products)).scalar_one()
                        >= at_least
                    ):
                        return
            except sa.exc.OperationalError:
                pass  # not migrated yet
            time.sleep(0.1)
        raise AssertionError("the sync never wrote the first pages")
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", ["daemon", "sync"])
def test_sigterm_finishes_the_page_commits_and_exits_0(tmp_path: Path, command: str) -> None:
    url = f"sqlite:///{tmp_path / 'sig.db'}"
    with EmulatorServer(Catalog.generate(2000, seed=5)) as server:
        server.faults.latency = 0.15  # slow pages, so the signal lands mid-run
        env = clean_env(
            **server.credentials, DATABASE_URL=url, SYNC_PAGE_SIZE="50", SYNC_SCHEDULE="1h"
        )
        proc = subprocess.Popen(
            [*CLI, command],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for_rows(url, 100)
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(products)).scalar_one()
            run = conn.execute(sa.select(sync_runs)).mappings().one()
    finally:
        engine.dispose()
    assert 100 <= count < 2000
    assert count % 50 == 0  # whole pages only
    assert run["status"] == "interrupted" and run["products_written"] == count


def test_an_unreachable_database_is_one_line_without_traceback(tmp_path: Path) -> None:
    env = clean_env(
        IMS_CLIENT_ID="c",
        IMS_CLIENT_SECRET="s3cret-value",
        IMS_ORG_ID="o@AdobeOrg",
        API_ENDPOINT="https://na1.api.commerce.adobe.com/T",
        DATABASE_URL="postgresql://accs:db-Passw0rd@127.0.0.1:1/nowhere",
    )
    for command in (["sync"], ["status"], ["migrate"]):
        result = run_cli(command, env, tmp_path)
        assert result.returncode == 1, command
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "database error" in lines[0] and "DATABASE_URL" in lines[0]
        assert "db-Passw0rd" not in result.stderr + result.stdout

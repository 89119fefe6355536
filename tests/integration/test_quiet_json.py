"""A quiet cron and a scriptable run, as seen from a real ``accs-sync`` process: ``--quiet`` and
``SYNC_LOG_LEVEL=WARNING`` print nothing on success, ``--json`` prints one run summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sync.emulator import EmulatorServer
from tests.integration.processes import clean_env, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


def _env(emulator: EmulatorServer, db_url: str, **extra: str) -> dict[str, str]:
    # Progress lines every 0.05 s: a run that printed any would print some.
    return clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_PROGRESS_SECONDS="0.05",
        **extra,
    )


def _document(stdout: str) -> dict[str, Any]:
    """stdout as exactly one JSON document (json.loads refuses anything around it)."""
    document = json.loads(stdout)
    assert isinstance(document, dict)
    return document


def test_quiet_prints_nothing_on_success(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    emulator.faults.latency = 0.05  # long enough for progress lines, were there any
    result = run_cli(["sync", "--quiet"], _env(emulator, db_url), tmp_path)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["--log-level", "WARNING"], {}),
        ([], {"SYNC_LOG_LEVEL": "WARNING"}),
    ],
    ids=["flag", "setting"],
)
def test_log_level_warning_is_respected_by_every_line(
    emulator: EmulatorServer,
    db_url: str,
    tmp_path: Path,
    args: list[str],
    extra: dict[str, str],
) -> None:
    emulator.faults.latency = 0.05
    result = run_cli(["backfill", *args], _env(emulator, db_url, **extra), tmp_path)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")


def test_json_prints_one_run_summary_and_logs_stay_on_stderr(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    result = run_cli(["sync", "--json"], _env(emulator, db_url), tmp_path)
    assert result.returncode == 0, result.stderr
    summary = _document(result.stdout)
    assert summary["run_id"] == 1
    assert summary["kind"] == "sync"
    assert summary["status"] == "success"
    assert summary["exit_code"] == 0
    assert summary["seconds"] > 0
    assert summary["products"] == 750
    assert summary["error"] is None
    assert summary["denied"] == []
    [store] = summary["stores"]
    assert store["store_code"] == "default"
    assert store["mode"] == "full"
    assert store["products"] == 750
    assert store["pages"] == summary["pages"] >= 1
    assert {r["resource"] for r in summary["resources"]} == {
        "categories",
        "source_items",
        "attributes",
    }
    assert all(r["written"] > 0 and r["error"] is None for r in summary["resources"])
    assert "run 1 success" in result.stderr  # the log lines are where they were


@pytest.mark.parametrize("command", ["backfill", "reconcile"])
def test_quiet_json_prints_only_the_document(
    emulator: EmulatorServer, db_url: str, tmp_path: Path, command: str
) -> None:
    env = _env(emulator, db_url)
    assert run_cli(["sync", "--quiet"], env, tmp_path).returncode == 0
    result = run_cli([command, "--quiet", "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = _document(result.stdout)
    assert (summary["run_id"], summary["kind"], summary["status"]) == (2, command, "success")
    assert summary["exit_code"] == 0


def test_migrate_respects_the_log_level_setting(db_url: str, tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=db_url, SYNC_LOG_LEVEL="WARNING")
    result = run_cli(["migrate"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    shown = run_cli(["migrate"], clean_env(DATABASE_URL=db_url), tmp_path)
    assert "is at revision" in shown.stdout  # at the default INFO, as before


def test_a_partial_run_says_so_in_the_document_and_on_stderr(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    emulator.faults.forbidden = {"source_items"}
    result = run_cli(["sync", "--quiet", "--json"], _env(emulator, db_url), tmp_path)
    assert result.returncode == 1
    summary = _document(result.stdout)
    assert (summary["status"], summary["exit_code"]) == ("partial", 1)
    assert summary["products"] == 750
    [denied] = summary["denied"]
    assert "source_items" in denied
    assert "source_items" in result.stderr  # the one thing to look at, also for cron's mail

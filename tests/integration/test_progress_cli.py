"""Progress as a user sees it from a real ``accs-sync backfill`` process off a terminal."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from pathlib import Path

import pytest

from sync.emulator import EmulatorServer
from tests.integration.processes import clean_env, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _env(emulator: EmulatorServer, db_url: str, **extra: str) -> dict[str, str]:
    return clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_PAGE_SIZE="100",
        SYNC_CONCURRENCY="1",
        SYNC_PROGRESS_SECONDS="0.4",
        SYNC_RESOURCES="products",  # the lines counted below are the products' pass
        **extra,
    )


def _when(line: str) -> datetime:
    match = _STAMP.match(line)
    assert match, line
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")


def test_progress_lines_come_on_schedule_and_stop_at_the_end(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    emulator.faults.latency = 0.3  # 8 pages: a run of about 3 s
    result = run_cli(["backfill"], _env(emulator, db_url), tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    progress = [line for line in lines if " sync.progress: progress: " in line]
    assert len(progress) >= 3, result.stderr
    assert all("store default (full): " in line for line in progress)
    # Once ACCS said how many products there are (its first answer), the lines count towards it.
    assert " of 750 products (" in progress[-1]
    gaps = [(_when(b) - _when(a)).total_seconds() for a, b in itertools.pairwise(progress)]
    assert all(gap >= 0.35 for gap in gaps), gaps  # never more often than SYNC_PROGRESS_SECONDS
    done = [
        int(re.findall(r": ([\d,]+) (?:of|products)", line)[0].replace(",", ""))
        for line in progress
    ]
    assert done == sorted(done)
    end = next(i for i, line in enumerate(lines) if " run 1 success: " in line)
    assert all(lines.index(line) < end for line in progress)  # none after the run's end


def test_quiet_prints_no_progress(emulator: EmulatorServer, db_url: str, tmp_path: Path) -> None:
    emulator.faults.latency = 0.2
    result = run_cli(["backfill", "--quiet"], _env(emulator, db_url), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "progress:" not in result.stderr
    assert result.stdout == ""  # nor the summary: --quiet prints only warnings and errors


def test_progress_seconds_zero_turns_the_lines_off(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    emulator.faults.latency = 0.2
    env = _env(emulator, db_url)
    env["SYNC_PROGRESS_SECONDS"] = "0"
    result = run_cli(["sync"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "progress:" not in result.stderr

"""The progress bar on a real (pseudo-)terminal: drawn, complete at the end, and log lines that
arrive while it is live are printed whole above it, never cut by it."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from sync.emulator import EmulatorServer
from tests.integration.processes import CLI, clean_env

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) ")


def run_on_terminal(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> str:
    """Run ``argv`` with a pseudo-terminal as stdin, stdout and stderr; all it wrote."""
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        assert process.wait(timeout=10) == 0, b"".join(chunks).decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_the_bar_shows_progress_and_log_lines_stay_whole(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    emulator.faults.latency = 0.15
    emulator.faults.error_5xx_every = 3  # retries logged while the bar is live
    env = clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_PAGE_SIZE="100",
        SYNC_CONCURRENCY="1",
        COLUMNS="200",
        LINES="40",
        TERM="xterm-256color",
    )
    output = run_on_terminal([*CLI, "backfill"], env, tmp_path)
    text = _ANSI.sub("", output).replace("\r\n", "\n")
    lines = [line for part in text.split("\n") for line in part.split("\r")]
    assert any("default (full)" in line and "750/750" in line for line in lines), text
    retries = [line for line in lines if " sync.api.retry: " in line]
    assert retries, text
    for line in retries:  # each printed whole, from its timestamp to its last word
        assert _LOG_LINE.match(line), line
        assert re.search(r"retrying in \d+\.\ds$", line), line
    assert "run 1 success: 750 products, 8 pages" in text

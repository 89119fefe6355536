"""Running ``accs-sync`` as users do: a separate process with a clean environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["CLI", "clean_env", "daemon_process", "run_cli", "terminate"]

CLI = [sys.executable, "-m", "sync"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any accs-sync setting, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        CLI + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def terminate(proc: subprocess.Popen[str], timeout: float = 15) -> None:
    """SIGTERM ``proc`` and assert it exits 0 (a graceful stop); kill it if it does not stop,
    and close its pipes."""
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=timeout) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def daemon_process(env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``accs-sync daemon`` in a process of its own, its log in ``cwd/daemon.log``; on the way
    out it gets SIGTERM, and SIGKILL if it has not stopped within a minute (its
    ``returncode`` tells which)."""
    with open(cwd / "daemon.log", "w") as log:
        process = subprocess.Popen(
            [*CLI, "daemon"], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

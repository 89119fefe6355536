"""A 429 asking for a day (``Retry-After: 86400``) must not wedge a run or the daemon: the run
gives up within SYNC_MAX_RETRY_AFTER plus a little, every worker thread is gone, and the next
scheduled run proceeds once ACCS lets it."""

from __future__ import annotations

import threading
import time

import pytest

from sync.app import build_app, make_daemon
from sync.cli import main
from sync.emulator import EmulatorServer, RequestRecord
from sync.settings import load_settings
from tests.integration.mirror import assert_mirror_equals_upstream, runs

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

CAP = 2.0  # SYNC_MAX_RETRY_AFTER


@pytest.fixture
def env(sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("SYNC_CONCURRENCY", "4")
    monkeypatch.setenv("SYNC_MAX_RETRY_AFTER", str(int(CAP)))
    monkeypatch.setenv("SYNC_RESOURCES", "products")
    return sync_env


def limit_for_a_day_after(emulator: EmulatorServer, requests: int) -> None:
    """From the ``requests``-th ACCS request on, every answer is 429 Retry-After: 86400."""
    emulator.faults.retry_after = 86400
    emulator.faults.latency = 0.05  # several workers are in flight (or waiting) at the time
    seen = {"n": 0}
    lock = threading.Lock()

    def hook(record: RequestRecord) -> None:
        with lock:
            seen["n"] += 1
            if seen["n"] == requests:
                emulator.faults.rate_limit_every = 1

    emulator.faults.on_request.append(hook)


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("accs-sync-")]


def test_a_day_long_retry_after_ends_a_concurrent_backfill_promptly(
    env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    limit_for_a_day_after(emulator, 6)
    result: dict[str, int] = {}
    started = time.monotonic()
    runner = threading.Thread(target=lambda: result.update(code=main(["backfill"])))
    runner.start()
    runner.join(timeout=CAP + 8)
    took = time.monotonic() - started
    assert not runner.is_alive(), "the backfill is still running (wedged in the gate)"
    assert result["code"] == 1
    assert took < CAP + 5
    err = capsys.readouterr().err
    assert "SYNC_MAX_RETRY_AFTER" in err and "86400" in err
    assert runs(db_url)[-1]["status"] == "failed"
    assert "SYNC_MAX_RETRY_AFTER" in runs(db_url)[-1]["error"]
    deadline = time.monotonic() + 2
    while worker_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker_threads() == []


def test_the_daemon_recovers_at_the_next_schedule(
    env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNC_SCHEDULE", "1s")
    monkeypatch.setenv("SYNC_MAX_RETRY_AFTER", "300")  # the run gives up at once, not after 300 s
    monkeypatch.setenv("SYNC_RECONCILE_SCHEDULE", "off")
    limit_for_a_day_after(emulator, 6)
    stop = threading.Event()
    with build_app(load_settings(), stop_event=stop) as app:
        daemon = make_daemon(app)
        finished: list[str] = []
        job = daemon.scheduler.get_job(daemon.JOB_ID)
        func = job.args[0]

        def recorded() -> None:
            stats = func()
            finished.append(stats.status)
            if stats.status == "failed":
                emulator.faults.reset()  # ACCS lets us in again
            else:
                stop.set()

        daemon.scheduler.modify_job(daemon.JOB_ID, args=(recorded, job.args[1]))
        runner = threading.Thread(target=daemon.run)
        runner.start()
        runner.join(timeout=20)
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()
    assert finished[0] == "failed" and finished[-1] == "success", finished
    assert "SYNC_MAX_RETRY_AFTER" in runs(db_url)[0]["error"]
    assert runs(db_url)[-1]["status"] == "success"
    assert_mirror_equals_upstream(db_url, emulator)


def test_check_does_not_hold_its_other_probes_in_the_gate(
    env: dict[str, str],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SYNC_STORE_CODES", "default,fr")
    emulator.faults.rate_limit_next = 1
    emulator.faults.retry_after = 100  # more than check waits (5 s), less than a run does
    started = time.monotonic()
    assert main(["check"]) in (1, 2)
    assert time.monotonic() - started < 10
    out = capsys.readouterr().out
    assert "asked to wait 100s (Retry-After), longer than the longest wait of check (5s)" in out

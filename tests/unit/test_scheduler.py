"""The daemon's schedule parsing and its run/stop behaviour."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sync.db.lock import AlreadyRunning
from sync.scheduler import Daemon, parse_schedule


@pytest.mark.parametrize(
    ("spec", "seconds"), [("900", 900), ("15m", 900), ("1h", 3600), ("2d", 172800), ("30s", 30)]
)
def test_intervals(spec: str, seconds: int) -> None:
    trigger = parse_schedule(spec)
    assert isinstance(trigger, IntervalTrigger)
    assert trigger.interval.total_seconds() == seconds


def test_crontab_is_utc() -> None:
    trigger = parse_schedule("*/15 * * * *")
    assert isinstance(trigger, CronTrigger)
    start = datetime(2026, 1, 1, 10, 1, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, start) == datetime(2026, 1, 1, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize("spec", ["", "0", "every day", "61 * * * *", "5 minutes"])
def test_bad_schedules_name_the_setting(spec: str) -> None:
    with pytest.raises(ValueError, match="SYNC_SCHEDULE"):
        parse_schedule(spec)


def test_daemon_runs_at_start_survives_failures_and_stops_on_request() -> None:
    stop = threading.Event()
    calls: list[int] = []

    def job() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise AlreadyRunning("another run")  # logged, the daemon goes on
        if len(calls) == 2:
            raise RuntimeError("a bug")  # logged with its traceback, the daemon goes on
        stop.set()

    daemon = Daemon(job, "1s", stop, misfire_grace_seconds=5)
    job_info = daemon.scheduler.get_job(Daemon.JOB_ID)
    assert job_info.max_instances == 1 and job_info.coalesce is True
    runner = threading.Thread(target=daemon.run)
    runner.start()
    runner.join(timeout=20)
    assert not runner.is_alive()
    assert len(calls) == 3

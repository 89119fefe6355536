"""The daemon's schedule parsing and its run/stop behaviour."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sync.app import make_daemon
from sync.db.lock import AlreadyRunning
from sync.errors import ConfigError
from sync.scheduler import Daemon, ScheduledJob, parse_schedule
from sync.settings import load_settings


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


def _fake_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[Any, list[Any]]:
    """An object with what make_daemon reads from an App, recording the runs it starts."""
    for name, value in {
        "IMS_CLIENT_ID": "id",
        "IMS_CLIENT_SECRET": "secret",
        "IMS_ORG_ID": "org@AdobeOrg",
        "API_ENDPOINT": "https://na1.api.commerce.adobe.com/tenant",
        **env,
    }.items():
        monkeypatch.setenv(name, value)
    calls: list[Any] = []
    app = SimpleNamespace(
        settings=load_settings(),
        stop_event=threading.Event(),
        run=lambda kind, resources=None: calls.append((kind, resources)),
    )
    return app, calls


def test_the_daemon_schedules_reconcile_nightly_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNC_RECONCILE_SCHEDULE", raising=False)
    app, calls = _fake_app(monkeypatch, SYNC_SCHEDULE="10m")
    daemon = make_daemon(app)
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    assert set(jobs) == {Daemon.JOB_ID, "accs-sync-reconcile", "accs-sync-source-items"}
    reconcile = jobs["accs-sync-reconcile"]
    assert isinstance(reconcile.trigger, CronTrigger)
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert reconcile.trigger.get_next_fire_time(None, start) == datetime(
        2026, 1, 2, 3, 0, tzinfo=UTC
    )
    assert reconcile.max_instances == 1 and reconcile.coalesce is True
    assert isinstance(jobs[Daemon.JOB_ID].trigger, IntervalTrigger)
    reconcile.func(*reconcile.args)
    jobs[Daemon.JOB_ID].func(*jobs[Daemon.JOB_ID].args)
    assert calls == [("reconcile", None), ("sync", ["products", "categories", "attributes"])]


def test_source_items_run_every_15_minutes_on_their_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stock moves touch no updated_at: the daemon reads source items on a job of their own."""
    monkeypatch.chdir(tmp_path)
    app, calls = _fake_app(monkeypatch)
    jobs = {job.id: job for job in make_daemon(app).scheduler.get_jobs()}
    stock = jobs["accs-sync-source-items"]
    assert isinstance(stock.trigger, IntervalTrigger)
    assert stock.trigger.interval.total_seconds() == 15 * 60
    stock.func(*stock.args)
    assert calls == [("sync", ["source_items"])]


@pytest.mark.parametrize(
    ("env", "main", "jobs"),
    [
        (
            {"SYNC_SOURCE_ITEMS_SCHEDULE": "off"},
            ["products", "categories", "source_items", "attributes"],
            2,
        ),
        ({"SYNC_RESOURCES": "products,categories"}, ["products", "categories"], 2),
        ({"SYNC_RESOURCES": "source_items"}, None, 3),
    ],
)
def test_which_job_mirrors_what(
    env: dict[str, str],
    main: list[str] | None,
    jobs: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    app, calls = _fake_app(monkeypatch, **env)
    scheduled = {job.id: job for job in make_daemon(app).scheduler.get_jobs()}
    assert len(scheduled) == jobs
    scheduled[Daemon.JOB_ID].func(*scheduled[Daemon.JOB_ID].args)
    assert calls == ([("sync", main)] if main else [])


@pytest.mark.parametrize("off", ["off", "never", "OFF"])
def test_the_scheduled_reconcile_can_be_turned_off(
    off: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    app, _ = _fake_app(monkeypatch, SYNC_RECONCILE_SCHEDULE=off)
    jobs = [job.id for job in make_daemon(app).scheduler.get_jobs()]
    assert sorted(jobs) == sorted([Daemon.JOB_ID, "accs-sync-source-items"])


def test_a_bad_reconcile_schedule_names_its_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="SYNC_RECONCILE_SCHEDULE"):
        _fake_app(monkeypatch, SYNC_RECONCILE_SCHEDULE="nightly")


def test_jobs_queue_behind_each_other_instead_of_colliding() -> None:
    """One worker thread: a reconcile due while a sync runs starts after it, not beside it."""
    stop = threading.Event()
    running = threading.Lock()
    overlaps: list[str] = []
    done: list[str] = []

    def work(name: str) -> None:
        if not running.acquire(blocking=False):
            overlaps.append(name)
            return
        try:
            stop.wait(0.3)
            done.append(name)
            if len(done) >= 3:
                stop.set()
        finally:
            running.release()

    daemon = Daemon(
        lambda: work("sync"),
        "1s",
        stop,
        extra_jobs=[ScheduledJob("other", "other", lambda: work("other"), "1s", "X")],
    )
    runner = threading.Thread(target=daemon.run)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert overlaps == [] and len(done) >= 3

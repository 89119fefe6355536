"""The daemon: APScheduler runs the sync and the nightly reconcile on their schedules.

Never two runs at once: every job runs on one worker thread, so a reconcile that falls due while
a sync runs waits for it (and vice versa) instead of being refused by the run lock; missed runs
collapse into one (``coalesce``), and a run that is late by less than the misfire grace still
happens. SIGTERM or SIGINT sets the stop
event: the running sync finishes the page it is on, commits, and the daemon exits 0.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

# APScheduler is imported where a schedule is parsed or a daemon built: a run that only needs
# install_stop_signals (sync, backfill, reconcile) does not pay for its import.
from sync.errors import AccsSyncError

__all__ = ["DISABLED", "Daemon", "ScheduledJob", "install_stop_signals", "parse_schedule"]

log = logging.getLogger(__name__)

_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

#: Values of ``SYNC_RECONCILE_SCHEDULE`` that turn the scheduled reconcile off.
DISABLED = frozenset({"off", "never", "none", "disabled", "false", "0"})


def parse_schedule(spec: str, setting: str = "SYNC_SCHEDULE") -> BaseTrigger:
    """``"15m"``, ``"900"``, ``"1h"`` -> an interval; five crontab fields -> a cron trigger (UTC).

    Raises ``ValueError`` with a message naming ``setting`` for anything else.
    """
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    match = _INTERVAL.match(spec)
    if match:
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        if seconds < 1:
            raise ValueError(f"{setting} interval must be at least 1 second")
        return IntervalTrigger(seconds=seconds, timezone="UTC")
    if len(spec.split()) == 5:
        try:
            return CronTrigger.from_crontab(spec, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"{setting} is not a valid crontab expression: {exc}") from None
    raise ValueError(
        f"{setting} must be an interval like '15m', '1h', '900' or a crontab like "
        f"'*/15 * * * *', got {spec!r}"
    )


@dataclass(frozen=True)
class ScheduledJob:
    """One more job for the daemon: ``func`` on ``schedule`` (never at start)."""

    id: str
    name: str
    func: Callable[[], Any]
    schedule: str
    setting: str


def install_stop_signals(stop_event: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop_event``: the run finishes its page, commits, and stops."""

    def handle(signum: int, frame: FrameType | None) -> None:
        log.warning(
            "received %s: finishing the current page, then exiting", signal.Signals(signum).name
        )
        stop_event.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)


class Daemon:
    """Runs ``job`` on ``schedule`` (and any ``extra_jobs``) until stopped.

    Jobs must honour ``stop_event``. A schedule in :data:`DISABLED` leaves an extra job out.
    """

    JOB_ID = "accs-sync"

    def __init__(
        self,
        job: Callable[[], Any],
        schedule: str,
        stop_event: threading.Event,
        misfire_grace_seconds: int = 300,
        run_at_start: bool = True,
        extra_jobs: Sequence[ScheduledJob] = (),
    ) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self.job = job
        self.stop_event = stop_event
        # One worker thread: jobs queue behind each other instead of colliding on the run lock.
        self.scheduler = BackgroundScheduler(
            timezone="UTC", executors={"default": ThreadPoolExecutor(max_workers=1)}
        )
        kwargs: dict[str, Any] = {}
        if run_at_start:
            kwargs["next_run_time"] = datetime.now(UTC) + timedelta(seconds=0.1)
        jobs = [ScheduledJob(self.JOB_ID, "catalog sync", job, schedule, "SYNC_SCHEDULE")]
        for extra in extra_jobs:
            if extra.schedule.strip().lower() in DISABLED:
                log.info("%s is off (%s=%s)", extra.name, extra.setting, extra.schedule)
                continue
            jobs.append(extra)
        for scheduled in jobs:
            self.scheduler.add_job(
                self._run_job,
                parse_schedule(scheduled.schedule, scheduled.setting),
                args=(scheduled.func, scheduled.name),
                id=scheduled.id,
                name=scheduled.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=misfire_grace_seconds,
                replace_existing=True,
                **(kwargs if scheduled.id == self.JOB_ID else {}),
            )

    def _run_job(self, func: Callable[[], Any], name: str) -> None:
        if self.stop_event.is_set():
            return
        try:
            func()
        except AccsSyncError as exc:  # e.g. another run holds the lock: not a crash
            log.warning("scheduled %s did not run: %s", name, exc.message)
        except Exception:
            # The daemon outlives a failed run: it is recorded, and the next run tries again.
            log.exception("scheduled %s failed", name)

    def alive(self) -> tuple[bool, str]:
        """Liveness: the scheduler is running and its thread is alive (``/livez``)."""
        from apscheduler.schedulers.base import STATE_RUNNING

        thread = getattr(self.scheduler, "_thread", None)  # BackgroundScheduler's loop
        if self.scheduler.state != STATE_RUNNING:
            return False, "the scheduler is not running"
        if thread is not None and not thread.is_alive():
            return False, "the scheduler's thread has died"
        jobs = self.scheduler.get_jobs()
        upcoming = min(
            (job.next_run_time for job in jobs if job.next_run_time is not None), default=None
        )
        when = "none" if upcoming is None else f"{upcoming:%Y-%m-%d %H:%M:%S}Z"
        return True, f"scheduler alive; {len(jobs)} jobs, next at {when}"

    def run(self) -> None:
        """Block until the stop event is set, then wait for the running job to commit."""
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            log.info("daemon started; next %s at %s", job.name, job.next_run_time)
        try:
            while not self.stop_event.wait(1.0):
                pass
        finally:
            self.scheduler.shutdown(wait=True)
            log.info("daemon stopped")

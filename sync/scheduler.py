"""The daemon: APScheduler runs one sync at a time on an interval or a cron expression.

Never two runs at once (``max_instances=1``), missed runs collapse into one (``coalesce``), and
a run that is late by less than the misfire grace still happens. SIGTERM or SIGINT sets the stop
event: the running sync finishes the page it is on, commits, and the daemon exits 0.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sync.errors import AccsSyncError

__all__ = ["Daemon", "install_stop_signals", "parse_schedule"]

log = logging.getLogger(__name__)

_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_schedule(spec: str) -> BaseTrigger:
    """``"15m"``, ``"900"``, ``"1h"`` -> an interval; five crontab fields -> a cron trigger (UTC).

    Raises ``ValueError`` with a message naming ``SYNC_SCHEDULE`` for anything else.
    """
    match = _INTERVAL.match(spec)
    if match:
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        if seconds < 1:
            raise ValueError("SYNC_SCHEDULE interval must be at least 1 second")
        return IntervalTrigger(seconds=seconds, timezone="UTC")
    if len(spec.split()) == 5:
        try:
            return CronTrigger.from_crontab(spec, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"SYNC_SCHEDULE is not a valid crontab expression: {exc}") from None
    raise ValueError(
        f"SYNC_SCHEDULE must be an interval like '15m', '1h', '900' or a crontab like "
        f"'*/15 * * * *', got {spec!r}"
    )


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
    """Runs ``job`` on ``schedule`` until stopped. ``job`` must honour ``stop_event``."""

    JOB_ID = "accs-sync"

    def __init__(
        self,
        job: Callable[[], Any],
        schedule: str,
        stop_event: threading.Event,
        misfire_grace_seconds: int = 300,
        run_at_start: bool = True,
    ) -> None:
        self.job = job
        self.stop_event = stop_event
        self.scheduler = BackgroundScheduler(timezone="UTC")
        trigger = parse_schedule(schedule)
        kwargs: dict[str, Any] = {}
        if run_at_start:
            from datetime import UTC, datetime

            kwargs["next_run_time"] = datetime.now(UTC) + timedelta(seconds=0.1)
        self.scheduler.add_job(
            self._run_job,
            trigger,
            id=self.JOB_ID,
            name="catalog sync",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=misfire_grace_seconds,
            replace_existing=True,
            **kwargs,
        )

    def _run_job(self) -> None:
        if self.stop_event.is_set():
            return
        try:
            self.job()
        except AccsSyncError as exc:  # e.g. another run holds the lock: not a crash
            log.warning("scheduled sync did not run: %s", exc.message)
        except Exception:
            # The daemon outlives a failed run: it is recorded, and the next run tries again.
            log.exception("scheduled sync failed")

    def run(self) -> None:
        """Block until the stop event is set, then wait for the running job to commit."""
        self.scheduler.start()
        job = self.scheduler.get_job(self.JOB_ID)
        log.info("daemon started; next run at %s", job.next_run_time if job else "?")
        try:
            while not self.stop_event.wait(1.0):
                pass
        finally:
            self.scheduler.shutdown(wait=True)
            log.info("daemon stopped")

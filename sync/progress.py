"""Progress of a run as it goes: a live bar on a terminal, a log line now and then elsewhere.

Both are :class:`~sync.observe.Observer` s over one :class:`Tally` (per resource and store view:
items done of ACCS's ``total_count``, pages, items/s, retries, ETA), so they can never disagree.
Each resource counts in its own unit ("products", "categories", "source items": its name in
words). A pass with no total yet has a bar without an end (never one full while it runs); its
bar is complete when its pass has finished.

* :class:`BarProgress` (``rich``) draws one bar per store view on standard error. While it is
  live, rich redirects ``sys.stderr`` so that log lines print above the bar instead of through
  it (the log handler writes to whatever ``sys.stderr`` is at the moment of writing).
* :class:`LogProgress` logs one ``progress:`` line every ``SYNC_PROGRESS_SECONDS`` while a run
  goes on (cron, containers, the daemon), and stops at the run's end.

Updating the tally is a few integer additions under a lock per page; drawing happens on rich's
own refresh thread, twice a second (at four, the bar cost a 20,000-product backfill 4% of its
CPU; at two it is within noise, see ``bench/observability.py``), or on the log timer, never in
the sync's loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from sync.observe import Observer, PageReport
from sync.resources import PRODUCTS
from sync.stats import noun

__all__ = ["BarProgress", "LogProgress", "StoreTally", "Tally", "make_progress"]

log = logging.getLogger(__name__)


@dataclass
class StoreTally:
    """One store view's pass so far."""

    store: str
    mode: str
    started: float
    total: int | None = None
    done: int = 0
    pages: int = 0
    retries: int = 0
    finished: float | None = None
    resource: str = PRODUCTS.name

    def rate(self, now: float) -> float:
        elapsed = (self.finished or now) - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self, now: float) -> float | None:
        rate = self.rate(now)
        if self.total is None or rate <= 0 or self.finished is not None:
            return None
        return max(0, self.total - self.done) / rate

    def line(self, now: float) -> str:
        """``store default (full): 12,300 of 200,000 products (6.2%), 41 pages, 4,100
        products/s, 2 retries, ETA 46s``"""
        unit = self.unit
        if self.total:
            share = min(100.0, 100.0 * self.done / self.total)
            done = f"{self.done:,} of {self.total:,} {unit} ({share:.1f}%)"
        else:
            done = f"{self.done:,} {unit}"
        eta = self.eta(now)
        parts = [
            done,
            f"{self.pages:,} pages",
            f"{self.rate(now):,.0f} {unit}/s",
            f"{self.retries:,} retries",
        ]
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        return f"{self.label} ({self.mode}): " + ", ".join(parts)

    @property
    def unit(self) -> str:
        """What the pass counts: ``products``, ``categories``, ``source items``."""
        return noun(self.resource)

    @property
    def label(self) -> str:
        """``store default``; ``categories default``; ``source_items`` (the same in every
        store view)."""
        if self.resource == PRODUCTS.name:
            return f"store {self.store}"
        return self.resource if self.store == "*" else f"{self.resource} {self.store}"


def _clock(seconds: float | None) -> str:
    """``eta 0:01:23`` (``eta -:--:--`` while it cannot be told)."""
    if seconds is None:
        return "eta -:--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"eta {hours}:{minutes:02d}:{secs:02d}"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class Tally(Observer):
    """Counts a run's progress per store view (thread-safe)."""

    monotonic: Callable[[], float] = time.monotonic
    stores: dict[tuple[str, str], StoreTally] = field(default_factory=dict)
    current: tuple[str, str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run_started(self, run_id: int, kind: str) -> None:
        with self._lock:
            self.stores.clear()
            self.current = None

    def store_started(self, store: str, mode: str, resource: str = PRODUCTS.name) -> None:
        with self._lock:
            key = (resource, store)
            self.stores[key] = StoreTally(store, mode, self.monotonic(), resource=resource)
            self.current = key

    def store_total(self, store: str, total: int, resource: str = PRODUCTS.name) -> None:
        with self._lock:
            if (resource, store) in self.stores and total >= 0:
                self.stores[(resource, store)].total = total

    def retry(self, reason: str) -> None:
        with self._lock:
            if self.current in self.stores:
                self.stores[self.current].retries += 1

    def page_written(self, store: str, page: PageReport) -> None:
        with self._lock:
            tally = self.stores.get((page.resource, store))
            if tally is not None:
                tally.done += page.items
                tally.pages += page.pages

    def store_finished(self, store: str, watermark: str | None) -> None:
        self._finished((PRODUCTS.name, store))

    def resource_finished(self, resource: str, store: str) -> None:
        self._finished((resource, store))

    def _finished(self, key: tuple[str, str]) -> None:
        with self._lock:
            tally = self.stores.get(key)
            if tally is not None and tally.finished is None:
                tally.finished = self.monotonic()
                if tally.total is not None and tally.done > tally.total:
                    tally.total = tally.done  # items added while the pass ran

    def snapshot(self) -> list[StoreTally]:
        with self._lock:
            return [StoreTally(**vars(t)) for t in self.stores.values()]


class LogProgress(Tally):
    """A ``progress:`` log line for the store view being synced every ``interval`` seconds,
    from the run's start to its end."""

    def __init__(self, interval: float, logger: logging.Logger = log) -> None:
        super().__init__()
        self.interval = interval
        self.logger = logger
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_started(self, run_id: int, kind: str) -> None:
        super().run_started(run_id, kind)
        self.close()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._tick, args=(self._stop,), name="accs-sync-progress", daemon=True
        )
        self._thread.start()

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            now = self.monotonic()
            for tally in self.snapshot():
                if tally.finished is None:
                    self.logger.info(
                        "progress: %s",
                        tally.line(now),
                        extra={
                            "progress_done": tally.done,
                            "progress_total": tally.total,
                            "progress_pages": tally.pages,
                            "progress_retries": tally.retries,
                        },
                    )

    def run_finished(self, run_id: int, kind: str, status: str, seconds: float) -> None:
        self.close()

    def close(self) -> None:
        """Stop the timer (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None


class BarProgress(Tally):
    """One rich progress bar per store view on ``stream`` (standard error)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "{task.fields[pages]} pages, {task.fields[rate]} {task.fields[unit]}/s, "
                "{task.fields[retries]} retries{task.fields[eta]}"
            ),
            console=Console(file=stream, stderr=stream is None),
            refresh_per_second=2,
            transient=False,
        )
        self._tasks: dict[tuple[str, str], Any] = {}
        self._live = False

    def run_started(self, run_id: int, kind: str) -> None:
        super().run_started(run_id, kind)
        if not self._live:
            self._progress.start()
            self._live = True

    def store_started(self, store: str, mode: str, resource: str = PRODUCTS.name) -> None:
        super().store_started(store, mode, resource)
        tally = self.stores[(resource, store)]
        self._tasks[(resource, store)] = self._progress.add_task(
            f"{tally.label.removeprefix('store ')} ({mode})",
            total=None,
            pages=0,
            rate=0,
            unit=tally.unit,
            retries=0,
            eta=f", {_clock(None)}",
        )

    def store_total(self, store: str, total: int, resource: str = PRODUCTS.name) -> None:
        super().store_total(store, total, resource)
        self._refresh((resource, store))

    def retry(self, reason: str) -> None:
        super().retry(reason)
        self._refresh(self.current)

    def page_written(self, store: str, page: PageReport) -> None:
        super().page_written(store, page)
        self._refresh((page.resource, store))

    def store_finished(self, store: str, watermark: str | None) -> None:
        super().store_finished(store, watermark)
        self._refresh((PRODUCTS.name, store))

    def resource_finished(self, resource: str, store: str) -> None:
        super().resource_finished(resource, store)
        self._refresh((resource, store))

    def _refresh(self, key: tuple[str, str] | None) -> None:
        task = self._tasks.get(key) if key is not None else None
        if task is None or key is None:
            return
        with self._lock:
            tally = self.stores.get(key)
            if tally is None:
                return
            now = self.monotonic()
            done, total = tally.done, tally.total
            if tally.finished is not None:
                total = max(done, total or 0)  # complete: the bar shows what was read
            elif total is not None and done >= total:
                total = None  # more than ACCS counted (added meanwhile): no end yet
            fields: dict[str, Any] = {
                "pages": f"{tally.pages:,}",
                "rate": f"{tally.rate(now):,.0f}",
                "retries": tally.retries,
                # Labelled, and gone once the pass is over.
                "eta": "" if tally.finished is not None else f", {_clock(tally.eta(now))}",
            }
        if total is None:
            # rich's update() cannot take a total back: an endless bar is a task without one.
            for shown in self._progress.tasks:
                if shown.id == task:
                    shown.total = None
        self._progress.update(task, completed=done, total=total, **fields)

    def run_finished(self, run_id: int, kind: str, status: str, seconds: float) -> None:
        self.close()

    def close(self) -> None:
        if self._live:
            self._progress.stop()
            self._live = False


def make_progress(
    *, quiet: bool, interval: float, terminal: bool, stream: IO[str] | None = None
) -> BarProgress | LogProgress | None:
    """The progress display a command should use: none with ``--quiet``, a bar on a terminal,
    log lines every ``interval`` seconds elsewhere (none when ``interval`` is 0)."""
    if quiet:
        return None
    if terminal:
        return BarProgress(stream)
    if interval > 0:
        return LogProgress(interval)
    return None

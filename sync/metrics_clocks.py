"""The gauges of :class:`sync.metrics.Metrics` whose value depends on when they are scraped:
how fresh each store view's and each resource's mirror is. They are collectors (computed at
scrape time, so an age grows between runs as it really does) rather than gauges set once.
"""

from __future__ import annotations

import calendar
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["PassClock", "StoreClock", "epoch"]


def epoch(accs_time: str) -> float | None:
    """ACCS's ``YYYY-MM-DD HH:MM:SS`` (UTC) as seconds since the epoch; None if unreadable."""
    try:
        parsed = datetime.strptime(accs_time[:19], "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return None
    return float(calendar.timegm(parsed.timetuple()))


class StoreClock(Collector):
    """Per store view: the watermark, its lag behind now (computed when scraped, so it grows
    between runs as it really does) and when its pass last completed."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self.watermarks: dict[str, float] = {}
        self.successes: dict[str, float] = {}

    def record(
        self,
        store: str,
        *,
        success: float | None = None,
        watermark: float | None = None,
        keep: bool = False,
    ) -> None:
        """A store view's last success and watermark (Unix time); ``keep``: only where none
        is known yet (values read from the database at start-up)."""
        with self._lock:
            for values, value in ((self.successes, success), (self.watermarks, watermark)):
                if value is not None and not (keep and store in values):
                    values[store] = value

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            watermarks, successes = dict(self.watermarks), dict(self.successes)
        now = self._now()
        success = GaugeMetricFamily(
            "accs_sync_last_success_timestamp_seconds",
            "When a store view's pass last completed (Unix time).",
            labels=["store"],
        )
        for store, when in sorted(successes.items()):
            success.add_metric([store], when)
        mark = GaugeMetricFamily(
            "accs_sync_watermark_timestamp_seconds",
            "The store view's updated_at watermark: the newest change mirrored (Unix time).",
            labels=["store"],
        )
        lag = GaugeMetricFamily(
            "accs_sync_watermark_lag_seconds",
            "Seconds between now and the store view's watermark.",
            labels=["store"],
        )
        for store, when in sorted(watermarks.items()):
            mark.add_metric([store], when)
            lag.add_metric([store], max(0.0, now - when))
        yield success
        yield mark
        yield lag


class PassClock(Collector):
    """Per resource and store view: when its pass last completed, and how long ago (computed
    when scraped). Only passes that happened exist: a series at 0 would say "never" in a
    textfile, where a run over one resource must keep the others' values."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self.finished: dict[tuple[str, str], float] = {}

    def record(self, resource: str, store: str, when: float, *, keep: bool = False) -> None:
        with self._lock:
            if not (keep and (resource, store) in self.finished):
                self.finished[(resource, store)] = when

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            finished = sorted(self.finished.items())
        now = self._now()
        labels = ["resource", "store"]
        stamp = GaugeMetricFamily(
            "accs_sync_resource_last_success_timestamp_seconds",
            "When a resource's pass over a store view last completed (Unix time).",
            labels=labels,
        )
        age = GaugeMetricFamily(
            "accs_sync_resource_last_success_age_seconds",
            "Seconds since a resource's pass over a store view last completed.",
            labels=labels,
        )
        for key, when in finished:
            stamp.add_metric(list(key), when)
            age.add_metric(list(key), max(0.0, now - when))
        yield stamp
        yield age

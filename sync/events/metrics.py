"""The event consumer's metrics, in the process's registry beside :mod:`sync.metrics`.

=================================================  ==========================================
metric                                             meaning
=================================================  ==========================================
``accs_sync_events_read_total``                    catalog events read from the journal
``accs_sync_events_duplicates_total``              events dropped as already seen (by id)
``accs_sync_events_skipped_total``                 events not applied: not catalog events, no
                                                   usable key
``accs_sync_events_keys_refetched_total{resource}``  keys refetched for events (products,
                                                   source_items, categories)
``accs_sync_events_commit_age_seconds``            event time -> its rows committed (histogram)
``accs_sync_events_journal_requests_total``        journal answers by ``status`` (200, 204,
                                                   410, 4xx, 5xx, network)
``accs_sync_events_gaps_total``                    journal gaps (410): a reconcile followed
``accs_sync_events_position_age_seconds``          now minus the newest applied event's time
                                                   (computed when scraped; absent before one)
``accs_sync_events_caught_up``                     1 when the journal's last answer had no
                                                   more events (a growing position age is
                                                   then a quiet catalog, not a lag)
=================================================  ==========================================
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["RESOURCES", "EventMetrics", "request_status"]

RESOURCES = ("products", "source_items", "categories")
_STATUSES = ("200", "204", "410", "4xx", "5xx", "network")
#: Event to commit: priority events ~1 s, standard ones up to a minute, outages longer.
AGE_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)


def request_status(status: int | None) -> str:
    """A journal answer's label: the statuses that mean something to the consumer, else the
    class."""
    if status is None:
        return "network"
    if status in (200, 204, 410):
        return str(status)
    return f"{status // 100}xx"


class _PositionAge(Collector):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._newest: float | None = None
        self._lock = threading.Lock()

    def set(self, newest: datetime) -> None:
        with self._lock:
            self._newest = newest.timestamp()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "accs_sync_events_position_age_seconds",
            "Now minus the time of the newest event applied.",
        )
        with self._lock:
            newest = self._newest
        if newest is not None:
            family.add_metric([], max(0.0, self._now() - newest))
        yield family


class EventMetrics:
    """Counts what the consumer does; ``registry`` is the process's (``Metrics.registry``)."""

    def __init__(self, registry: CollectorRegistry, now: Callable[[], float] = time.time) -> None:
        self.read = Counter(
            "accs_sync_events_read", "Events read from the journal.", registry=registry
        )
        self.duplicates = Counter(
            "accs_sync_events_duplicates", "Events dropped as seen before.", registry=registry
        )
        self.skipped = Counter(
            "accs_sync_events_skipped", "Events read but not applied.", registry=registry
        )
        self.refetched = Counter(
            "accs_sync_events_keys_refetched",
            "Keys refetched for events, by resource.",
            ["resource"],
            registry=registry,
        )
        self.age = Histogram(
            "accs_sync_events_commit_age_seconds",
            "From an event's time to its rows committed.",
            buckets=AGE_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "accs_sync_events_journal_requests",
            "Journal answers by status.",
            ["status"],
            registry=registry,
        )
        self.gaps = Counter(
            "accs_sync_events_gaps", "Journal gaps followed by a reconcile.", registry=registry
        )
        self._caught_up = Gauge(
            "accs_sync_events_caught_up",
            "1 when the journal's last answer had no more events.",
            registry=registry,
        )
        self._position = _PositionAge(now)
        registry.register(self._position)
        self._now = now
        for resource in RESOURCES:
            self.refetched.labels(resource)
        for status in _STATUSES:
            self.requests.labels(status)

    def request(self, status: int | None) -> None:
        self.requests.labels(request_status(status)).inc()

    def caught_up(self, empty: bool) -> None:
        self._caught_up.set(1 if empty else 0)

    def applied(self, times: list[datetime], newest: datetime | None) -> None:
        """Events whose rows were just committed (their times), the newest applied."""
        now = self._now()
        for when in times:
            self.age.observe(max(0.0, now - when.timestamp()))
        if newest is not None:
            self._position.set(newest)

"""The event consumer's metrics: series exist at zero, lag (position age) is computed when
scraped, event-to-commit ages go into the histogram, journal answers by status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from sync.events.metrics import EventMetrics, request_status
from sync.metrics import Metrics

T0 = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_series_exist_at_zero_and_lag_appears_once_an_event_is_applied() -> None:
    now = [T0.timestamp() + 100]
    metrics = Metrics()
    events = EventMetrics(metrics.registry, now=lambda: now[0])
    reg = metrics.registry
    assert value(reg, "accs_sync_events_read_total") == 0
    assert value(reg, "accs_sync_events_keys_refetched_total", resource="categories") == 0
    assert value(reg, "accs_sync_events_journal_requests_total", status="410") == 0
    assert value(reg, "accs_sync_events_position_age_seconds") is None
    late = T0 + timedelta(seconds=98)
    events.applied([T0, late], newest=late)
    assert value(reg, "accs_sync_events_position_age_seconds") == 2.0
    now[0] += 30
    assert value(reg, "accs_sync_events_position_age_seconds") == 32.0
    assert value(reg, "accs_sync_events_commit_age_seconds_count") == 2
    assert value(reg, "accs_sync_events_commit_age_seconds_bucket", le="3.0") == 1
    assert value(reg, "accs_sync_events_commit_age_seconds_bucket", le="120.0") == 2


def test_journal_answers_are_counted_by_status() -> None:
    registry = CollectorRegistry()
    events = EventMetrics(registry)
    for status in (200, 204, 204, 410, 401, 503, None):
        events.request(status)
    assert value(registry, "accs_sync_events_journal_requests_total", status="204") == 2
    assert value(registry, "accs_sync_events_journal_requests_total", status="4xx") == 1
    assert value(registry, "accs_sync_events_journal_requests_total", status="network") == 1
    assert [request_status(s) for s in (200, 404, 502)] == ["200", "4xx", "5xx"]


def test_caught_up_says_whether_the_last_journal_answer_was_empty() -> None:
    registry = CollectorRegistry()
    events = EventMetrics(registry)
    assert value(registry, "accs_sync_events_caught_up") == 0
    events.caught_up(True)
    assert value(registry, "accs_sync_events_caught_up") == 1
    events.caught_up(False)
    assert value(registry, "accs_sync_events_caught_up") == 0

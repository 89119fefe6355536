"""Metrics as observed events, the textfile that keeps counting, and the observer fan-out."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sync.errors import ApiError, InvalidResponse, RateLimited, RetriableApiError
from sync.metrics import Metrics, status_class
from sync.observe import Observer, Observers, PageReport, retry_reason
from sync.textfile import write_metrics_file


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def read(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_series_exist_at_zero_before_anything_happens() -> None:
    found = scrape(Metrics(stores=["default", "fr"]))
    assert found[key("accs_sync_runs_total", kind="reconcile", outcome="failed")] == 0
    # A pass over given keys (--sku, the event consumer) is a run kind of its own.
    assert found[key("accs_sync_runs_total", kind="refetch", outcome="partial")] == 0
    assert found[key("accs_sync_products_written_total", store="fr", operation="delete")] == 0
    assert found[key("accs_sync_api_requests_total", status_class="network")] == 0
    assert found[key("accs_sync_retries_total", reason="rate_limited")] == 0
    assert found[key("accs_sync_info", version=__import__("sync").__version__)] == 1
    assert not any(name.endswith("_created") for name, _ in found)


def test_events_become_counts() -> None:
    now = {"t": 1_800_000_000.0}
    metrics = Metrics(stores=["default"], now=lambda: now["t"])
    metrics.run_started(1, "sync")
    assert scrape(metrics)[key("accs_sync_run_in_progress")] == 1
    metrics.store_started("default", "incremental")
    for status in (200, 200, 503, None, 404):
        metrics.request(status, 0.2)
    metrics.retry("server_error")
    metrics.retry("network")
    metrics.page_written(
        "default",
        PageReport(items=5, inserted=2, updated=1, revived=1, unchanged=1, deleted=3, rejected=1),
    )
    metrics.auth("token_mints")
    metrics.auth("token_refreshes")
    metrics.auth("auth_retries")
    metrics.store_finished("default", "2027-01-15 08:00:00")
    now["t"] += 60
    metrics.run_finished(1, "sync", "success", 2.5)
    found = scrape(metrics)
    written = {
        op: found[key("accs_sync_products_written_total", store="default", operation=op)]
        for op in ("insert", "update", "revive", "delete")
    }
    assert written == {"insert": 2, "update": 1, "revive": 1, "delete": 3}
    assert found[key("accs_sync_products_unchanged_total", store="default")] == 1
    assert found[key("accs_sync_products_rejected_total", store="default")] == 1
    assert found[key("accs_sync_pages_total", store="default")] == 1
    assert found[key("accs_sync_api_requests_total", status_class="2xx")] == 2
    assert found[key("accs_sync_api_requests_total", status_class="5xx")] == 1
    assert found[key("accs_sync_api_requests_total", status_class="4xx")] == 1
    assert found[key("accs_sync_api_requests_total", status_class="network")] == 1
    assert found[key("accs_sync_api_request_duration_seconds_count")] == 5
    assert found[key("accs_sync_retries_total", reason="server_error")] == 1
    assert found[key("accs_sync_token_mints_total")] == 2
    assert found[key("accs_sync_auth_retries_total")] == 1
    assert found[key("accs_sync_runs_total", kind="sync", outcome="success")] == 1
    assert found[key("accs_sync_run_in_progress")] == 0
    # 2027-01-15 08:00:00 UTC
    assert found[key("accs_sync_watermark_timestamp_seconds", store="default")] == 1_800_000_000.0
    # The lag is computed when scraped: it grows while nothing is synced.
    assert found[key("accs_sync_watermark_lag_seconds", store="default")] == 60
    assert (
        found[key("accs_sync_last_success_timestamp_seconds", store="default")] == 1_800_000_000.0
    )
    now["t"] += 100
    assert scrape(metrics)[key("accs_sync_watermark_lag_seconds", store="default")] == 160


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (RateLimited("429", retry_after=1), "rate_limited"),
        (InvalidResponse("cut"), "invalid_response"),
        (RetriableApiError("503", status=503), "server_error"),
        (RetriableApiError("reset", status=None), "network"),
        (ApiError("400", status=400), "other"),
        (None, "other"),
    ],
)
def test_retry_reasons(exc: BaseException | None, reason: str) -> None:
    assert retry_reason(exc) == reason


def test_status_classes() -> None:
    assert [status_class(s) for s in (200, 204, 401, 503, None)] == [
        "2xx",
        "2xx",
        "4xx",
        "5xx",
        "network",
    ]


def test_a_failing_observer_never_breaks_the_others(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Observer):
        def page_written(self, store: str, page: PageReport) -> None:
            raise RuntimeError("bug in a display")

    metrics = Metrics()
    fan = Observers([Broken(), metrics])
    with caplog.at_level(logging.ERROR):
        fan.page_written("default", PageReport(items=1, inserted=1))
    assert scrape(metrics)[key("accs_sync_pages_total", store="default")] == 1
    assert "observer Broken failed on page_written" in caplog.text


# -- SYNC_METRICS_FILE ---------------------------------------------------------------------------


def one_run(outcome: str = "success", inserted: int = 10, watermark: str | None = None) -> Metrics:
    metrics = Metrics(stores=["default"], now=lambda: 1_900_000_000.0)
    metrics.run_started(1, "sync")
    metrics.store_started("default", "full")
    metrics.request(200, 0.3)
    metrics.page_written("default", PageReport(items=inserted, inserted=inserted))
    if outcome == "success":
        metrics.store_finished("default", watermark or "2030-01-01 00:00:00")
    metrics.run_finished(1, "sync", outcome, 1.0)
    return metrics


def test_the_textfile_adds_each_runs_counts_and_keeps_untouched_gauges(tmp_path: Path) -> None:
    path = tmp_path / "collector" / "accs_sync.prom"
    write_metrics_file(path, one_run(inserted=10).registry)
    first = read(path)
    assert first[key("accs_sync_products_written_total", store="default", operation="insert")] == 10
    write_metrics_file(path, one_run(outcome="failed", inserted=5).registry)
    second = read(path)
    assert (
        second[key("accs_sync_products_written_total", store="default", operation="insert")] == 15
    )
    assert second[key("accs_sync_runs_total", kind="sync", outcome="success")] == 1
    assert second[key("accs_sync_runs_total", kind="sync", outcome="failed")] == 1
    assert second[key("accs_sync_api_request_duration_seconds_count")] == 2
    assert second[key("accs_sync_api_request_duration_seconds_bucket", le="0.5")] == 2
    assert second[key("accs_sync_run_duration_seconds_sum", kind="sync")] == 2.0
    # The failed run reached no store's end: the earlier success and watermark stay.
    assert second[key("accs_sync_last_success_timestamp_seconds", store="default")] == 1.9e9
    assert key("accs_sync_watermark_lag_seconds", store="default") in second
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == [".accs_sync.prom.lock", path.name]


def test_a_damaged_textfile_is_replaced_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "accs_sync.prom"
    path.write_text("accs_sync_runs_total{kind= this is not prometheus\n")
    with caplog.at_level(logging.WARNING):
        write_metrics_file(path, one_run(inserted=3).registry)
    assert "is not Prometheus text" in caplog.text
    assert (
        read(path)[key("accs_sync_products_written_total", store="default", operation="insert")]
        == 3
    )


def test_an_unwritable_textfile_fails_loudly_only_in_the_writer(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(OSError):
        write_metrics_file(blocked / "accs_sync.prom", one_run().registry)


def test_other_resources_count_by_resource_not_by_store() -> None:
    metrics = Metrics(stores=["default"])
    metrics.store_started("*", "full", resource="source_items")
    found = scrape(metrics)
    assert (
        found[key("accs_sync_rows_written_total", resource="source_items", operation="delete")] == 0
    )
    metrics.page_written(
        "*", PageReport(items=3, inserted=1, updated=1, unchanged=1, resource="source_items")
    )
    metrics.page_written("*", PageReport(deleted=2, resource="source_items"))
    found = scrape(metrics)
    assert (
        found[key("accs_sync_rows_written_total", resource="source_items", operation="insert")] == 1
    )
    assert (
        found[key("accs_sync_rows_written_total", resource="source_items", operation="delete")] == 2
    )
    assert found[key("accs_sync_rows_unchanged_total", resource="source_items")] == 1
    # Products' counters and series are untouched; no product series for the store "*".
    assert found[key("accs_sync_pages_total", store="default")] == 0
    assert key("accs_sync_products_written_total", store="*", operation="insert") not in found


def test_every_resource_counts_pages_and_rows_by_resource_and_store() -> None:
    metrics = Metrics(stores=["default"])
    found = scrape(metrics)  # products' series of a configured store view exist at zero
    assert found[key("accs_sync_resource_pages_total", resource="products", store="default")] == 0
    metrics.store_started("*", "full", resource="source_items")
    metrics.page_written(
        "*",
        PageReport(
            items=5, inserted=1, updated=1, unchanged=2, rejected=1, resource="source_items"
        ),
    )
    metrics.page_written("*", PageReport(items=0, resource="source_items"))  # an empty last page
    metrics.page_written("*", PageReport(deleted=3, resource="source_items", pages=0))  # a sweep
    metrics.page_written("default", PageReport(deleted=2, pages=0))  # the id listing's tombstones
    found = scrape(metrics)

    def rows(resource: str, store: str, operation: str) -> float:
        labels = {"resource": resource, "store": store, "operation": operation}
        return found[key("accs_sync_resource_rows_total", **labels)]

    assert found[key("accs_sync_resource_pages_total", resource="source_items", store="*")] == 2
    assert [
        rows("source_items", "*", op)
        for op in ("insert", "update", "revive", "delete", "unchanged", "rejected")
    ] == [1, 1, 0, 3, 2, 1]
    assert rows("products", "default", "delete") == 2
    # Tombstones are no page, in the old products series too.
    assert found[key("accs_sync_pages_total", store="default")] == 0
    assert found[key("accs_sync_resource_pages_total", resource="products", store="default")] == 0
    assert found[key("accs_sync_products_written_total", store="default", operation="delete")] == 2

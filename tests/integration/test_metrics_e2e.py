"""Metrics as an operator reads them: counters that equal what the run really did.

A backfill against the emulator with 5xx answers, dropped connections and a token revocation
writes ``SYNC_METRICS_FILE``; every counter is compared with what the emulator saw and what the
database holds. A second run adds to the file's counters instead of replacing them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sync.cli import main
from sync.emulator import EmulatorServer
from sync.emulator.faults import RequestRecord
from tests.integration.mirror import mirror_by_id, runs

pytestmark = pytest.mark.integration


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample in a Prometheus text file, by name and labels (the parser refuses a
    malformed file, so this is also the format check)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_equal_what_a_faulty_backfill_did(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics_file = tmp_path / "textfile" / "accs_sync.prom"
    monkeypatch.setenv("SYNC_METRICS_FILE", str(metrics_file))
    monkeypatch.setenv(
        "SYNC_RESOURCES", "products"
    )  # every request counted below is a product page
    emulator.faults.error_5xx_every = 4
    emulator.faults.disconnect_next = 2
    seen = {"n": 0}

    def revoke_once(record: RequestRecord) -> None:
        seen["n"] += 1
        if seen["n"] == 6:
            emulator.revoke_all_tokens()

    emulator.faults.on_request.append(revoke_once)

    assert main(["backfill", "--quiet"]) == 0
    capsys.readouterr()
    found = samples(metrics_file)
    stats = emulator.stats.as_dict()
    pages = emulator.stats.list_requests()
    ok_pages = sum(1 for r in pages if r.status == 200)
    server_errors = stats["server_errors"]
    assert server_errors >= 3 and stats["unauthorized"] >= 1

    assert value(found, "accs_sync_runs_total", kind="backfill", outcome="success") == 1
    assert value(found, "accs_sync_runs_total", kind="backfill", outcome="failed") == 0
    mirrored = len(mirror_by_id(db_url))
    assert mirrored == 750
    assert (
        value(found, "accs_sync_products_written_total", store="default", operation="insert") == 750
    )
    assert (
        value(found, "accs_sync_products_written_total", store="default", operation="delete") == 0
    )
    assert value(found, "accs_sync_pages_total", store="default") == runs(db_url)[-1]["pages"]
    # Every ACCS answer the emulator gave, by class; the dropped connections had none.
    assert value(found, "accs_sync_api_requests_total", status_class="2xx") == ok_pages
    assert value(found, "accs_sync_api_requests_total", status_class="5xx") == server_errors
    assert value(found, "accs_sync_api_requests_total", status_class="network") == 2
    assert value(found, "accs_sync_api_requests_total", status_class="4xx") == 0
    assert (
        value(found, "accs_sync_api_request_duration_seconds_count") == ok_pages + server_errors + 2
    )
    assert value(found, "accs_sync_retries_total", reason="server_error") == server_errors
    assert value(found, "accs_sync_retries_total", reason="network") == 2
    assert value(found, "accs_sync_retries_total", reason="rate_limited") == 0
    # One mint at the start, one after the revocation; every 401 was re-sent.
    assert value(found, "accs_sync_token_mints_total") == stats["tokens_issued"] == 2
    assert value(found, "accs_sync_auth_retries_total") == stats["unauthorized"]
    assert value(found, "accs_sync_run_in_progress") == 0
    assert value(found, "accs_sync_last_success_timestamp_seconds", store="default") > 0
    assert value(found, "accs_sync_watermark_lag_seconds", store="default") > 0
    assert metrics_file.stat().st_mode & 0o777 == 0o644

    # A second (incremental, unchanged) run adds to the counters already in the file.
    emulator.faults.reset()
    assert main(["sync", "--quiet"]) == 0
    again = samples(metrics_file)
    assert value(again, "accs_sync_runs_total", kind="backfill", outcome="success") == 1
    assert value(again, "accs_sync_runs_total", kind="sync", outcome="success") == 1
    assert (
        value(again, "accs_sync_products_written_total", store="default", operation="insert") == 750
    )
    assert value(again, "accs_sync_token_mints_total") == 2  # the cached token was reused
    assert value(again, "accs_sync_api_requests_total", status_class="5xx") == server_errors
    assert value(again, "accs_sync_api_requests_total", status_class="2xx") > ok_pages
    assert value(again, "accs_sync_run_duration_seconds_count", kind="backfill") == 1
    assert value(again, "accs_sync_run_duration_seconds_count", kind="sync") == 1


def test_a_failed_run_is_counted_and_keeps_earlier_successes(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics_file = tmp_path / "accs_sync.prom"
    monkeypatch.setenv("SYNC_METRICS_FILE", str(metrics_file))
    monkeypatch.setenv("SYNC_MAX_ATTEMPTS", "2")
    assert main(["sync", "--quiet"]) == 0
    first = samples(metrics_file)
    success = value(first, "accs_sync_last_success_timestamp_seconds", store="default")
    assert success > 0

    emulator.faults.error_5xx_every = 1  # every request fails
    assert main(["backfill", "--quiet"]) == 1
    capsys.readouterr()
    after = samples(metrics_file)
    assert value(after, "accs_sync_runs_total", kind="backfill", outcome="failed") == 1
    assert value(after, "accs_sync_runs_total", kind="sync", outcome="success") == 1
    # The failed run reached no store's end: the last success stays what it was.
    assert value(after, "accs_sync_last_success_timestamp_seconds", store="default") == success
    assert value(after, "accs_sync_retries_total", reason="server_error") >= 1

"""A backfill sends its products' probes (the newest ``updated_at``, the lowest and the highest
id of its first store view) as soon as its settings are loaded and its token asked for, so they
fly while the engine is imported and the schema checked: at 500 ms a request that is a round
trip less before paging starts. The run asks ACCS exactly what it asked before, and its metrics
count the probes."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

import sync.app
from sync.cli import main
from sync.emulator import EmulatorServer

WAIT = 5.0  # seconds the patched build_app waits for the probes to arrive


def probes(emulator: EmulatorServer) -> list[dict[str, str]]:
    """The one-item searches the emulator answered (the probes), as query dicts."""
    return [
        dict(r.query)
        for r in emulator.stats.list_requests()
        if dict(r.query).get("searchCriteria[pageSize]") == "1"
    ]


def watch_build_app(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer) -> list[int]:
    """Patch ``sync.app.build_app`` to wait (at most WAIT s) for three probes, and record how
    many had arrived when the app started being built."""
    real = sync.app.build_app
    seen: list[int] = []

    def build_app(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + WAIT
        while len(probes(emulator)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(len(probes(emulator)))
        return real(*args, **kwargs)

    monkeypatch.setattr(sync.app, "build_app", build_app)
    return seen


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_backfill_has_its_probes_on_the_wire_before_the_engine_is_built(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    metrics_file = tmp_path / "accs_sync.prom"
    monkeypatch.setenv("SYNC_METRICS_FILE", str(metrics_file))
    monkeypatch.setenv("SYNC_RESOURCES", "products")
    seen = watch_build_app(monkeypatch, emulator)
    assert main(["backfill"]) == 0
    assert seen == [3]
    # Each probe once: the pass took the early answers instead of asking again.
    sent = probes(emulator)
    assert len(sent) == 3
    sorts = sorted(
        (q["searchCriteria[sortOrders][0][field]"], q["searchCriteria[sortOrders][0][direction]"])
        for q in sent
    )
    assert sorts == [("entity_id", "ASC"), ("entity_id", "DESC"), ("updated_at", "DESC")]
    # The metrics count every ACCS request, the early probes included.
    text = metrics_file.read_text()
    counted = sum(
        float(value)
        for value in re.findall(r"^accs_sync_api_requests_total\{[^}]*\} (\S+)$", text, re.M)
    )
    assert counted == emulator.stats.requests["list"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("argv", "concurrency"),
    [
        (["sync"], "4"),
        (["backfill", "--resource", "categories"], "4"),
        (["sync", "--sku", "SKU-1"], "4"),
        (["backfill"], "1"),
    ],
    ids=["sync", "backfill-categories", "sync-keys", "sequential-backfill"],
)
def test_only_a_concurrent_backfill_of_products_probes_ahead(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    concurrency: str,
) -> None:
    """A sync may not need the probes at all (an incremental pass), a backfill of another
    resource or of given keys never does, and a sequential backfill asks nothing when it
    resumes (``test_backfill_kill.py``): nothing is sent before the app is built."""
    monkeypatch.setenv("SYNC_CONCURRENCY", concurrency)
    monkeypatch.setattr("tests.integration.test_probes_ahead.WAIT", 0.3)
    seen = watch_build_app(monkeypatch, emulator)
    main(argv)
    assert seen == [0]

"""``accs_sync_resource_last_success_timestamp_seconds{resource,store}``: when each resource's
pass over each store view last completed, and ``..._age_seconds``, how long ago (computed when
scraped). A refused resource's series does not move, so the freshness alert sees it go stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sync.cli import main
from sync.db.engine import make_engine
from sync.emulator import EmulatorServer
from sync.metrics import Metrics
from sync.resources import RESOURCES

STAMP = "accs_sync_resource_last_success_timestamp_seconds"
AGE = "accs_sync_resource_last_success_age_seconds"


def samples(text: str, name: str) -> dict[tuple[str, str], float]:
    return {
        (s.labels["resource"], s.labels["store"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_a_finished_pass_is_stamped_per_resource_and_store_and_ages_at_scrape() -> None:
    now = [1_000_000.0]
    metrics = Metrics(stores=["default", "fr"], now=lambda: now[0])
    assert samples(generate_latest(metrics.registry).decode(), STAMP) == {}  # none yet
    metrics.resource_finished("products", "fr")
    now[0] += 60
    metrics.resource_finished("categories", "*")
    now[0] += 30
    text = generate_latest(metrics.registry).decode()
    assert samples(text, STAMP) == {
        ("products", "fr"): 1_000_000.0,
        ("categories", "*"): 1_000_060.0,
    }
    assert samples(text, AGE) == {("products", "fr"): 90.0, ("categories", "*"): 30.0}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_sync_stamps_every_resource_it_mirrored_and_not_a_refused_one(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("SYNC_RESOURCES", raising=False)  # every resource
    textfile = tmp_path / "accs_sync.prom"
    monkeypatch.setenv("SYNC_METRICS_FILE", str(textfile))
    assert main(["sync", "--quiet"]) == 0
    first = samples(textfile.read_text(), STAMP)
    expected = {("products", "default")} | {
        (r.name, "default" if r.per_store else "*") for r in RESOURCES.values()
    }
    assert set(first) == expected
    assert {resource for resource, _ in first} == {
        "products",
        "categories",
        "source_items",
        "attributes",
    }

    # source_items refused: the run is partial, and its stamp keeps its old value while the
    # others move on.
    emulator.faults.forbidden = {"source_items"}
    assert main(["sync", "--quiet"]) == 1
    second = samples(textfile.read_text(), STAMP)
    for key, when in first.items():
        if key[0] == "source_items":
            assert second[key] == when
        else:
            assert second[key] >= when


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_restarted_daemon_knows_each_store_views_last_products_pass(
    sync_env: dict[str, str], db_url: str
) -> None:
    """Read from sync_runs at start-up, so the freshness alert is right from the first scrape."""
    assert main(["sync", "--quiet", "--resource", "products"]) == 0
    metrics = Metrics()
    engine = make_engine(db_url)
    try:
        metrics.load_state(engine)
    finally:
        engine.dispose()
    found = samples(generate_latest(metrics.registry).decode(), STAMP)
    assert set(found) == {("products", "default")}
    assert found[("products", "default")] > 1_700_000_000

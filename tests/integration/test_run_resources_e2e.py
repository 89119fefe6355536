"""Every resource in the run log, ``status --json`` and the metrics, end to end on every database
(issue 15, defect 2: a source-items run looked like an empty sync).

``accs-sync sync`` mirrors products, categories and source items from the emulator three times:
a first full run, an unchanged second run, and a third run after deletions and two items that
cannot be stored. After each, ``sync_run_resources`` holds one row per resource and store view
whose counts equal the run's own summary, the change log (rows written and tombstoned by that
run) and ``sync_rejects``; ``status --json`` lists them per run; the metrics file counts every
resource's pages and rows.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sync.app import build_app
from sync.cli import main
from sync.db.schema import catalog_changes, sync_rejects, sync_run_resources, sync_runs
from sync.emulator import EmulatorServer
from sync.progress import Tally
from sync.settings import load_settings
from tests.integration.test_metrics_e2e import samples, value
from tests.integration.test_resources_e2e import rows, upstream_categories, upstream_stock

pytestmark = pytest.mark.integration

COUNTS = ("pages", "written", "unchanged", "deleted", "rejected")


def sync_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["sync", "--quiet", "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def run_rows(db_url: str, run_id: int) -> dict[tuple[str, str], dict[str, Any]]:
    t = sync_run_resources.c
    found = rows(db_url, sa.select(sync_run_resources).where(t.run_id == run_id))
    return {(r.resource, r.store_code): dict(r._mapping) for r in found}


def summary_counts(summary: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """What the run's own summary says each resource and store view did."""
    out = {}
    for s in summary["stores"]:
        out[("products", s["store_code"])] = {
            "mode": s["mode"],
            "pages": s["pages"],
            "written": s["products"],
            "unchanged": s["unchanged"],
            "deleted": s["deleted"],
            "rejected": s["rejected"],
        }
    for r in summary["resources"]:
        out[(r["resource"], r["store_code"])] = {"mode": r["mode"]} | {k: r[k] for k in COUNTS}
    return out


def logged(db_url: str, run_id: int) -> Counter[tuple[str, str, str]]:
    """(resource, store view, written or deleted) -> rows the change log has for the run."""
    t = catalog_changes.c
    query = sa.select(t.resource, t.store_code, t.op).where(t.run_id == run_id)
    return Counter(
        (r.resource, r.store_code, "deleted" if r.op == "delete" else "written")
        for r in rows(db_url, query)
    )


def assert_run_logged(db_url: str, summary: dict[str, Any]) -> dict[tuple[str, str], Any]:
    run_id = summary["run_id"]
    found = run_rows(db_url, run_id)
    expected = summary_counts(summary)
    shown = {key: {k: row[k] for k in ("mode", *COUNTS)} for key, row in found.items()}
    assert shown == expected
    changes = logged(db_url, run_id)
    t = sync_rejects.c
    rejected = Counter(
        (r.resource, r.store_code)
        for r in rows(db_url, sa.select(t.resource, t.store_code).where(t.run_id == run_id))
    )
    for (resource, store), row in found.items():
        assert row["written"] == changes[(resource, store, "written")], (resource, row)
        assert row["deleted"] == changes[(resource, store, "deleted")], (resource, row)
        # A rejected item read twice in a run (incremental, then full) is one sync_rejects row.
        assert bool(row["rejected"]) == bool(rejected[(resource, store)]), (resource, row)
    # sync_runs keeps its meaning: products only.
    [run] = rows(db_url, sa.select(sync_runs).where(sync_runs.c.id == run_id))
    assert (run.pages, run.products_written) == (
        found[("products", "default")]["pages"],
        found[("products", "default")]["written"],
    )
    return found


def test_every_resource_is_in_the_run_log_status_and_metrics(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    metrics = tmp_path / "accs-sync.prom"
    monkeypatch.setenv("SYNC_METRICS_FILE", str(metrics))
    monkeypatch.delenv("SYNC_RESOURCES", raising=False)  # every resource
    categories, stock = len(upstream_categories(emulator)), len(upstream_stock(emulator))

    first = sync_json(capsys)
    found = assert_run_logged(db_url, first)
    assert set(found) == {
        ("products", "default"),
        ("categories", "default"),
        ("source_items", "*"),
        ("attributes", "default"),
    }
    assert found[("categories", "default")]["written"] == categories
    assert found[("source_items", "*")]["written"] == stock
    assert found[("source_items", "*")]["pages"] > 1  # SYNC_PAGE_SIZE 100
    assert found[("products", "default")]["written"] == 750

    # Nothing changed: nothing written, and the full source-items pass read every row again.
    second = sync_json(capsys)
    found = assert_run_logged(db_url, second)
    assert all(row["written"] == row["deleted"] == 0 for row in found.values())
    assert found[("source_items", "*")]["unchanged"] == stock
    assert found[("categories", "default")]["mode"] == "incremental"

    # Deletions in every resource, and one item each that cannot be stored.
    catalog = emulator.catalog
    leaf = max(c.id for c in catalog.categories() if c.level >= 2)
    gone = catalog.delete_category(leaf)
    catalog.update_category(catalog.categories()[3].id, name="Bad \ud800 name")
    (source, sku), *_ = sorted(upstream_stock(emulator))
    catalog.remove_source_item(sku, source)
    ids = catalog.ids()
    catalog.delete(ids[7])
    catalog.update(ids[20], junk=float("nan"))
    third = sync_json(capsys)
    found = assert_run_logged(db_url, third)
    assert found[("categories", "default")]["deleted"] == len(gone)
    assert found[("categories", "default")]["rejected"] >= 1
    assert found[("source_items", "*")]["deleted"] >= 1
    assert found[("products", "default")]["deleted"] >= 1
    assert found[("products", "default")]["rejected"] == 1

    # status --json: each run's resources, additive to the run's own keys.
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    for summary, run in zip((third, second, first), document["runs"], strict=True):
        assert run["id"] == summary["run_id"]
        listed = {(r["resource"], r["store_code"]): r for r in run["resources"]}
        assert set(listed) == set(summary_counts(summary))
        for key, counts in summary_counts(summary).items():
            assert {k: listed[key][k] for k in ("mode", *COUNTS)} == counts
        assert "products_written" in run and "pages" in run  # unchanged keys
    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert "    source_items *: full, 0 rows written in " in text
    assert "    categories default: incremental, 0 rows written in " in text

    # The metrics count every resource's pages and rows over the three runs.
    found_metrics = samples(metrics)
    runs = (first, second, third)
    for resource, store in summary_counts(first):
        per_run = [summary_counts(s)[(resource, store)] for s in runs]
        labels = {"resource": resource, "store": store}
        assert value(found_metrics, "accs_sync_resource_pages_total", **labels) == sum(
            r["pages"] for r in per_run
        ), resource
        ops = {
            op: value(found_metrics, "accs_sync_resource_rows_total", operation=op, **labels)
            for op in ("insert", "update", "revive", "delete", "unchanged", "rejected")
        }
        assert ops["insert"] + ops["update"] + ops["revive"] == sum(r["written"] for r in per_run)
        for op, column in (
            ("delete", "deleted"),
            ("unchanged", "unchanged"),
            ("rejected", "rejected"),
        ):
            assert ops[op] == sum(r[column] for r in per_run), (resource, op)


class Totals(Tally):
    """The progress tally, and every total it was told."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[tuple[str, str, int]] = []

    def store_total(self, store: str, total: int, resource: str = "products") -> None:
        self.told.append((resource, store, total))
        super().store_total(store, total, resource)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_progress_gets_each_resources_total_from_accs(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    concurrency: str,
) -> None:
    """Every pass tells the progress ACCS's total once: with SYNC_CONCURRENCY > 1 source items
    are walked one source per worker, and their totals are summed, never told part by part."""
    monkeypatch.setenv("SYNC_CONCURRENCY", concurrency)
    tally = Totals()
    with build_app(load_settings()) as app:
        app.observers.add(tally)
        stats = app.run("sync", resources=["categories", "source_items"])
    assert stats.status == "success"
    stock, categories = len(upstream_stock(emulator)), len(upstream_categories(emulator))
    assert sorted(tally.told) == [
        ("categories", "default", categories),
        ("source_items", "*", stock),
    ]
    shown = {
        (t.resource, t.store): (t.done, t.total, t.finished is not None) for t in tally.snapshot()
    }
    assert shown == {
        ("categories", "default"): (categories, categories, True),
        ("source_items", "*"): (stock, stock, True),
    }


def test_a_revived_row_is_counted_in_the_run_log_status_and_summary(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A source item unassigned upstream is tombstoned; assigned again, the next pass writes it
    back: one revived row in ``sync_run_resources.revived`` (part of ``written``), the run's
    summary, ``status`` and ``status --json``."""
    monkeypatch.setenv("SYNC_RESOURCES", "source_items")
    sync_json(capsys)
    (source, sku), *_ = sorted(s for s in upstream_stock(emulator) if s[0] != "default")
    emulator.catalog.remove_source_item(sku, source)
    gone = sync_json(capsys)
    assert run_rows(db_url, gone["run_id"])[("source_items", "*")]["deleted"] == 1
    emulator.catalog.set_source_item(sku, source, 5)
    back = sync_json(capsys)
    row = run_rows(db_url, back["run_id"])[("source_items", "*")]
    assert (row["revived"], row["written"]) == (1, 1)
    [summary] = back["resources"]
    assert summary["revived"] == 1
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["runs"][0]["resources"]
    assert (listed["revived"], listed["written"]) == (1, 1)
    assert main(["status"]) == 0
    assert "    source_items *: full, 1 rows written in " in capsys.readouterr().out

"""The end-of-run summary says what every resource did (issue 15, defect 2: a source-items run
read ``run 1 success: 0 products, 0 pages``)."""

from __future__ import annotations

from sync.stats import ResourceStats, RunStats, StoreStats
from sync.summary import summary_json, summary_lines


def source_items_run() -> RunStats:
    stats = RunStats(run_id=1, kind="sync", status="success", seconds=1.04)
    stats.resources.append(
        ResourceStats(
            "source_items", "*", "full", pages=4, written=344, unchanged=6, deleted=2, revived=3
        )
    )
    return stats


def everything_run() -> RunStats:
    stats = RunStats(run_id=3, kind="sync", status="success", seconds=2.5)
    stats.stores.append(StoreStats("default", "full", pages=8, products=750, rejected=1))
    stats.stores.append(StoreStats("fr", "incremental", pages=1, products=2, unchanged=5))
    stats.resources.append(ResourceStats("categories", "default", "full", pages=1, written=40))
    stats.resources.append(ResourceStats("categories", "fr", "full", pages=1, written=40))
    stats.resources.append(
        ResourceStats("source_items", "*", "full", pages=4, written=344, rejected=1)
    )
    return stats


def test_a_source_items_run_is_not_an_empty_sync() -> None:
    lines = summary_lines(source_items_run())
    assert lines[0] == "run 1 success: 344 source items, 4 pages (6 unchanged), 1.0s"
    assert lines[1:] == [
        "  source_items: full, 344 rows written in 4 pages, 6 unchanged, 3 revived, "
        "2 deleted upstream"
    ]
    [resource] = summary_json(source_items_run(), 0)["resources"]
    assert resource["revived"] == 3


def test_the_headline_names_every_resource_products_first() -> None:
    assert summary_lines(everything_run())[0] == (
        "run 3 success: 752 products, 9 pages (5 unchanged); 80 categories, 2 pages; "
        "344 source items, 4 pages, 2.5s"
    )
    nothing = RunStats(run_id=4, kind="sync", status="failed", seconds=0.1)
    assert summary_lines(nothing)[0] == "run 4 failed: 0 products, 0 pages, 0.1s"


def test_the_json_adds_each_resource_summed_over_store_views() -> None:
    document = summary_json(everything_run(), 0)
    assert (document["products"], document["pages"]) == (752, 9)  # products only, as before
    assert {r["resource"] for r in document["resources"]} == {"categories", "source_items"}
    assert document["by_resource"] == [
        {
            "resource": "products",
            "pages": 9,
            "written": 752,
            "unchanged": 5,
            "deleted": 0,
            "revived": 0,
            "rejected": 1,
        },
        {
            "resource": "categories",
            "pages": 2,
            "written": 80,
            "unchanged": 0,
            "deleted": 0,
            "revived": 0,
            "rejected": 0,
        },
        {
            "resource": "source_items",
            "pages": 4,
            "written": 344,
            "unchanged": 0,
            "deleted": 0,
            "revived": 0,
            "rejected": 1,
        },
    ]


def test_the_runs_last_log_line_says_what_every_resource_did() -> None:
    # What the pipeline logs when a run ends (its last line).
    assert source_items_run().finished_line() == (
        "run 1 success: 344 source items written in 4 pages (0 rejected, 2 deleted) in 1.0s"
    )
    assert everything_run().finished_line() == (
        "run 3 success: 752 products written in 9 pages, 80 categories written in 2 pages, "
        "344 source items written in 4 pages (2 rejected, 0 deleted) in 2.5s"
    )

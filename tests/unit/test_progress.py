"""Progress tallies, the log-line timer and the choice of display."""

from __future__ import annotations

import io
import logging
import threading

import pytest

from sync.observe import PageReport, PartTotals
from sync.progress import BarProgress, LogProgress, StoreTally, Tally, make_progress


def test_a_store_line_says_done_of_total_pages_rate_retries_and_eta() -> None:
    tally = StoreTally(
        "default", "full", started=100.0, total=200_000, done=12_300, pages=41, retries=2
    )
    line = tally.line(now=103.0)
    assert line == (
        "store default (full): 12,300 of 200,000 products (6.2%), 41 pages, 4,100 products/s, "
        "2 retries, ETA 46s"
    )
    assert StoreTally("fr", "incremental", 0.0, done=7, pages=1).line(1.0) == (
        "store fr (incremental): 7 products, 1 pages, 7 products/s, 0 retries"
    )


def test_eta_reads_as_minutes_and_hours() -> None:
    slow = StoreTally("default", "full", started=0.0, total=1_000_000, done=1_000)
    assert slow.line(10.0).endswith("ETA 2h46m")
    assert StoreTally("d", "full", 0.0, total=10_000, done=1_000).line(10.0).endswith("ETA 1m30s")


def test_the_tally_counts_items_pages_and_retries_per_store() -> None:
    clock = {"t": 0.0}
    tally = Tally(monotonic=lambda: clock["t"])
    tally.run_started(1, "sync")
    tally.store_started("default", "full")
    tally.store_total("default", 250)
    tally.page_written("default", PageReport(items=100, inserted=90, rejected=10))
    tally.retry("server_error")
    tally.page_written("default", PageReport(items=100, unchanged=100))
    tally.store_started("fr", "incremental")
    tally.retry("network")
    clock["t"] = 2.0
    tally.store_finished("default", None)
    default, fr = tally.snapshot()
    assert (default.done, default.pages, default.retries, default.total) == (200, 2, 1, 250)
    assert (fr.done, fr.retries) == (0, 1)
    assert default.finished == 2.0


def test_products_added_during_a_pass_raise_the_total_at_its_end() -> None:
    tally = Tally()
    tally.store_started("default", "full")
    tally.store_total("default", 10)
    tally.page_written("default", PageReport(items=12, inserted=12))
    tally.store_finished("default", None)
    assert tally.snapshot()[0].total == 12


def test_log_progress_logs_on_schedule_and_stops_at_the_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    progress = LogProgress(interval=0.05, logger=logging.getLogger("test.progress"))
    ticks = threading.Event()
    with caplog.at_level(logging.INFO, logger="test.progress"):
        progress.run_started(1, "backfill")
        progress.store_started("default", "full")
        progress.store_total("default", 1000)
        progress.page_written("default", PageReport(items=300, inserted=300))
        ticks.wait(0.4)
        progress.run_finished(1, "backfill", "success", 0.4)
        during = len(caplog.records)
        ticks.wait(0.2)
    assert 2 <= during <= 9  # every 0.05 s for 0.4 s, give or take a busy machine
    assert len(caplog.records) == during  # nothing after the end
    record = caplog.records[0]
    assert record.getMessage().startswith(
        "progress: store default (full): 300 of 1,000 products (30.0%), 1 pages"
    )
    assert record.__dict__["progress_done"] == 300
    assert record.__dict__["progress_total"] == 1000


def test_a_finished_store_is_not_reported_again(caplog: pytest.LogCaptureFixture) -> None:
    progress = LogProgress(interval=0.03, logger=logging.getLogger("test.progress"))
    with caplog.at_level(logging.INFO, logger="test.progress"):
        progress.run_started(1, "sync")
        progress.store_started("default", "full")
        progress.store_finished("default", None)
        threading.Event().wait(0.15)
        progress.close()
    assert caplog.records == []


def test_the_display_is_chosen_by_quiet_terminal_and_interval() -> None:
    assert make_progress(quiet=True, interval=30, terminal=True) is None
    assert make_progress(quiet=True, interval=30, terminal=False) is None
    assert isinstance(make_progress(quiet=False, interval=30, terminal=False), LogProgress)
    assert make_progress(quiet=False, interval=0, terminal=False) is None
    bar = make_progress(quiet=False, interval=30, terminal=True, stream=io.StringIO())
    assert isinstance(bar, BarProgress)


def test_the_bar_draws_each_store_and_ends_complete() -> None:
    out = io.StringIO()
    bar = BarProgress(stream=out)
    bar.run_started(1, "backfill")
    bar.store_started("default", "full")
    bar.store_total("default", 600)
    bar.page_written("default", PageReport(items=300, inserted=300))
    bar.retry("rate_limited")
    bar.page_written("default", PageReport(items=300, inserted=300))
    bar.store_finished("default", None)
    bar.run_finished(1, "backfill", "success", 1.0)
    text = out.getvalue()
    assert "default (full)" in text
    assert "600/600" in text
    assert "2 pages" in text and "1 retries" in text


def test_each_resource_counts_in_its_own_unit() -> None:
    stock = StoreTally("*", "full", 0.0, total=344, done=120, pages=2, resource="source_items")
    assert stock.line(2.0) == (
        "source_items (full): 120 of 344 source items (34.9%), 2 pages, 60 source items/s, "
        "0 retries, ETA 4s"
    )
    cats = StoreTally("fr", "incremental", 0.0, done=7, pages=1, resource="categories")
    assert cats.line(1.0) == (
        "categories fr (incremental): 7 categories, 1 pages, 7 categories/s, 0 retries"
    )
    # A resource added later is named after itself.
    options = StoreTally("*", "full", 0.0, done=3, pages=1, resource="attribute_options")
    assert "3 attribute options, 1 pages, 3 attribute options/s" in options.line(1.0)


def test_a_resource_gets_its_total_and_is_finished_by_its_own_events() -> None:
    clock = {"t": 0.0}
    tally = Tally(monotonic=lambda: clock["t"])
    tally.store_started("default", "full")
    tally.store_started("*", "full", "source_items")
    tally.store_total("*", 344, "source_items")
    tally.store_total("default", 750)
    tally.page_written("*", PageReport(items=300, inserted=300, resource="source_items"))
    tally.page_written("*", PageReport(deleted=2, resource="source_items", pages=0))  # a sweep
    clock["t"] = 3.0
    tally.resource_finished("source_items", "*")
    products, stock = tally.snapshot()
    assert (products.total, products.finished) == (750, None)
    assert (stock.total, stock.done, stock.pages, stock.finished) == (344, 300, 1, 3.0)


def test_a_resource_bar_is_never_full_while_its_pass_runs() -> None:
    out = io.StringIO()
    bar = BarProgress(stream=out)
    bar.run_started(1, "sync")
    bar.store_started("*", "full", "source_items")
    bar.page_written("*", PageReport(items=300, inserted=300, resource="source_items"))
    [task] = bar._progress.tasks
    assert task.total is None and task.fields["eta"] == ", eta -:--:--"  # no total yet: no end
    bar.store_total("*", 600, "source_items")
    bar.page_written("*", PageReport(items=300, inserted=300, resource="source_items"))
    bar.page_written("*", PageReport(items=100, inserted=100, resource="source_items"))
    assert not task.finished  # 700 of 600 (items added meanwhile): still running
    bar.resource_finished("source_items", "*")
    assert task.finished and task.completed == task.total == 700
    bar.run_finished(1, "sync", "success", 1.0)
    text = out.getvalue()
    assert "source items/s" in text and "products/s" not in text


def test_the_bar_labels_its_eta() -> None:
    clock = {"t": 0.0}
    out = io.StringIO()
    bar = BarProgress(stream=out)
    bar.monotonic = lambda: clock["t"]
    bar.run_started(1, "backfill")
    bar.store_started("default", "full")
    bar.store_total("default", 10_000)
    clock["t"] = 10.0
    bar.page_written("default", PageReport(items=1_000, inserted=1_000))
    [task] = bar._progress.tasks
    assert task.fields["eta"] == ", eta 0:01:30"
    bar.run_finished(1, "backfill", "success", 1.0)
    assert "eta 0:01:30" in out.getvalue()


def test_part_totals_are_told_once_every_part_is_known() -> None:
    told: list[int] = []
    totals = PartTotals(told.append)
    totals.add(40)
    assert told == [40]  # one part unless told otherwise
    totals = PartTotals(told.append)
    totals.expect(3)
    totals.add(100)
    totals.add(200)
    assert told == [40]  # a part still unknown: no total rather than a short one
    totals.add(44)
    assert told == [40, 344]
    totals.add(-5)  # hostile or repeated: never told again
    assert told == [40, 344]

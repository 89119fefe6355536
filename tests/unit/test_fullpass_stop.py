"""A failed full pass (products by id range, or a resource by partition) ends promptly even
when another worker is stuck in a request: the writer waits a bounded grace for the others,
then raises the first error."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sync import workers
from sync.api.keyset import KeysetWalk
from sync.engine import Partition, ResourcePass
from sync.errors import FatalApiError
from sync.fullpass import FullPass
from sync.observe import Observer
from sync.passtools import PassTools, ProductTools
from sync.ranges import RangeSet, even_ranges
from sync.resources import SOURCE_ITEMS
from sync.stats import ResourceStats, StoreStats


class StuckAndFailing:
    """The first fetch hangs until released; the second fails."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.lock = threading.Lock()

    def fetch(self, criteria: Any, position: Any, store_code: str) -> Any:
        with self.lock:
            self.calls += 1
            call = self.calls
        if call == 1:
            self.release.wait(30)
            raise FatalApiError("released")
        time.sleep(0.1)
        raise FatalApiError("ACCS answered 400: broken")


def nothing_written(*args: Any) -> Any:
    raise AssertionError("nothing is written")


def test_a_failed_pass_does_not_wait_for_a_stuck_worker_beyond_the_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passes = StuckAndFailing()
    ranges = RangeSet(even_ranges(1, 400, 2), 50)
    tools = ProductTools(
        db=None,  # type: ignore[arg-type]
        fetch=passes.fetch,
        fetch_ids=nothing_written,
        count=nothing_written,
        write_page=nothing_written,
        save_checkpoint=nothing_written,
        now=nothing_written,
        page_size=lambda: 50,
        stop_event=threading.Event(),
        observer=Observer(),
    )
    full = FullPass(tools, StoreStats("default", "full"), 1, ranges, workers=2)
    monkeypatch.setattr(workers, "STOP_GRACE", 0.5)
    started = time.monotonic()
    try:
        with pytest.raises(FatalApiError, match="broken"):
            full.run()
        assert time.monotonic() - started < 3
    finally:
        passes.release.set()


def test_a_failed_partitioned_resource_pass_does_not_wait_for_a_stuck_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stuck = StuckAndFailing()

    tools = PassTools(
        db=None,  # type: ignore[arg-type]
        observer=None,  # type: ignore[arg-type]
        lookback_seconds=0,
        concurrency=2,
        stamps=None,  # type: ignore[arg-type]
        max_item_bytes=0,
        fetch_with=lambda call: stuck.fetch(None, None, "default"),
        page_size=lambda: 50,
        now=nothing_written,
        stop_event=threading.Event(),
    )
    monkeypatch.setattr(workers, "STOP_GRACE", 0.5)
    rpass = ResourcePass(
        SOURCE_ITEMS,
        tools,
        lister=None,  # type: ignore[arg-type]
        store_code="*",
        request_store="default",
        run_id=1,
        stats=ResourceStats("source_items", "*"),
    )
    walks = [
        Partition(source, KeysetWalk(fields=["sku"], key_of=lambda item: None))
        for source in ("eu", "us")
    ]
    started = time.monotonic()
    try:
        with pytest.raises(FatalApiError, match="broken"):
            rpass._walk_partitions(walks, set())
        assert time.monotonic() - started < 3
    finally:
        stuck.release.set()

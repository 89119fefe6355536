"""A failed full pass (products by id range, or a resource by partition) ends promptly even
when another worker is stuck in a request: the writer waits a bounded grace for the others,
then raises the first error."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sync import engine
from sync.api.keyset import KeysetWalk
from sync.engine import Partition, ResourcePass
from sync.errors import FatalApiError
from sync.fullpass import FullPass
from sync.ranges import RangeSet, even_ranges
from sync.resources import SOURCE_ITEMS
from sync.stats import ResourceStats, StoreStats


class StuckAndFailing:
    """The first fetch hangs until released; the second fails."""

    page_size = 50
    engine: Any = None

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


def test_a_failed_pass_does_not_wait_for_a_stuck_worker_beyond_the_grace() -> None:
    passes = StuckAndFailing()
    ranges = RangeSet(even_ranges(1, 400, 2), 50)
    full = FullPass(passes, StoreStats("default", "full"), 1, ranges, workers=2)  # type: ignore[arg-type]
    full.stop_grace = 0.5
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

    class Context:
        engine: Any = None
        observer: Any = None
        lookback_seconds = 0
        concurrency = 2

        def fetch_with(self, call: Any) -> Any:
            return stuck.fetch(None, None, "default")

        def now(self) -> Any:
            raise AssertionError("nothing is written")

    monkeypatch.setattr(engine, "STOP_GRACE", 0.5)
    rpass = ResourcePass(
        SOURCE_ITEMS,
        Context(),
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

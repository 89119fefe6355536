"""A full pass's worker fetches its range's next page while the writer commits the previous one
(one page of read-ahead per range), and never runs further ahead than that."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

from sync.api.criteria import SearchCriteria
from sync.api.paging import Page
from sync.fullpass import FullPass
from sync.observe import Observer
from sync.passtools import ProductTools
from sync.ranges import IdRange, RangeSet
from sync.stats import StoreStats

WAIT = 10.0  # seconds; only a broken pass waits this long


class SlowWriter:
    """Ids 1..9 in pages of 3; the first page's commit blocks until ``release`` is set."""

    page_size = 3
    engine: Any = None

    def __init__(self) -> None:
        self.db = self
        self.release = threading.Event()
        self.writing_first = threading.Event()
        self.fetched: list[int] = []  # the cursor of every fetch, in order
        self.committed: list[list[int]] = []
        self.lock = threading.Lock()
        self.third_fetch = threading.Event()

    def fetch(self, criteria: Any, position: Any, store_code: str) -> Page:
        request: SearchCriteria = criteria(position, self.page_size)
        after = position[1].last_id
        with self.lock:
            self.fetched.append(after)
            if len(self.fetched) == 3:
                self.third_fetch.set()
        assert request.page_size == 3
        ids = [i for i in range(after + 1, 10)][:3]
        return Page([{"id": i} for i in ids], total_count=9 - after, requested=3)

    def write(self, work: Any) -> None:
        work(None)

    def write_page(self, conn: Any, store: Any, run_id: int, page: Page, interval: Any) -> None:
        ids = page.ids()
        if ids[0] == 1:
            self.writing_first.set()
            assert self.release.wait(WAIT)
        self.committed.append(ids)

    def save_checkpoint(self, conn: Any, store_code: str, value: dict[str, Any]) -> None:
        pass


def tools_of(writer: SlowWriter) -> ProductTools:
    """What the full pass is handed, made of ``writer``'s fakes."""

    def unused(*args: Any) -> Any:
        raise AssertionError("not used by a full pass")

    return ProductTools(
        db=writer,  # type: ignore[arg-type]
        fetch=writer.fetch,
        fetch_ids=unused,
        count=unused,
        write_page=writer.write_page,
        save_checkpoint=writer.save_checkpoint,
        now=unused,
        page_size=lambda: writer.page_size,
        stop_event=threading.Event(),
        observer=Observer(),
    )


def started(writer: SlowWriter, ranges: RangeSet, workers: int = 1) -> threading.Thread:
    """A full pass over ``ranges`` with ``writer`` running on a thread of its own."""
    full = FullPass(tools_of(writer), StoreStats("default", "full"), 1, ranges, workers=workers)
    runner = threading.Thread(target=full.run, name="accs-sync-test-pass")
    runner.start()
    return runner


def test_the_next_page_is_fetched_while_the_previous_one_is_written_and_no_further() -> None:
    writer = SlowWriter()
    ranges = RangeSet([IdRange(committed=0, end=None)], page_size=3)
    runner = started(writer, ranges)
    try:
        assert writer.writing_first.wait(WAIT)
        # While page 1 is being committed, page 2 is fetched (read-ahead) ...
        deadline = threading.Event()
        for _ in range(100):
            with writer.lock:
                if len(writer.fetched) >= 2:
                    break
            deadline.wait(0.05)
        with writer.lock:
            assert writer.fetched[:2] == [0, 3]
        # ... but not page 3: at most two pages of a range are uncommitted.
        assert not writer.third_fetch.wait(0.3)
    finally:
        writer.release.set()
        runner.join(WAIT)
    assert not runner.is_alive()
    assert writer.committed == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert writer.fetched == [0, 3, 6]
    assert ranges.finished


class BlockedWriter(SlowWriter):
    """Two ranges of ids 1..30 and 101..130, pages of 3; no commit until ``release``."""

    def fetch(self, criteria: Any, position: Any, store_code: str) -> Page:
        walk, at = position
        top = 30 if walk.upper_id == 100 else 130
        ids = [i for i in range(at.last_id + 1, top + 1)][:3]
        with self.lock:
            self.fetched.append(at.last_id)
        return Page([{"id": i} for i in ids], total_count=top - at.last_id, requested=3)

    def write_page(self, conn: Any, store: Any, run_id: int, page: Page, interval: Any) -> None:
        self.writing_first.set()
        assert self.release.wait(WAIT)
        self.committed.append(page.ids())


def test_pages_fetched_and_not_yet_committed_are_at_most_one_more_than_the_workers() -> None:
    writer = BlockedWriter()
    ranges = RangeSet([IdRange(committed=0, end=100), IdRange(committed=100, end=None)], 3)
    runner = started(writer, ranges, workers=2)
    try:
        assert writer.writing_first.wait(WAIT)
        threading.Event().wait(0.5)  # time for the workers to fetch all they may
        with writer.lock:
            held = len(writer.fetched)
        # One page being written, one waiting in the queue, one fetched ahead: memory stays
        # at workers + 1 decoded pages however slow the writer is.
        assert held == 3
    finally:
        writer.release.set()
        runner.join(WAIT)
    assert not runner.is_alive() and ranges.finished
    assert sorted(i for ids in writer.committed for i in ids) == [*range(1, 31), *range(101, 131)]


class HeldSecondFetch(SlowWriter):
    """Ids 1..6 in pages of 3; the second fetch waits for ``release``; pages are weakly kept."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: list[weakref.ref[Page]] = []
        self.first_written = threading.Event()

    def fetch(self, criteria: Any, position: Any, store_code: str) -> Page:
        after = position[1].last_id
        if after:
            assert self.release.wait(WAIT)
        ids = list(range(after + 1, 7))[:3]
        page = Page([{"id": i} for i in ids], total_count=6 - after, requested=3)
        self.pages.append(weakref.ref(page))
        return page

    def write_page(self, conn: Any, store: Any, run_id: int, page: Page, interval: Any) -> None:
        self.committed.append(page.ids())
        self.first_written.set()


def test_a_written_page_is_not_kept_while_the_next_one_is_awaited() -> None:
    writer = HeldSecondFetch()
    ranges = RangeSet([IdRange(committed=0, end=None)], page_size=3)
    runner = started(writer, ranges)
    try:
        assert writer.first_written.wait(WAIT)
        for _ in range(100):  # the writer goes back to waiting for the next page
            gc.collect()
            if writer.pages[0]() is None:
                break
            threading.Event().wait(0.05)
        assert writer.pages[0]() is None  # nobody holds the written page
    finally:
        writer.release.set()
        runner.join(WAIT)
    assert writer.committed == [[1, 2, 3], [4, 5, 6]]

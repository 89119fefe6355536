"""The worker pool with fake fetches and commits: one writer, bounded memory, resume positions,
first error stops all, stop requests, the grace period, read-ahead, no thread left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sync import workers
from sync.api.criteria import Filter, SearchCriteria
from sync.api.paging import Page
from sync.errors import FatalApiError, Interrupted
from sync.keyranges import walk_id_ranges
from sync.partitions import id_range_set
from sync.ranges import IdRange, Step
from sync.resources import CATEGORIES
from sync.workers import Fetched, FixedUnits, run_pool


def pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("accs-sync-test-")]


class Book:
    """Units named by letters, each ``pages`` pages long; records what happened, in order."""

    def __init__(self, pages: int = 3, fetch_delay: float = 0.0) -> None:
        self.pages = pages
        self.fetch_delay = fetch_delay
        self.lock = threading.Lock()
        self.events: list[tuple[str, str, int]] = []
        self.committed: list[tuple[str, int, Any]] = []
        self.writers: set[str] = set()
        self.outstanding = 0  # fetched, not yet committed
        self.most_outstanding = 0
        self.fail_fetch: tuple[str, int] | None = None
        self.fail_commit: tuple[str, int] | None = None

    def walk(self, unit: str) -> Iterator[Fetched[str, int]]:
        for n in range(1, self.pages + 1):
            with self.lock:
                self.events.append(("fetch", unit, n))
            time.sleep(self.fetch_delay)
            if self.fail_fetch == (unit, n):
                raise FatalApiError(f"ACCS answered 400 for {unit}{n}")
            with self.lock:
                self.outstanding += 1
                self.most_outstanding = max(self.most_outstanding, self.outstanding)
            yield Fetched(unit, n, n if n < self.pages else None)

    def commit(self, fetched: Fetched[str, int]) -> None:
        with self.lock:
            self.writers.add(threading.current_thread().name)
            self.events.append(("commit", fetched.unit, fetched.page))
        if self.fail_commit == (fetched.unit, fetched.page):
            raise RuntimeError("database said no")
        with self.lock:
            self.committed.append((fetched.unit, fetched.page, fetched.position))
            self.outstanding -= 1


def test_every_page_is_committed_on_the_calling_thread_in_unit_order() -> None:
    book = Book(pages=4, fetch_delay=0.005)
    run_pool("test", FixedUnits("abc"), book.walk, book.commit, workers=3)
    assert book.writers == {threading.current_thread().name}
    for unit in "abc":
        assert [p for u, p, _ in book.committed if u == unit] == [1, 2, 3, 4]
    assert not pool_threads()


def test_positions_handed_to_commit_are_where_each_unit_resumes() -> None:
    book = Book(pages=3)
    run_pool("test", FixedUnits("ab"), book.walk, book.commit, workers=2)
    for unit in "ab":
        assert [(p, pos) for u, p, pos in book.committed if u == unit] == [
            (1, 1),
            (2, 2),
            (3, None),
        ]


@pytest.mark.parametrize(("read_ahead", "most"), [(False, 2), (True, 2 + 2)])
def test_memory_is_bounded_to_a_page_per_worker(read_ahead: bool, most: int) -> None:
    book = Book(pages=6)
    slow_commit = book.commit

    def commit(fetched: Fetched[str, int]) -> None:
        time.sleep(0.01)  # a slow writer: fetchers would run ahead if nothing held them
        slow_commit(fetched)

    run_pool("test", FixedUnits("abcd"), book.walk, commit, workers=2, read_ahead=read_ahead)
    assert len(book.committed) == 24
    # Two workers: a page each fetched and not committed (read-ahead: one more each).
    assert book.most_outstanding <= most


def test_one_worker_reads_one_page_ahead_of_the_writer() -> None:
    book = Book(pages=3)
    second_fetched = threading.Event()
    inner = book.walk

    def walk(unit: str) -> Iterator[Fetched[str, int]]:
        for fetched in inner(unit):
            if fetched.page == 2:
                second_fetched.set()
            yield fetched

    def commit(fetched: Fetched[str, int]) -> None:
        if fetched.page == 1:
            # The second request goes out while the first page is written.
            assert second_fetched.wait(5)
        book.commit(fetched)

    run_pool("test", FixedUnits("a"), walk, commit, workers=1, read_ahead=True)
    events = book.events
    assert events.index(("fetch", "a", 2)) < events.index(("commit", "a", 2))
    # ...but never more than one page ahead: page 3 is asked for once page 2 is being written.
    assert events.index(("commit", "a", 2)) < events.index(("fetch", "a", 3))
    assert [p for _, p, _ in book.committed] == [1, 2, 3]


def test_without_read_ahead_a_worker_asks_for_a_page_once_its_last_is_committed() -> None:
    book = Book(pages=3)
    run_pool("test", FixedUnits("a"), book.walk, book.commit, workers=1)
    assert book.events == [(kind, "a", n) for n in (1, 2, 3) for kind in ("fetch", "commit")]


def test_no_workers_pages_on_the_calling_thread_one_page_at_a_time() -> None:
    book = Book(pages=3)
    run_pool("test", FixedUnits("ab"), book.walk, book.commit, workers=0)
    assert book.events == [
        (kind, unit, n) for unit in "ab" for n in (1, 2, 3) for kind in ("fetch", "commit")
    ]


def test_the_first_fetch_error_stops_all_and_fetched_pages_are_still_committed() -> None:
    book = Book(pages=50, fetch_delay=0.002)
    book.fail_fetch = ("a", 3)
    with pytest.raises(FatalApiError, match="a3"):
        run_pool("test", FixedUnits("abc"), book.walk, book.commit, workers=3)
    assert ("a", 1, 1) in book.committed and ("a", 2, 2) in book.committed
    # The others stopped after their current request, far from their end.
    for unit in "bc":
        fetched = [n for kind, u, n in book.events if kind == "fetch" and u == unit]
        assert max(fetched) < 20
    # Every page that was fetched was committed.
    assert book.outstanding == 0
    assert not pool_threads()


def test_a_commit_error_stops_all_and_nothing_is_written_after_it() -> None:
    book = Book(pages=50, fetch_delay=0.002)
    book.fail_commit = ("b", 2)
    with pytest.raises(RuntimeError, match="database said no"):
        run_pool("test", FixedUnits("abc"), book.walk, book.commit, workers=3)
    failed_at = book.events.index(("commit", "b", 2))
    assert all(kind != "commit" for kind, _, _ in book.events[failed_at + 1 :])
    # Unit b never goes past the page that failed.
    assert ("fetch", "b", 4) not in book.events
    assert not pool_threads()


def test_a_stop_request_interrupts_after_the_current_requests() -> None:
    book = Book(pages=1000, fetch_delay=0.002)
    stop = threading.Event()

    def commit(fetched: Fetched[str, int]) -> None:
        book.commit(fetched)
        if fetched.page == 5:
            stop.set()

    with pytest.raises(Interrupted, match="stop requested"):
        run_pool("test", FixedUnits("ab"), book.walk, commit, workers=2, stop_event=stop)
    assert len(book.committed) < 30
    assert book.outstanding == 0  # what was fetched is committed
    assert not pool_threads()


def test_a_stop_request_interrupts_the_inline_walk_too() -> None:
    book = Book(pages=10)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Interrupted):
        run_pool("test", FixedUnits("a"), book.walk, book.commit, workers=0, stop_event=stop)
    assert book.events == []


def test_the_writer_waits_only_the_grace_for_a_stuck_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    now = [0.0]

    def clock() -> float:  # every look at the clock is a minute later
        now[0] += 60.0
        return now[0]

    def walk(unit: str) -> Iterator[Fetched[str, int]]:
        if unit == "stuck":
            release.wait(30)
            raise FatalApiError("released")
        raise FatalApiError("ACCS answered 400: broken")
        yield Fetched(unit, 0, None)  # pragma: no cover - a generator that fails first

    monkeypatch.setattr(workers, "STOP_GRACE", 90.0)
    started = time.monotonic()
    try:
        with pytest.raises(FatalApiError, match="broken"):
            run_pool(
                "test",
                FixedUnits(["stuck", "fails"]),
                walk,
                lambda f: None,
                workers=2,
                monotonic=clock,
            )
        assert time.monotonic() - started < 5
    finally:
        release.set()
    for thread in pool_threads():
        thread.join(5)


def test_units_can_be_added_while_the_pool_runs() -> None:
    """A dynamic unit source (fullpass splits ranges): ``take`` may wait for new work."""

    class Growing:
        def __init__(self) -> None:
            self.cond = threading.Condition()
            self.todo = ["a"]
            self.running = 0
            self.aborted = False

        def take(self) -> str | None:
            with self.cond:
                while not self.aborted:
                    if self.todo:
                        self.running += 1
                        return self.todo.pop(0)
                    if not self.running:
                        return None
                    self.cond.wait(0.1)
                return None

        def finished(self, unit: str) -> None:
            with self.cond:
                self.running -= 1
                if unit == "a":
                    self.todo.append("b")  # work found while a ran: an idle worker takes it
                self.cond.notify_all()

        def release(self, unit: str) -> None:
            pass

        def abort(self) -> None:
            with self.cond:
                self.aborted = True
                self.cond.notify_all()

    units = Growing()
    book = Book(pages=2)

    def commit(fetched: Fetched[str, int]) -> None:
        book.commit(fetched)
        if fetched.position is None:
            units.finished(fetched.unit)

    run_pool("test", units, book.walk, commit, workers=2)
    assert [(u, p) for u, p, _ in book.committed] == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]


def test_log_context_reaches_the_workers() -> None:
    from sync.logcontext import current, log_context

    seen: list[Any] = []

    def walk(unit: str) -> Iterator[Fetched[str, int]]:
        seen.append(current())
        yield Fetched(unit, 1, None)

    with log_context(run_id=7):
        run_pool("test", FixedUnits("ab"), walk, lambda f: None, workers=2)
    assert len(seen) == 2 and all(c.get("run_id") == 7 for c in seen)


# -- a categories full pass over id ranges that split (issue 15) --------------------------------


class FakeCategories:
    """A categories list answering ``searchCriteria`` (``entity_id`` filters, ``updated_at``
    window), each request taking ``delay`` seconds; records every request's criteria."""

    def __init__(self, ids: list[int], delay: float = 0.0) -> None:
        self.items = [{"id": i, "name": f"C{i}", "updated_at": "2026-01-01 00:00:00"} for i in ids]
        self.delay = delay
        self.lock = threading.Lock()
        self.asked: list[SearchCriteria] = []

    def probe(self, criteria: SearchCriteria) -> Page:
        return self.request(criteria)

    def request(self, criteria: SearchCriteria) -> Page:
        with self.lock:
            self.asked.append(criteria)
        time.sleep(self.delay)
        found = [
            item
            for item in self.items
            if all(any(_match(item, f) for f in g) for g in criteria.groups)
        ]
        descending = criteria.sorts and criteria.sorts[0].direction == "DESC"
        found.sort(key=lambda item: item["id"], reverse=bool(descending))
        return Page(found[: criteria.page_size], len(found), criteria.page_size)


def _match(item: dict[str, Any], flt: Filter) -> bool:
    value = item["id"] if flt.field == "entity_id" else item[flt.field]
    wanted = int(flt.value) if flt.field == "entity_id" else flt.value
    return {"gt": value > wanted, "lteq": value <= wanted, "gteq": value >= wanted}[flt.condition]


def test_an_idle_worker_splits_a_running_categories_range() -> None:
    """Two workers over the categories' id space, cut evenly by the bounds probes: ids 1-5 and
    1000-1399, so the first range (1-699) is done after one page while the second still has
    most of its 400 ids ahead; the idle worker splits it and walks the upper part. Every
    category is committed once, each range's pages in id order, with the windowed filter."""
    ids = [*range(1, 6), *range(1000, 1400)]
    upstream = FakeCategories(ids, delay=0.01)
    ranges, total = id_range_set(CATEGORIES, upstream.probe, concurrency=2, page_size=10)
    assert total == len(ids)
    window = ((Filter("updated_at", "2025-01-01 00:00:00", "gteq"),),)
    committed: list[tuple[IdRange, list[int]]] = []  # the ranges held: their ids stay unique

    def request(rng: IdRange, criteria: Callable[[int], SearchCriteria]) -> Page:
        return upstream.request(criteria(10))

    def write(rng: IdRange, step: Step) -> None:
        committed.append((rng, [item["id"] for item in step.page.items]))

    walk_id_ranges("test", ranges, request, write, groups=window, workers=2)
    assert ranges.splits >= 1
    written = [i for _, page_ids in committed for i in page_ids]
    assert sorted(written) == ids  # once each
    for unit in {id(unit) for unit, _ in committed}:
        mine = [i for u, page_ids in committed if id(u) == unit for i in page_ids]
        assert mine == sorted(mine)
    pages = [c for c in upstream.asked if c.page_size == 10]
    assert all(window[0] in c.groups for c in pages)
    # The even cut is at 699; a split cuts the running range again: its lower part's requests
    # end at the new cut, where the upper part's first request starts.
    bounds = {int(f.value) for c in pages for g in c.groups for f in g if f.condition == "lteq"}
    starts = {int(f.value) for c in pages for g in c.groups for f in g if f.condition == "gt"}
    cuts = bounds - {699}
    assert cuts and cuts <= starts
    assert all(1009 < cut < 1399 for cut in cuts)
    assert ranges.finished

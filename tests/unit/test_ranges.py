"""Id ranges of a full pass: the initial cut, page intervals, checkpoints and splits."""

from __future__ import annotations

from typing import Any

import pytest

from sync.api.paging import Page
from sync.errors import InvalidResponse
from sync.ranges import IdRange, RangeSet, even_ranges


def page(ids: list[int], total: int, requested: int = 3) -> Page:
    items: list[Any] = [{"id": i, "sku": f"S{i}"} for i in ids]
    return Page(items=items, total_count=total, requested=requested)


def bounds(ranges: list[IdRange]) -> list[tuple[int, int | None]]:
    return [(r.committed, r.end) for r in ranges]


def test_even_ranges_cover_everything_from_the_start_to_no_upper_bound() -> None:
    assert bounds(even_ranges(1, 100, 4)) == [(0, 25), (25, 50), (50, 75), (75, None)]
    assert bounds(even_ranges(1001, 1004, 2)) == [(0, 1002), (1002, None)]
    assert bounds(even_ranges(None, None, 4)) == [(0, None)]  # an empty store
    assert bounds(even_ranges(5, 5, 4)) == [(0, None)]
    assert bounds(even_ranges(1, 100, 1)) == [(0, None)]
    # Fewer ids than ranges: no empty or repeated range.
    assert bounds(even_ranges(1, 3, 8)) == [(0, 1), (1, 2), (2, None)]


def test_a_page_covers_from_the_cursor_to_its_last_id_and_the_last_page_to_the_end() -> None:
    rng = IdRange(committed=10, end=40)
    ranges = RangeSet([rng], page_size=3)
    first = ranges.received(rng, page([12, 15, 19], total=5))
    assert first.interval == (10, 19) and first.following == 19
    last = ranges.received(rng, page([22, 30], total=2))
    assert last.interval == (19, 40) and last.following is None
    empty = RangeSet([IdRange(committed=0, end=None)], page_size=3)
    [only] = empty.checkpoint()
    step = empty.received(empty._ranges[0], page([], total=0))
    assert step.interval == (0, None) and step.following is None and only["upto"] is None


def test_checkpoints_hold_committed_positions_only() -> None:
    a, b = IdRange(committed=0, end=50), IdRange(committed=50, end=None)
    ranges = RangeSet([a, b], page_size=3)
    step = ranges.received(a, page([1, 2, 3], total=9))
    assert ranges.checkpoint() == [{"after": 0, "upto": 50}, {"after": 50, "upto": None}]
    assert ranges.checkpoint(after=(a, step))[0] == {"after": 3, "upto": 50}
    ranges.committed(a, step)
    done = ranges.received(b, page([60], total=1))
    assert ranges.checkpoint(after=(b, done)) == [{"after": 3, "upto": 50}]
    ranges.committed(b, done)
    assert len(ranges) == 1 and not ranges.finished


def test_a_checkpoint_of_an_older_version_is_one_unbounded_range() -> None:
    old = RangeSet.from_checkpoint({"last_id": 300, "high_water": None}, page_size=100)
    assert old.checkpoint() == [{"after": 300, "upto": None}]
    new = RangeSet.from_checkpoint(
        {"ranges": [{"after": 5, "upto": 9}, {"after": 20, "upto": None}]}, page_size=100
    )
    assert new.checkpoint() == [{"after": 5, "upto": 9}, {"after": 20, "upto": None}]


def test_a_page_that_does_not_move_on_still_raises() -> None:
    rng = IdRange(committed=10, end=None)
    ranges = RangeSet([rng], page_size=3)
    with pytest.raises(InvalidResponse):
        ranges.received(rng, page([4, 5, 6], total=50))


def test_an_idle_worker_splits_the_range_with_the_most_left() -> None:
    small = IdRange(committed=0, end=1000)
    big = IdRange(committed=1000, end=None)
    ranges = RangeSet([small, big], page_size=10, highest=101_000)
    assert ranges.take() is small and ranges.take() is big
    ranges.received(small, page(list(range(1, 11)), total=30, requested=10))
    ranges.received(big, page(list(range(1001, 1011)), total=1000, requested=10))
    upper = ranges.take()
    assert upper is not None and upper.busy
    assert big.end == upper.committed and upper.end is None  # the big one was cut
    # The lower part keeps its in-flight page and about half of the rest.
    assert 1010 < upper.committed < 101_000
    assert ranges.splits == 1
    assert [r["upto"] for r in ranges.checkpoint()] == [1000, upper.committed, None]


def test_a_page_on_its_way_during_a_split_is_cut_at_the_new_end() -> None:
    rng = IdRange(committed=0, end=None)
    ranges = RangeSet([rng], page_size=10, highest=100_000)
    assert ranges.take() is rng
    ranges.received(rng, page(list(range(1, 11)), total=100_000, requested=10))
    upper = ranges.take()
    assert upper is not None
    cut = upper.committed
    # The request for rng went out before the split: it carries ids past the new end.
    late = page([cut - 1, cut, cut + 1, cut + 2], total=99_990, requested=10)
    step = ranges.received(rng, late)
    assert [item["id"] for item in step.page.items] == [cut - 1, cut]
    assert step.interval == (10, cut) and step.following is None


def test_small_tails_are_not_split() -> None:
    rng = IdRange(committed=0, end=None)
    ranges = RangeSet([rng], page_size=10, highest=1_000)
    assert ranges.take() is rng
    ranges.received(rng, page(list(range(1, 11)), total=40, requested=10))  # 3 pages left
    ranges.abort()  # take() would wait for work otherwise
    assert ranges.take() is None
    assert ranges.splits == 0

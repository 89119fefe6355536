"""Concurrent entity-id ranges walked by the worker pool, for any pass keyed by ``entity_id``.

The products' full pass (:mod:`sync.fullpass`) and a full pass of a resource keyed by one
number (categories, :mod:`sync.engine`) cut the id space into ranges (:mod:`sync.ranges`) that
the workers of :mod:`sync.workers` walk side by side; an idle worker's ``take`` splits the
running range with the most left. The calling thread writes each page (``write(range, step)``,
one transaction, where a caller can also save the ranges' checkpoint), then the range's
committed position moves to the page's end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

from sync.api.criteria import Filter, SearchCriteria
from sync.api.paging import Page
from sync.ranges import IdRange, RangeSet, Step
from sync.workers import Fetched, run_pool

__all__ = ["walk_id_ranges", "walk_ranges"]


def walk_ranges(
    name: str,
    ranges: RangeSet,
    fetch: Callable[[IdRange], Page],
    write: Callable[[IdRange, Step], None],
    *,
    workers: int,
    read_ahead: bool = False,
    stop_event: threading.Event | None = None,
) -> None:
    """Walk every range of ``ranges`` with ``workers`` threads: ``fetch(range)`` asks for the
    range's next page (at :meth:`RangeSet.criteria_position`), ``write`` commits it here.
    Raises the first failure; committed pages and positions are kept. ``read_ahead``: each
    worker fetches its range's next page while the writer commits the previous one (at most
    two pages of a range uncommitted; see :func:`sync.workers.run_pool`)."""

    def pages(rng: IdRange) -> Iterator[Fetched[IdRange, Step]]:
        while True:
            step = ranges.received(rng, fetch(rng))
            last = step.following is None
            yield Fetched(rng, step, step.following)
            del step  # not kept while the next page is fetched
            if last:
                return

    def commit(fetched: Fetched[IdRange, Step]) -> None:
        write(fetched.unit, fetched.page)
        ranges.committed(fetched.unit, fetched.page)

    run_pool(
        name,
        ranges,
        pages,
        commit,
        workers=workers,
        read_ahead=read_ahead,
        stop_event=stop_event,
    )


def walk_id_ranges(
    name: str,
    ranges: RangeSet,
    request: Callable[[IdRange, Callable[[int], SearchCriteria]], Page],
    write: Callable[[IdRange, Step], None],
    *,
    groups: tuple[tuple[Filter, ...], ...] = (),
    workers: int,
    stop_event: threading.Event | None = None,
) -> None:
    """:func:`walk_ranges` for a resource keyed by ``entity_id`` other than products
    (categories, :mod:`sync.engine`): ``request(range, criteria)`` sends the range's next
    request (``criteria(page_size)``: the range's keyset position with ``groups``, a window,
    ANDed), with one page read ahead per worker, as the products' full pass does."""

    def fetch(rng: IdRange) -> Page:
        walk, position = ranges.criteria_position(rng)

        def criteria(size: int) -> SearchCriteria:
            base = walk.criteria(position, size)
            return replace(base, groups=base.groups + groups)

        return request(rng, criteria)

    walk_ranges(name, ranges, fetch, write, workers=workers, read_ahead=True, stop_event=stop_event)

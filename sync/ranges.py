"""Disjoint entity-id ranges of one full pass: who pages which, how far each got, and splits.

A full pass cuts the id space into ranges ``(after, upto]`` that workers walk by keyset at the
same time. Each range remembers two positions: ``cursor``, the last id *fetched* (where its next
request starts), and ``committed``, the last id whose page is in the database. Only committed
positions are checkpointed, so a killed pass resumes every range where its data stops, and
each range has at most two pages fetched but not yet committed (one being written, one
fetched ahead).

Every page a range receives covers an interval of ids: from the range's cursor (exclusive) to
the page's last id, or to the range's end when the page is its last. A mirrored row inside that
interval that the page did not carry is gone upstream (see :mod:`sync.fullpass`).

Catalogs have gaps and dense blocks, so an even cut by id leaves some ranges with most of the
work. When a worker has nothing left, :meth:`RangeSet.take` splits the running range with the
most products left (each page's ``total_count`` says exactly how many match the rest of its
range) at an id estimated to halve what follows its in-flight page. The range keeps the lower
part, the idle worker takes the upper part. A page already on its way for the lower part may
carry ids beyond the new end: :meth:`RangeSet.received` drops them (the upper range fetches
them) and, since the page then holds every id up to the new end, ends the lower range there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

from sync.api.paging import IdPosition, IdWalk, Page, PageMark

__all__ = ["IdRange", "RangeSet", "Step", "even_ranges"]

#: A running range is split only when more than this many pages are left after its in-flight
#: page: smaller tails finish sooner than a split would pay for itself in requests.
SPLIT_MIN_PAGES = 3


@dataclass
class IdRange:
    """Ids ``committed < id <= end`` still to be mirrored (``end`` None: no upper bound)."""

    committed: int
    end: int | None
    cursor: int = -1
    #: Products left after ``cursor`` according to the last page (None before the first).
    remaining: int | None = None
    previous: PageMark | None = field(default=None, repr=False)
    busy: bool = False
    done: bool = False

    def __post_init__(self) -> None:
        if self.cursor < 0:
            self.cursor = self.committed

    def to_json(self) -> dict[str, Any]:
        return {"after": self.committed, "upto": self.end}


@dataclass(frozen=True)
class Step:
    """What one received page means for its range."""

    page: Page
    #: The ids the page covers: ``(lo, hi]``, ``hi`` None for no upper bound.
    interval: tuple[int, int | None]
    #: The range's cursor after this page (its last id), or None when the range is finished.
    following: int | None


def even_ranges(lowest: int | None, highest: int | None, count: int) -> list[IdRange]:
    """``count`` ranges cutting ``[lowest, highest]`` evenly by id; the first starts at the
    beginning and the last has no upper bound (products created during the pass land there)."""
    if lowest is None or highest is None or count <= 1 or highest <= lowest:
        return [IdRange(committed=0, end=None)]
    span = highest - lowest + 1
    cuts = sorted({cut for i in range(1, count) if (cut := lowest - 1 + span * i // count) > 0})
    bounds: list[int | None] = [0, *cuts, None]
    return [IdRange(committed=a or 0, end=b) for a, b in pairwise(bounds)]


class RangeSet:
    """The ranges of one pass, shared by its workers and its writer (thread-safe)."""

    def __init__(self, ranges: list[IdRange], page_size: int, highest: int | None = None) -> None:
        self._ranges = [r for r in ranges if not r.done]
        self._page_size = page_size
        self._highest = highest
        self._cond = threading.Condition()
        self._aborted = False
        self.splits = 0

    # -- checkpoints ----------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, value: dict[str, Any], page_size: int) -> RangeSet:
        """The ranges a checkpoint left; one written by an older version (``last_id``) is one
        unbounded range."""
        raw = value.get("ranges")
        if raw is None:
            ranges = [IdRange(committed=int(value.get("last_id", 0)), end=None)]
        else:
            ranges = [
                IdRange(
                    committed=int(r["after"]), end=None if r["upto"] is None else int(r["upto"])
                )
                for r in raw
            ]
        return cls(ranges, page_size)

    def checkpoint(self, after: tuple[IdRange, Step] | None = None) -> list[dict[str, Any]]:
        """The unfinished ranges with their committed positions, as they will be once the
        page ``after`` (a range and its step) is committed too."""
        with self._cond:
            out = []
            for r in self._ranges:
                if after is not None and r is after[0]:
                    following = after[1].following
                    if following is None:
                        continue
                    r = replace(r, committed=following)
                out.append(r.to_json())
            return out

    # -- what the writer tells ------------------------------------------------------------------

    def committed(self, rng: IdRange, step: Step) -> None:
        """The page of ``step`` is in the database."""
        with self._cond:
            if step.following is None:
                rng.done = True
                self._ranges = [r for r in self._ranges if r is not rng]
            else:
                rng.committed = step.following
            self._cond.notify_all()

    def abort(self) -> None:
        """Stop handing out work (a worker or the writer failed, or a stop was requested)."""
        with self._cond:
            self._aborted = True
            self._cond.notify_all()

    @property
    def aborted(self) -> bool:
        return self._aborted

    @property
    def finished(self) -> bool:
        with self._cond:
            return not self._ranges

    def __len__(self) -> int:
        with self._cond:
            return len(self._ranges)

    # -- what the workers ask -------------------------------------------------------------------

    def set_highest(self, highest: int | None) -> None:
        with self._cond:
            self._highest = highest

    def take(self) -> IdRange | None:
        """A range to walk: an unassigned one, else the upper part of a split; waits while
        neither exists but ranges are still running; None when all work is handed out."""
        with self._cond:
            while not self._aborted:
                for r in self._ranges:
                    if not r.busy:
                        r.busy = True
                        return r
                if not self._ranges:
                    return None
                upper = self._split()
                if upper is not None:
                    return upper
                self._cond.wait(timeout=1.0)
            return None

    def release(self, rng: IdRange) -> None:
        """A worker stops walking ``rng`` without finishing it (it failed or was stopped)."""
        with self._cond:
            rng.busy = False
            self._cond.notify_all()

    def criteria_position(self, rng: IdRange) -> tuple[IdWalk, IdPosition]:
        """The walk and position of ``rng``'s next request."""
        with self._cond:
            return IdWalk(upper_id=rng.end), IdPosition(rng.cursor, rng.previous)

    def received(self, rng: IdRange, page: Page) -> Step:
        """Account for ``page``, fetched at ``rng``'s cursor. Raises
        :class:`~sync.errors.InvalidResponse` for a page that cannot be paged on."""
        with self._cond:
            end, start = rng.end, rng.cursor
            beyond = end is not None and any(pid > end for pid in page.ids())
            following: int | None
            if beyond:
                # Split while this page was on its way: it holds every id up to the new end.
                assert end is not None
                kept = [item for item in page.items if not _id_above(item, end)]
                page = Page(kept, page.total_count, page.requested)
                following = None
            else:
                position = IdWalk(upper_id=end).advance(IdPosition(start, rng.previous), page)
                following = None if position is None else position.last_id
                rng.previous = None if position is None else position.previous
            if following is None:
                rng.remaining = 0
                interval: tuple[int, int | None] = (start, end)
            else:
                rng.cursor = following
                rng.remaining = max(0, page.total_count - len(page.items))
                interval = (start, following)
            self._cond.notify_all()
            return Step(page=page, interval=interval, following=following)

    # -- splitting ------------------------------------------------------------------------------

    def _split(self) -> IdRange | None:
        """Split the running range with the most left after its next page (lock held)."""
        size = self._page_size
        best: IdRange | None = None
        best_left = SPLIT_MIN_PAGES * size
        for r in self._ranges:
            if r.busy and r.remaining is not None and r.remaining - size > best_left:
                best, best_left = r, r.remaining - size
        if best is None:
            return None
        top = best.end if best.end is not None else self._highest
        if top is None or top - best.cursor < 4:
            return None
        density = best.remaining / (top - best.cursor) if best.remaining else 0.0
        if density <= 0:
            return None
        # Keep the in-flight page and half of the rest in the lower part.
        cut = best.cursor + int((size + best_left / 2) / density)
        if not best.cursor < cut < top:
            return None
        upper = IdRange(committed=cut, end=best.end, busy=True)
        best.end = cut
        best.remaining = (best.remaining or 0) - int(best_left / 2)
        self._ranges.append(upper)
        self.splits += 1
        return upper


def _id_above(item: Any, end: int) -> bool:
    value = item.get("id") if isinstance(item, dict) else None
    return isinstance(value, int) and not isinstance(value, bool) and value > end

"""A full pass over one store view: id ranges fetched concurrently, written by one writer.

Workers (threads, ``SYNC_CONCURRENCY`` of them) each walk one id range by keyset over the one
shared session; the rate gate in :mod:`sync.api.limiter` decides when each request may go. The
calling thread is the only writer: it commits each page together with the checkpoint (every
range's committed position), so a killed pass resumes every range where its data stops. A
worker fetches its range's next page while its previous one is being committed, and hands it
over once that one is handled, so at most two pages per range are ever lost to a kill.

**Deletions inside the pass.** A keyset page covers the id interval from its range's cursor to
its last id (to the range's end for the range's last page). Mirrored rows in that interval that
the page did not carry are gone upstream, and are tombstoned in the page's own transaction; a
rejected item counts as present. So a full pass needs no separate id listing. A windowed pass
(``backfill --since/--until``) sees only part of each interval and never tombstones.

The threads, the single writer and what happens on a failure or a stop request are the worker
pool's (:mod:`sync.workers`): the ranges are its units (an idle worker's ``take`` may split a
running range), and each page is committed with the checkpoint of the positions it leaves.
The pass is resumable from its checkpoint whatever stops it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from sync.api.criteria import Filter, SearchCriteria
from sync.api.paging import IdPosition, IdWalk, Page
from sync.keyranges import walk_ranges
from sync.passtools import ProductTools
from sync.ranges import IdRange, RangeSet, Step
from sync.stats import StoreStats

__all__ = ["FullPass"]

log = logging.getLogger(__name__)


class FullPass:
    """Walk ``ranges`` with ``workers`` threads; write every page on the calling thread."""

    def __init__(
        self,
        tools: ProductTools,
        store: StoreStats,
        run_id: int,
        ranges: RangeSet,
        *,
        workers: int,
        filters: tuple[tuple[Filter, ...], ...] = (),
        tombstones: bool = True,
        checkpoint: dict[str, Any] | None = None,
    ) -> None:
        self.tools = tools
        self.store = store
        self.run_id = run_id
        self.ranges = ranges
        self.workers = max(1, workers)
        self.filters = filters
        self.tombstones = tombstones
        #: The checkpoint's other fields (high water, window), saved with every page.
        self.checkpoint_extra = checkpoint or {}

    def run(self) -> None:
        """Until every range is walked, or raise the first failure (committed work is kept)."""
        walk_ranges(
            self.store.store_code,
            self.ranges,
            self._fetch,
            self._write,
            workers=self.workers,
            read_ahead=True,
            stop_event=self.tools.stop_event,
        )

    # -- the writer (calling thread) --------------------------------------------------------------

    def _write(self, rng: IdRange, step: Step) -> None:
        """``step``'s page and the checkpoint it leaves, in one transaction."""
        tools, code = self.tools, self.store.store_code
        interval = step.interval if self.tombstones else None

        def write(conn: Connection) -> None:  # retried whole, the same page, after a fault
            tools.write_page(conn, self.store, self.run_id, step.page, interval)
            value = {"ranges": self.ranges.checkpoint(after=(rng, step))}
            tools.save_checkpoint(conn, code, {**value, **self.checkpoint_extra})

        tools.db.write(write)

    # -- the workers --------------------------------------------------------------------------

    def _fetch(self, rng: IdRange) -> Page:
        extra = self.filters

        def criteria(at: tuple[IdWalk, IdPosition], size: int) -> SearchCriteria:
            walk, position = at
            base = walk.criteria(position, size)
            return replace(base, groups=base.groups + extra)

        position = self.ranges.criteria_position(rng)
        return self.tools.fetch(criteria, position, self.store.store_code)

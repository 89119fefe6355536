"""The engine that mirrors any ``searchCriteria`` list resource described in
:mod:`sync.resources` (categories, inventory source items, ...) into its table; which pass runs
is :func:`sync.planner.plan`'s decision (``docs/engine.md`` tells the whole story).

* **full**: every item by keyset on the resource's key, each page written by
  :class:`~sync.resource_page.ResourcePageWriter` (only new, changed or revived rows) in its own
  transaction with the pass's checkpoint (:mod:`sync.resume`), so a killed pass resumes where
  its data stops. ``id_ranges`` partitions (categories) with ``SYNC_CONCURRENCY`` > 1 walk the
  products' id ranges (:mod:`sync.ranges`: a running range splits when a worker goes idle);
  ``first_key`` ones (source items) a walk per value of the key's first field. A numeric key is
  tombstoned page by page in each page's key interval; a text key is swept once a complete walk
  is over (a resumed pass: only the walks it read from their start). The watermark becomes the
  newest usable ``updated_at`` read *before* paging (H0). A windowed backfill neither
  tombstones nor moves the watermark.
* **incremental** (resources with an ``updated_at``): items with ``updated_at >=`` the
  watermark less the lookback, by keyset on the key. A walk in key order may not raise the
  watermark per page (its first page can hold the newest change, a later page an older one),
  so it keeps the newest usable ``updated_at`` it wrote and raises the watermark once the walk
  has read every page, capped at ACCS's clock when the walk began. Each page commits with the
  walk's checkpoint (``state.incremental_checkpoint``, :class:`~sync.resume.Progress`): an
  interrupted pass leaves the watermark where it was, and the next ``sync`` goes on after the
  last committed page with the same lower bound. A deletion leaves no ``updated_at``: the pass
  ends by comparing ACCS's ``total_count`` with the live rows and runs a full pass when they
  differ.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from sync.accs_time import format_accs_time, parse_accs_time
from sync.api.criteria import Filter, SearchCriteria
from sync.api.keyset import KeyPosition, KeysetWalk
from sync.api.paging import Page
from sync.db.runlog import start_pass
from sync.db.state import delete_state
from sync.keyranges import walk_id_ranges
from sync.observe import PartTotals
from sync.partitions import (
    Groups,
    Partition,
    full_parts,
    id_range_set,
    whole_walk,
)
from sync.passtools import PassTools
from sync.planner import NO_WINDOW, Kind, Plan, Window, describe, full, plan, shape_of
from sync.ranges import IdRange
from sync.ranges import Step as RangeStep
from sync.resource_page import Key, Ranged, ResourcePageWriter, Step
from sync.resource_state import live_rows, read_stored
from sync.resource_watermark import ResourceWatermark
from sync.resources import GLOBAL_STORE, Resource
from sync.resume import Progress, Resume
from sync.stats import ResourceStats
from sync.watermark import Distrusted
from sync.window import window_filters
from sync.workers import Fetched, FixedUnits, run_pool

__all__ = ["Lister", "Partition", "PassTools", "ResourcePass", "ResourceStats"]

log = logging.getLogger(__name__)


class Lister(Protocol):
    """What the engine needs from the ACCS client."""

    def list(self, path: str, criteria: SearchCriteria, store_code: str) -> Page: ...


class ResourcePass:
    """Mirror ``resource`` for one store view (``store_code``; ``request_store`` is the
    ``Store`` header sent, the first configured store view for a global resource)."""

    def __init__(
        self,
        resource: Resource,
        context: PassTools,
        lister: Lister,
        *,
        store_code: str,
        request_store: str,
        run_id: int,
        stats: ResourceStats,
    ) -> None:
        self.resource = resource
        self.context = context
        self.lister = lister
        self.store_code = store_code if resource.per_store else GLOBAL_STORE
        self.request_store = request_store
        self.run_id = run_id
        self.stats = stats
        #: Where a full pass keeps its checkpoint (:mod:`sync.resume`): the engine always does.
        self._checkpoint = resource.state.checkpoint or ""
        assert self._checkpoint, f"{resource.name} declares no checkpoint key"
        #: Where an interrupted incremental walk keeps its checkpoint ("": none is kept).
        self._progress = resource.state.incremental_checkpoint or ""
        #: The resource's watermark in this store view: H0, set, raised.
        self._watermark = ResourceWatermark(resource, context, self.store_code)
        #: Writes its pages with the checkpoints and the interval tombstones.
        self.writer = ResourcePageWriter(
            resource, context, store_code=store_code, run_id=run_id, stats=stats
        )
        #: ACCS's total_count of the pass, summed over its parts, for the progress display.
        self._totals = PartTotals(self._told_total)

    # -- the passes -------------------------------------------------------------------------------

    def run(self, kind: Kind = "sync", window: Window = NO_WINDOW) -> Plan:
        """The pass :func:`sync.planner.plan` chooses from what is stored: a full pass (resumed
        from a checkpoint when one is left), or an incremental one (which turns into a full
        one when counts differ). Returns the plan (``skip``: nothing was done); a pass over
        everything (not skipped, not windowed) is said to the observer and in one log line."""
        chosen = self._run(kind, window)
        if chosen.mode != "skip":
            self._finished(complete=not chosen.windowed)
        return chosen

    def _finished(self, *, complete: bool) -> None:
        stats = self.stats
        if complete:  # a windowed backfill saw only part of the resource
            self.context.observer.resource_finished(self.resource.name, stats.store_code)
        log.info(
            "%s %s: %s pass wrote %d rows (%d unchanged, %d deleted, %d rejected) in %d pages",
            self.resource.name,
            stats.store_code,
            stats.mode,
            stats.written,
            stats.unchanged,
            stats.deleted,
            stats.rejected,
            stats.pages,
        )

    def _run(self, kind: Kind, window: Window) -> Plan:
        stored = read_stored(self.resource, self.context, self.store_code, kind)
        chosen = plan(shape_of(self.resource), kind, window, stored)
        if chosen.mode == "skip":
            log.info("%s", chosen.reason)
            return chosen
        if chosen.discard or stored.progress_problem is not None:
            log.warning("%s: %s", self._what(), chosen.reason)
        elif chosen.mode != "resumed":  # a resumed pass says so when it starts
            log.debug("%s: %s", self._what(), chosen.reason)
        dropped = [
            key
            for key, drop in (
                (self._checkpoint, chosen.discard),
                (self._progress, chosen.drop_progress),
            )
            if drop and key
        ]
        if dropped:
            self.context.db.write(lambda conn: self._delete(conn, dropped))
        if chosen.mode not in ("incremental", "resumed_incremental"):
            self._full(chosen)
            return chosen
        resumed = chosen.start if chosen.mode == "resumed_incremental" else None
        self.stats.mode = "incremental" if resumed is None else "incremental (resumed)"
        self._started()
        try:
            self._incremental(stored.watermark, resumed)
        except Distrusted:
            self._full(full(shape_of(self.resource), NO_WINDOW, "the watermark is distrusted"))
            return chosen
        if self._counts_differ():
            log.info(
                "%s %s: ACCS's count differs from the mirror's; a full pass finds what is gone",
                self.resource.name,
                self.store_code,
            )
            again = full(shape_of(self.resource), NO_WINDOW, "counts differ")
            self._full(again, mode="incremental + full")
        return chosen

    def _started(self) -> None:
        self._totals = PartTotals(self._told_total)
        where = (self.run_id, self.resource.name, self.store_code, self.stats.mode)
        self.context.db.write(lambda conn: start_pass(conn, *where))
        self.context.observer.store_started(self.store_code, self.stats.mode, self.resource.name)

    def _told_total(self, total: int) -> None:
        self.context.observer.store_total(self.store_code, total, self.resource.name)

    def _full(self, chosen: Plan, mode: str | None = None) -> None:
        """A full pass as ``chosen`` says: from the beginning or from its checkpoint, over its
        window; every page commits with the checkpoint; once complete the checkpoint goes, what
        was not seen is swept (text keys) and the watermark set."""
        resume: Resume | None = chosen.start if chosen.mode == "resumed" else None
        window = chosen.window
        if mode is None:
            mode = "full" if not chosen.windowed else f"full {describe(window)}"
            mode += " (resumed)" if resume is not None else ""
        self.stats.mode = mode
        self._started()
        groups = window_filters(self.resource.incremental, window)
        if resume is not None:
            high_water = resume.high_water
            log.info("%s: %s (%d walks left)", self._what(), chosen.reason, len(resume.walks))
        else:
            high_water = self._watermark.newest(self._probe) if chosen.moves_watermark else None
        writer = self.writer
        writer.covers = (high_water, window)
        writer.intervals = chosen.tombstones == "interval"
        seen: set[Key] | None = set() if chosen.tombstones == "sweep" else None
        parts: list[Partition] = []
        try:
            concurrency = self.context.concurrency
            if concurrency > 1 and self.resource.partitions == "id_ranges":
                keyed = self._walk_ranges(resume, groups, seen)
            else:
                walks = None if resume is None else resume.walks
                parts = full_parts(self.resource, self._probe, concurrency, groups, walks)
                self._totals.expect(len(parts))  # each part's first page tells its own
                writer.positions = {part.value: part.start for part in parts}
                writer.lower = {part.value: part.lower for part in parts}
                if len(parts) == 1:
                    only = parts[0]
                    keyed = self._walk_pages(only.walk, seen, start=only.start, unit=only.value)
                else:
                    keyed = self._walk_partitions(parts, seen)
        finally:
            writer.positions, writer.ranges, writer.intervals = None, None, False
        if seen is not None and not keyed:
            log.warning(
                "%s %s: a rejected item has no key; deletions wait for the next full pass",
                self.resource.name,
                self.store_code,
            )

        # A resumed pass saw only the walks it read from their start: the whole key (None),
        # or these values of its first field.
        whole = {part.value for part in parts if part.start.after is None}
        swept = None if resume is None or None in whole else whole

        def complete(conn: Connection) -> int:
            # Setting the watermark supersedes an interrupted incremental walk.
            self._delete(conn, [self._checkpoint, self._progress if chosen.moves_watermark else ""])
            deleted = 0
            if seen is not None and keyed:
                deleted = writer.tombstones.sweep(conn, seen, swept)
            if chosen.moves_watermark:
                self._watermark.set(conn, high_water)
            return deleted

        self.stats.deleted += self.context.db.write(complete)

    def _walk_ranges(self, resume: Resume | None, groups: Groups, seen: set[Key] | None) -> bool:
        """A full pass over the products' id ranges (:mod:`sync.ranges`: they split when a
        worker goes idle), each page committed here with their checkpoint and its id interval.
        Returns whether every item had a key."""
        walks, workers = None if resume is None else resume.walks, self.context.concurrency
        size = self.context.page_size()
        ranges, total = id_range_set(self.resource, self._probe, workers, size, walks)
        if resume is None:
            self._totals.add(total)  # the bounds probe's unfiltered count: the whole pass
        else:  # what is left: each resumed range's first page tells its own
            self._totals.expect(len(ranges))
        self.writer.ranges, first = ranges, {(w.lower, w.partition) for w in walks or ()}
        path, store = self.resource.path, self.request_store

        def request(rng: IdRange, criteria: Callable[[int], SearchCriteria]) -> Page:
            at = (rng.cursor, rng.end)
            page = self.context.fetch_with(
                lambda size: self.lister.list(path, criteria(size), store)
            )
            if at in first:
                first.discard(at)
                self._totals.add(page.total_count)
            return page

        keyed = True

        def write(rng: IdRange, step: RangeStep) -> None:
            nonlocal keyed
            keyed &= self.writer.commit(step.page, seen, Ranged(rng, step))

        name, stop = self.resource.name, self.context.stop_event
        walk_id_ranges(
            name, ranges, request, write, groups=groups, workers=workers, stop_event=stop
        )
        return keyed

    def _what(self) -> str:
        return f"{self.resource.name} {self.store_code}"

    def _delete(self, conn: Connection, keys: list[str]) -> None:
        for key in keys:
            if key:
                delete_state(conn, self.store_code, key)

    def _incremental(self, watermark: dict[str, Any], resumed: Progress | None) -> None:
        """The walk from ``watermark`` less the lookback, or on from ``resumed`` (its lower bound,
        position, clock and what it wrote); each page commits with the walk's checkpoint, and
        once complete the checkpoint goes and the watermark is raised, in one transaction."""
        field = self.resource.incremental
        assert field is not None
        if resumed is None:
            lookback = timedelta(seconds=self.context.lookback_seconds)
            since = format_accs_time(parse_accs_time(str(watermark["updated_at"])) - lookback)
            progress = Progress(KeyPosition(), since)
        else:
            progress, after = resumed, resumed.position.after
            log.info("%s: resuming the incremental pass after %s", self._what(), after)
        walk = whole_walk(self.resource, ((Filter(field, progress.since, "gteq"),),))

        def trusted(page: Page) -> None:
            self._watermark.trust(watermark, progress, page.server_time)

        self.writer.progress = progress
        try:
            self._walk_pages(walk, None, trusted, start=progress.position)
        finally:
            self.writer.progress = None
        # Complete: every change stamped before the walk began has been read.
        self.context.db.write(lambda conn: self._watermark.walked(conn, progress))

    def _walk_pages(
        self,
        walk: KeysetWalk,
        seen: set[Key] | None,
        first: Callable[[Page], None] | None = None,
        start: KeyPosition | None = None,
        unit: Any = None,
    ) -> bool:
        """Fetch and write every page of ``walk`` after ``start`` (the beginning by default),
        the next page fetched while one is written by the pool's one worker (``first`` sees
        the first page before anything is written, and may raise); ``unit``: the walk's
        :attr:`Partition.value`.
        Returns whether every item had a key, so a sweep can trust ``seen``."""
        only = Partition(unit, walk, start or KeyPosition())
        return self._pool([only], 1, seen, first, read_ahead=True)

    def _probe(self, criteria: SearchCriteria) -> Page:
        """One request with fixed ``criteria`` (a one-item probe)."""
        path, store = self.resource.path, self.request_store
        return self.context.fetch_with(lambda size: self.lister.list(path, criteria, store))

    def _walk_partitions(self, walks: list[Partition], seen: set[Key] | None) -> bool:
        """Walk ``walks``, each from its start, with up to ``SYNC_CONCURRENCY`` workers of the
        pool (:mod:`sync.workers`); this thread is the only writer."""
        return self._pool(walks, min(self.context.concurrency, len(walks)), seen)

    def _pool(
        self,
        walks: list[Partition],
        workers: int,
        seen: set[Key] | None,
        first: Callable[[Page], None] | None = None,
        *,
        read_ahead: bool = False,
    ) -> bool:
        """Every page of ``walks`` fetched by ``workers`` threads and committed here, each
        with where it was fetched and where its walk goes on (the checkpoint, the key
        interval it covers); whether every item had a key."""
        keyed = True
        checked = first is None

        def commit(fetched: Fetched[Partition, Page]) -> None:
            nonlocal keyed, checked
            if not checked and first is not None:
                first(fetched.page)
                checked = True
            keyed &= self.writer.commit(fetched.page, seen, fetched.position)

        def pages(part: Partition) -> Iterator[Fetched[Partition, Page]]:
            position: KeyPosition | None = part.start
            while position is not None:
                page = self._fetch(part.walk, position)
                following = part.walk.advance(position, page)
                yield Fetched(part, page, Step(part.value, position, following))
                position = following

        run_pool(
            self.resource.name,
            FixedUnits(walks),
            pages,
            commit,
            workers=workers,
            read_ahead=read_ahead,
            stop_event=self.context.stop_event,
        )
        return keyed

    def _fetch(self, walk: KeysetWalk, position: KeyPosition) -> Page:
        path, store = self.resource.path, self.request_store
        page = self.context.fetch_with(
            lambda size: self.lister.list(path, walk.criteria(position, size), store)
        )
        if position.after is None:  # a walk's first page: ACCS's count of all it covers
            self._totals.add(page.total_count)
        return page

    def _counts_differ(self) -> bool:
        page = self._probe(SearchCriteria(page_size=1))
        return live_rows(self.resource, self.context, self.store_code) != page.total_count

    # -- a pass over given keys (sync.keyspass) ---------------------------------------------------

    def write_matching(self, groups: tuple[tuple[Filter, ...], ...], seen: set[Key]) -> bool:
        """Write every item that matches ``groups`` (``sku in (...)``): one keyset walk, each
        page in its own transaction; the keys carried go into ``seen``. Returns whether every
        item had a key (else ``seen`` cannot tell what is gone)."""
        return self._walk_pages(whole_walk(self.resource, groups), seen)

    def sweep_within(self, seen: set[Key], live: Callable[[Connection], Iterable[Key]]) -> int:
        """Tombstone the live rows ``live`` lists (read in the same transaction) that ``seen``
        lacks: the rows of the keys a complete :meth:`write_matching` asked for. Returns how
        many."""
        deleted: int = self.context.db.write(
            lambda conn: self.writer.tombstones.sweep(conn, seen, live=live(conn))
        )
        self.stats.deleted += deleted
        return deleted

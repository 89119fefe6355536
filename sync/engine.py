"""The engine that mirrors any ``searchCriteria`` list resource described in
:mod:`sync.resources` (categories, inventory source items, ...) into its table.

One pass over one resource (and store view, for per-store resources):

* **full**: every item by keyset on the resource's key (:class:`~sync.api.keyset.KeysetWalk`),
  each page compared with the mirror by content hash, only new, changed or revived rows written
  (their child rows replaced, :class:`~sync.resources.ChildTable`), each write logged in
  ``catalog_changes``, all in the page's own transaction together with the
  pass's checkpoint (:mod:`sync.resume`: id ranges for a key of one number, as the products'
  full pass keeps, else each unfinished walk's last committed key), so a killed pass resumes
  where its data stops; the checkpoint is deleted when the pass completes.
  Deletions: a key of one number (categories) is tombstoned page by page, the live rows of the
  page's key interval (after the key the page was fetched after, up to the key its walk goes on
  after, or to the end) that the page did not carry (``deleted_at`` and a ``delete`` in the
  change log; a rejected item counts as present). A text key (source items) is ordered by the
  store's collation, so keys seen are remembered instead and, once a complete walk is over, live
  rows whose key was not seen are tombstoned; a resumed pass did not see the keys committed
  before it, so it sweeps only the walks it read from their start (a source not begun). A
  resource with an incremental field sets its watermark to the newest usable ``updated_at``
  read *before* paging (H0, kept in the checkpoint), lowering it if need be, so a change made
  while the pass ran is picked up by the next incremental run.
  A windowed backfill (``--since/--until`` on the incremental field) neither tombstones nor
  moves the watermark. Which pass runs is :func:`sync.planner.plan`'s decision.
* **incremental** (resources with an ``updated_at``): items with ``updated_at >=`` the
  watermark less the lookback, by keyset on the key; the watermark moves once, when the walk is
  complete, never page by page (see below). A deletion leaves no ``updated_at``, so the pass
  ends by comparing ACCS's ``total_count`` with the live rows (one tiny request) and runs a full
  pass when they differ.

A walk in key order may not raise the watermark per page, as the products' walk by
(``updated_at``, id) does: its first page can hold the newest change and a later page an older
one. So an incremental pass keeps the newest usable ``updated_at`` it wrote and stores it
(raising the watermark, never lowering it) only once the walk has read every page, capped at
ACCS's clock when the walk began (``docs/engine.md``, "When the watermark moves"). Each page
commits with the walk's checkpoint (``state.incremental_checkpoint``: its position, lower bound,
clock and newest ``updated_at`` written, :class:`~sync.resume.Progress`): an interrupted pass
leaves the watermark where it was, and the next ``sync`` goes on after the last committed page
with the same lower bound. The watermark's rules are the products'
(:mod:`sync.resource_watermark`, :mod:`sync.watermark`).

A resource without an incremental field (source items) runs a full pass every time: reading is
the cost, writing is only what changed. With ``SYNC_CONCURRENCY`` > 1 a key of two fields is read
one value of its first field per worker (source items: a worker per source), written by one
writer; each of these partitions keeps its own position in the checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection

from sync.accs_time import format_accs_time, parse_accs_time
from sync.api.criteria import Filter, SearchCriteria
from sync.api.keyset import KeyPosition, KeysetWalk
from sync.api.paging import Page
from sync.db.runlog import start_pass
from sync.db.state import delete_state
from sync.observe import PartTotals
from sync.partitions import Partition, first_key_values, id_ranges, partition, whole_walk
from sync.passtools import PassTools
from sync.planner import NO_WINDOW, Kind, Plan, Window, describe, full, plan, shape_of
from sync.resource_page import Key, ResourcePageWriter, Step
from sync.resource_state import read_stored
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
        #: Writes its pages with the checkpoint and the interval tombstones; knows the newest
        #: ``updated_at`` an incremental pass wrote (the watermark once the walk is complete).
        #: Where a full pass keeps its checkpoint (:mod:`sync.resume`): the engine always does.
        self._checkpoint = resource.state.checkpoint or ""
        assert self._checkpoint, f"{resource.name} declares no checkpoint key"
        #: Where an interrupted incremental walk keeps its checkpoint ("": none is kept).
        self._progress = resource.state.incremental_checkpoint or ""
        #: The resource's watermark in this store view: H0, set, raised.
        self._watermark = ResourceWatermark(resource, context, self.store_code)
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
            parts = [
                partition(self.resource, w.partition, groups, w.position, w.lower)
                for w in resume.walks
            ]
            log.info("%s: %s (%d walks left)", self._what(), chosen.reason, len(parts))
        else:
            high_water = self._watermark.newest(self._probe) if chosen.moves_watermark else None
            concurrency, declared = self.context.concurrency, self.resource.partitions
            if concurrency > 1 and declared == "id_ranges":
                parts, total = id_ranges(self.resource, self._probe, concurrency, groups)
                self._totals.add(total)  # the bounds probe's unfiltered count: the whole pass
            else:
                values = None
                if concurrency > 1 and declared == "first_key":
                    values = first_key_values(self.resource, self._probe)
                parts = [partition(self.resource, value, groups) for value in values or [None]]
                self._totals.expect(len(parts))  # each part's first page tells its own
        writer = self.writer
        writer.positions = {part.value: part.start for part in parts}
        writer.lower = {part.value: part.lower for part in parts}
        writer.covers = (high_water, window)
        writer.intervals = chosen.tombstones == "interval"
        seen: set[Key] | None = set() if chosen.tombstones == "sweep" else None
        try:
            if len(parts) == 1:
                only = parts[0]
                keyed = self._walk_pages(only.walk, seen, start=only.start, unit=only.value)
            else:
                keyed = self._walk_partitions(parts, seen)
        finally:
            writer.positions, writer.intervals = None, False
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
            self._delete(
                conn,
                [self._checkpoint, self._progress]
                if chosen.moves_watermark
                else [self._checkpoint],
            )
            deleted = 0
            if seen is not None and keyed:
                deleted = writer.tombstones.sweep(conn, seen, swept)
            if chosen.moves_watermark:
                self._watermark.set(conn, high_water)
            return deleted

        self.stats.deleted += self.context.db.write(complete)

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
            progress = resumed
            log.info(
                "%s: resuming the incremental pass after %s", self._what(), progress.position.after
            )
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
        the first page before
        anything is written, and may raise); ``unit``: the walk's :attr:`Partition.value`.
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
        table = self.resource.table
        query = sa.select(sa.func.count()).select_from(table).where(table.c.deleted_at.is_(None))
        if self.resource.per_store:
            query = query.where(table.c.store_code == self.store_code)
        live = int(self.context.db.read(lambda conn: conn.execute(query).scalar_one()))
        return live != page.total_count

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

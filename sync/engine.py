"""The engine that mirrors any ``searchCriteria`` list resource described in
:mod:`sync.resources` (categories, inventory source items, ...) into its table.

One pass over one resource (and store view, for per-store resources):

* **full**: every item by keyset on the resource's key (:class:`~sync.api.keyset.KeysetWalk`),
  each page compared with the mirror by content hash, only new, changed or revived rows written
  (their child rows replaced, :class:`~sync.resources.ChildTable`), each write logged in
  ``catalog_changes``, all in the page's own transaction (:mod:`sync.resource_page`). Keys seen
  (rejected items included) are remembered; once the walk is complete, live rows whose key was
  not seen are tombstoned (``deleted_at`` and a ``delete`` in the change log). A resource with
  an incremental field sets its watermark to the newest usable ``updated_at`` read *before*
  paging (H0), lowering it if need be, so a change made while the pass ran is picked up by the
  next incremental run.
* **incremental** (resources with an ``updated_at``): items with ``updated_at >=`` the
  watermark less the lookback, by keyset on the key; the watermark moves once, when the walk is
  complete, never page by page (see below). A deletion leaves no ``updated_at``, so the pass
  ends by comparing ACCS's ``total_count`` with the live rows (one tiny request) and runs a full
  pass when they differ.

A walk sorted by (``updated_at``, key) may raise the watermark per page (the products'
:class:`~sync.api.paging.ChangesWalk` does: every change older than a committed page's newest
``updated_at`` is in that page or an earlier one); a walk in key order may not: its first page
can hold the newest change and a later page an older one. So an incremental pass here keeps the
newest usable ``updated_at`` it wrote in memory and stores it (raising the watermark, never
lowering it) only once the walk has read every page, capped at ACCS's clock when the walk
began (this machine's when ACCS sends no ``Date``): a row changed while the walk ran, behind
its position, is older than a row changed later ahead of it. An interrupted pass leaves the
watermark where it was: the next run reads the same changes again, and rows already written are
unchanged by content hash, so not rewritten.
Ordering the walk by (``updated_at``, key) instead would need a second walk shape for every
resource and trust in how the store sorts and filters its timestamps; moving the watermark at
the end is the smaller change and keeps one walk per resource.

Watermarks follow the products' rules (:mod:`sync.watermark`): only an ``updated_at`` in ACCS's
exact format and no later than ACCS's ``Date`` plus five minutes becomes one (a category stamped
later is mirrored and named in one warning per run); H0 skips unusable values with a second,
filtered probe; a stored watermark that is unusable is reported and replaced by a full pass.

A resource without an incremental field (source items) runs a full pass every time: reading is
the cost, writing is only what changed. With ``SYNC_CONCURRENCY`` > 1 a key of two fields is read
one value of its first field per worker (source items: a worker per source), written by one
writer. An interrupted pass keeps every committed page and
starts over at the next run (passes over these resources are short, so no checkpoint is kept).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection

from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.keyset import KeyPosition, KeysetWalk
from sync.api.paging import Page
from sync.db.runlog import start_pass
from sync.db.state import delete_state, get_raw_state, get_state, set_state
from sync.keyranges import walk_ranges
from sync.models import format_accs_time, parse_accs_time
from sync.observe import PartTotals
from sync.partitions import first_key_walks, id_bounds
from sync.passtools import PassTools
from sync.ranges import IdRange, RangeSet, Step, even_ranges
from sync.resource_page import Key, ResourcePageWriter
from sync.resources import GLOBAL_STORE, Resource
from sync.stats import ResourceStats
from sync.watermark import Distrusted
from sync.workers import Fetched, FixedUnits, run_pool, walk_pages

__all__ = ["Lister", "PassTools", "ResourcePass", "ResourceStats"]

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
        #: Writes its pages and sweeps; knows the newest ``updated_at`` an incremental pass
        #: wrote (the watermark once the walk is complete, see the module docstring).
        self.writer = ResourcePageWriter(
            resource, context, store_code=store_code, run_id=run_id, stats=stats
        )
        #: ACCS's total_count of the pass, summed over its parts, for the progress display.
        self._totals = PartTotals(self._told_total)

    # -- the passes -------------------------------------------------------------------------------

    def run(self, full: bool) -> None:
        """A full pass when asked, when the resource has no incremental field or no watermark
        yet; else an incremental pass (which turns into a full one when counts differ)."""
        self._run(full)
        self._finished()

    def _run(self, full: bool) -> None:
        watermark = None
        if self.resource.incremental is not None and not full:
            key = self.resource.state.watermark
            raw = self.context.db.read(lambda conn: get_raw_state(conn, self.store_code, key))
            watermark = self.context.stamps.stored(self._what(), raw)
        if watermark is None:
            self._full()
            return
        self.stats.mode = "incremental"
        self._started()
        try:
            self._incremental(watermark)
        except Distrusted:
            self._full()
            return
        if self._counts_differ():
            log.info(
                "%s %s: ACCS's count differs from the mirror's; a full pass finds what is gone",
                self.resource.name,
                self.store_code,
            )
            self._full(mode="incremental + full")

    def _finished(self) -> None:
        """A complete pass: said to the observer and in one log line."""
        stats = self.stats
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

    def _started(self) -> None:
        self._totals = PartTotals(self._told_total)
        where = (self.run_id, self.resource.name, self.store_code, self.stats.mode)
        self.context.db.write(lambda conn: start_pass(conn, *where))
        self.context.observer.store_started(self.store_code, self.stats.mode, self.resource.name)

    def _full(self, mode: str = "full") -> None:
        self.stats.mode = mode
        self._started()
        high_water = self._newest() if self.resource.incremental else None
        seen: set[Key] = set()
        partitions = self._partitions()
        if self._by_id_ranges():
            keyed = self._walk_id_ranges(seen)
        elif partitions is None:
            keyed = self._walk_pages(self._walk(()), seen)
        else:
            keyed = self._walk_partitions(partitions, seen)
        if not keyed:
            log.warning(
                "%s %s: a rejected item has no key; deletions wait for the next full pass",
                self.resource.name,
                self.store_code,
            )

        def complete(conn: Connection) -> int:
            deleted = self.writer.sweep(conn, seen) if keyed else 0
            if self.resource.incremental:
                self._set_watermark(conn, high_water)
            return deleted

        self.stats.deleted += self.context.db.write(complete)

    def _what(self) -> str:
        return f"{self.resource.name} {self.store_code}"

    def _told_total(self, total: int) -> None:
        self.context.observer.store_total(self.store_code, total, self.resource.name)

    def _incremental(self, watermark: dict[str, Any]) -> None:
        stored = str(watermark["updated_at"])
        start = parse_accs_time(stored) - timedelta(seconds=self.context.lookback_seconds)
        field = self.resource.incremental
        assert field is not None
        walk = self._walk(((Filter(field, format_accs_time(start), "gteq"),),))
        began: list[str] = []

        def trusted(page: Page) -> None:
            """The stored watermark, judged against ACCS's clock on the first page."""
            limit = self.context.stamps.limit(page.server_time)
            problem = self.context.stamps.problem(watermark, limit)
            if problem is not None:
                self.context.stamps.report(self._what(), watermark["updated_at"], problem)
                raise Distrusted
            began.append(format_accs_time(limit - self.context.stamps.skew))

        self.writer.written_high = None
        self._walk_pages(walk, None, trusted)
        # Complete: every change stamped before the walk began has been read.
        high = self.writer.written_high
        if high is not None:
            candidate = min(high, began[0])
            self.context.db.write(lambda conn: self._raise_watermark(conn, candidate))

    def _walk(self, groups: tuple[tuple[Filter, ...], ...]) -> KeysetWalk:
        return KeysetWalk(
            fields=[key.filter for key in self.resource.keys],
            key_of=self.resource.key_of,
            groups=groups,
        )

    def _walk_pages(
        self,
        walk: KeysetWalk,
        seen: set[Key] | None,
        first: Callable[[Page], None] | None = None,
    ) -> bool:
        """Fetch and write every page of ``walk``, the next page fetched while one is written
        (``first`` sees the first page before anything is written, and may raise).
        Returns whether every item had a key, so a sweep can trust ``seen``."""
        return self._pool([walk], 1, seen, first, read_ahead=True)

    # -- concurrency: one walk per value of the key's first field ------------------------------

    def _partitions(self) -> list[KeysetWalk] | None:
        """``first_key`` partitions and ``SYNC_CONCURRENCY`` > 1: one walk per value of the
        key's first field (:func:`sync.partitions.first_key_walks`); else None (walk it whole)."""
        if self.resource.partitions != "first_key" or self.context.concurrency < 2:
            return None
        return first_key_walks(self.resource, self._probe)

    # -- concurrency: entity-id ranges that split when a worker goes idle ------------------------

    def _by_id_ranges(self) -> bool:
        """``id_ranges`` partitions (one numeric key: categories) and ``SYNC_CONCURRENCY`` > 1:
        a full pass walks concurrent id ranges, as the products' does."""
        return self.context.concurrency > 1 and self.resource.partitions == "id_ranges"

    def _walk_id_ranges(self, seen: set[Key]) -> bool:
        """Every page of the id space cut into ``SYNC_CONCURRENCY`` ranges (split when a worker
        goes idle; :mod:`sync.keyranges`), committed here; whether every item had a key."""
        probes: list[Page] = []

        def probe(criteria: SearchCriteria) -> Page:
            probes.append(self._probe(criteria))
            return probes[-1]

        lowest, highest = id_bounds(self.resource, probe)
        # Unfiltered: its total_count is what the whole pass covers (the progress bar's total).
        self._totals.add(probes[-1].total_count)
        concurrency = self.context.concurrency
        ranges = RangeSet(
            even_ranges(lowest, highest, concurrency), self.context.page_size(), highest
        )
        path, store = self.resource.path, self.request_store
        keyed = True

        def fetch(rng: IdRange) -> Page:
            walk, position = ranges.criteria_position(rng)
            return self.context.fetch_with(
                lambda size: self.lister.list(path, walk.criteria(position, size), store)
            )

        def write(rng: IdRange, step: Step) -> None:
            nonlocal keyed
            keyed &= self.writer.commit(step.page, seen)

        walk_ranges(
            self.resource.name,
            ranges,
            fetch,
            write,
            workers=concurrency,
            stop_event=self.context.stop_event,
        )
        return keyed

    def _probe(self, criteria: SearchCriteria) -> Page:
        """One request with fixed ``criteria`` (a one-item probe)."""
        path, store = self.resource.path, self.request_store
        return self.context.fetch_with(lambda size: self.lister.list(path, criteria, store))

    def _walk_partitions(self, walks: list[KeysetWalk], seen: set[Key]) -> bool:
        """Walk ``walks`` with up to ``SYNC_CONCURRENCY`` workers of the pool
        (:mod:`sync.workers`); this thread is the only writer."""
        self._totals.expect(len(walks))
        return self._pool(walks, min(self.context.concurrency, len(walks)), seen)

    def _pool(
        self,
        walks: list[KeysetWalk],
        workers: int,
        seen: set[Key] | None,
        first: Callable[[Page], None] | None = None,
        *,
        read_ahead: bool = False,
    ) -> bool:
        """Every page of ``walks`` fetched by ``workers`` threads and committed here, each
        with the walk's position after it; whether every item had a key."""
        keyed = True
        checked = first is None

        def commit(fetched: Fetched[KeysetWalk, Page]) -> None:
            nonlocal keyed, checked
            if not checked and first is not None:
                first(fetched.page)
                checked = True
            keyed &= self.writer.commit(fetched.page, seen)

        def pages(walk: KeysetWalk) -> Iterator[Fetched[KeysetWalk, Page]]:
            return walk_pages(walk, walk, KeyPosition(), self._fetch)

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

    def _newest(self) -> str | None:
        """The newest usable ``updated_at`` upstream right now (before paging: a change made
        while we page is newer than this); see :meth:`sync.watermark.Stamps.high_water`."""
        field = self.resource.incremental
        assert field is not None
        sorts = (Sort(field, "DESC"), *(Sort(k.filter, "DESC") for k in self.resource.keys))
        page = self._probe(SearchCriteria(sorts=sorts, page_size=1))
        newest = None
        for item in page.items:
            stamp = item.get(field) if isinstance(item, dict) else None
            if isinstance(stamp, str) and stamp:
                newest = stamp
                break

        def below(condition: Filter, size: int) -> Page:
            return self._probe(SearchCriteria(groups=((condition,),), sorts=sorts, page_size=size))

        return self.context.stamps.high_water(newest, page.server_time, below, field, self._what())

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
        return self._walk_pages(self._walk(groups), seen)

    def sweep_within(self, seen: set[Key], live: Callable[[Connection], Iterable[Key]]) -> int:
        """Tombstone the live rows ``live`` lists (read in the same transaction) that ``seen``
        lacks: the rows of the keys a complete :meth:`write_matching` asked for. Returns how
        many."""
        deleted: int = self.context.db.write(lambda conn: self.writer.sweep(conn, seen, live(conn)))
        self.stats.deleted += deleted
        return deleted

    # -- the watermark ---------------------------------------------------------------------------

    def _set_watermark(self, conn: Connection, high_water: str | None) -> None:
        """A complete full pass: the watermark becomes its H0, even when that lowers it (a
        value from the future stored before must not outlive the pass); none without one."""
        key = self.resource.state.watermark
        if high_water is None:
            delete_state(conn, self.store_code, key)
        else:
            set_state(conn, self.store_code, key, {"updated_at": high_water}, self.context.now())

    def _raise_watermark(self, conn: Connection, candidate: str) -> None:
        key = self.resource.state.watermark
        current = get_state(conn, self.store_code, key)
        if current is not None and str(current.get("updated_at", "")) >= candidate:
            return
        set_state(conn, self.store_code, key, {"updated_at": candidate}, self.context.now())

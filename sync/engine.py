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
writer; each of these partitions keeps its own position in the checkpoint.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection

from sync import jsontext
from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.keyset import KeyPosition, KeysetWalk
from sync.api.paging import Page
from sync.db.changes import chunks, log_catalog_changes
from sync.db.children import delete_children, replace_children
from sync.db.dialect import upsert_rows
from sync.db.rejects import clear_resource_rejects, payload_text, record_resource_rejects
from sync.db.retry import after_commit
from sync.db.runlog import count_deleted, count_page, start_pass
from sync.db.schema import naive_utc
from sync.db.state import delete_state, get_raw_state, get_state, set_state
from sync.models import ItemRejected, format_accs_time, parse_accs_time
from sync.models import cleaned as _cleaned
from sync.observe import PageReport, PartTotals
from sync.passtools import PassTools
from sync.planner import NO_WINDOW, Kind, Plan, Stored, Window, describe, full, plan, shape_of
from sync.ranges import even_ranges
from sync.redact import escape_control
from sync.resources import GLOBAL_STORE, Resource
from sync.resume import CheckpointError, Resume, Walked, load, save
from sync.stats import ResourceStats
from sync.watermark import Distrusted
from sync.workers import Fetched, FixedUnits, run_pool

__all__ = ["Lister", "Partition", "PassTools", "ResourcePass", "ResourceStats"]

log = logging.getLogger(__name__)

Key = tuple[Any, ...]
INSERT, UPDATE, DELETE = "insert", "update", "delete"
#: More values than this in a key's first field (sources) and the pass walks the key as a whole.
MAX_PARTITIONS = 64


class Lister(Protocol):
    """What the engine needs from the ACCS client."""

    def list(self, path: str, criteria: SearchCriteria, store_code: str) -> Page: ...


def watermark_key(resource: Resource) -> str:
    return f"{resource.name}:watermark"


def checkpoint_key(resource: Resource) -> str:
    """Where a full pass over ``resource`` keeps its checkpoint (:mod:`sync.resume`)."""
    return f"{resource.name}:checkpoint"


@dataclass(frozen=True)
class Partition:
    """One walk of a pass, starting after ``start`` (a resumed pass: its checkpoint's).
    ``value``: the value of the key's first field it is confined to (source items per source;
    None: the key walked as a whole); for a key of one number, the end of its id range
    (``id <= value``; None: no end) and ``lower`` its start (``id > lower``)."""

    value: Any
    walk: KeysetWalk
    start: KeyPosition = field(default_factory=KeyPosition)
    lower: int = 0


@dataclass(frozen=True)
class _Step:
    """Where a page was fetched (``before``) and where its walk goes next (``following``,
    None at the end), in its partition."""

    partition: Any
    before: KeyPosition
    following: KeyPosition | None


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
        #: The newest usable ``updated_at`` written by this incremental pass's committed pages:
        #: the watermark once the walk is complete (see the module docstring).
        self._written_high: str | None = None
        #: A full pass's committed position per partition (:attr:`Partition.value`), in the
        #: order they are checkpointed; None while no checkpoint is kept (incremental passes).
        self._positions: dict[Any, KeyPosition] | None = None
        #: Where each id range starts (a key of one number: :attr:`Partition.lower`).
        self._lower: dict[Any, int] = {}
        #: A key of one number: checkpoints are id ranges, pages tombstone their interval.
        self._numeric = shape_of(resource).numeric_key
        #: What the checkpoint says besides positions: the pass's high water and window.
        self._covers: tuple[str | None, Window] = (None, NO_WINDOW)
        #: Each page tombstones what its key interval no longer holds (numeric keys).
        self._intervals = False
        #: ACCS's total_count of the pass, summed over its parts, for the progress display.
        self._totals = PartTotals(self._told_total)

    # -- the passes -------------------------------------------------------------------------------

    def run(self, kind: Kind = "sync", window: Window = NO_WINDOW) -> Plan:
        """The pass :func:`sync.planner.plan` chooses from what is stored: a full pass (resumed
        from a checkpoint when one is left), or an incremental one (which turns into a full
        one when counts differ). Returns the plan (``skip``: nothing was done)."""
        chosen = plan(shape_of(self.resource), kind, window, self._stored_state(kind))
        if chosen.mode == "skip":
            log.info("%s", chosen.reason)
            return chosen
        if chosen.discard:
            log.warning("%s: %s", self._what(), chosen.reason)
            self.context.db.write(
                lambda conn: delete_state(conn, self.store_code, checkpoint_key(self.resource))
            )
        elif chosen.mode != "resumed":  # a resumed pass says so when it starts
            log.debug("%s: %s", self._what(), chosen.reason)
        if chosen.mode != "incremental":
            self._full(chosen)
            return chosen
        self.stats.mode = "incremental"
        self._started()
        try:
            self._incremental(chosen.start)
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

    def _stored_state(self, kind: Kind) -> Stored:
        """What ``sync_state`` holds for this pass, judged: the checkpoint parsed (or what is
        wrong with it), the watermark judged when an incremental pass could use it."""
        key = checkpoint_key(self.resource)
        raw = self.context.db.read(lambda conn: get_raw_state(conn, self.store_code, key))
        resume, problem = None, None
        if raw is not None:
            try:
                resume = load(raw, self.resource.keys)
            except CheckpointError as exc:
                problem = str(exc)
        watermark, unusable = None, False
        if kind == "sync" and self.resource.incremental is not None and resume is None:
            key = watermark_key(self.resource)
            stored = self.context.db.read(lambda conn: get_raw_state(conn, self.store_code, key))
            watermark = self.context.stamps.stored(self._what(), stored)
            unusable = stored is not None and watermark is None
        return Stored(
            watermark=watermark,
            watermark_unusable=unusable,
            checkpoint=resume,
            checkpoint_window=None if resume is None else resume.window,
            checkpoint_problem=problem,
        )

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
        groups = self._window_groups(window)
        if resume is not None:
            high_water = resume.high_water
            parts = [
                self._partition(w.partition, groups, w.position, w.lower) for w in resume.walks
            ]
            log.info("%s: %s (%d walks left)", self._what(), chosen.reason, len(parts))
        else:
            high_water = self._newest() if chosen.moves_watermark else None
            if self._by_id_ranges():
                parts = self._id_ranges(groups)  # its bounds probe tells the total
            else:
                values = self._partitions()
                parts = [self._partition(value, groups) for value in values or [None]]
                self._totals.expect(len(parts))  # each part's first page tells its own
        self._positions = {part.value: part.start for part in parts}
        self._lower = {part.value: part.lower for part in parts}
        self._covers = (high_water, window)
        self._intervals = chosen.tombstones == "interval"
        seen: set[Key] | None = set() if chosen.tombstones == "sweep" else None
        try:
            if len(parts) == 1:
                only = parts[0]
                keyed = self._walk_pages(only.walk, seen, start=only.start, unit=only.value)
            else:
                keyed = self._walk_partitions(parts, seen)
        finally:
            self._positions, self._intervals = None, False
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
            delete_state(conn, self.store_code, checkpoint_key(self.resource))
            deleted = self._sweep(conn, seen, swept) if seen is not None and keyed else 0
            if chosen.moves_watermark:
                self._set_watermark(conn, high_water)
            return deleted

        self.stats.deleted += self.context.db.write(complete)

    def _window_groups(self, window: Window) -> tuple[tuple[Filter, ...], ...]:
        """``since <= field < until`` on the resource's incremental field."""
        field = self.resource.incremental
        bounds = ((window.get("since"), "gteq"), (window.get("until"), "lt"))
        return tuple(
            (Filter(field, value, condition),)
            for value, condition in bounds
            if value is not None and field is not None
        )

    def _what(self) -> str:
        return f"{self.resource.name} {self.store_code}"

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

        self._written_high = None
        self._walk_pages(walk, None, trusted)
        # Complete: every change stamped before the walk began has been read.
        high = self._written_high
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

    # -- concurrency: one walk per value of the key's first field ------------------------------

    def _partitions(self) -> list[Any] | None:
        """For a key of two fields (source items: ``source_code`` + ``sku``) and
        ``SYNC_CONCURRENCY`` > 1: the values of the first field, found with one-item requests
        (``first > previous``, sorted), each walked on the second field within it. None
        (walk the key as a whole) otherwise, or when there are more than
        :data:`MAX_PARTITIONS` values."""
        keys = self.resource.keys
        if len(keys) != 2 or self.context.concurrency < 2:
            return None
        first = keys[0]
        values: list[Any] = []
        while len(values) <= MAX_PARTITIONS:
            groups = ((Filter(first.filter, str(values[-1]), "gt"),),) if values else ()
            criteria = SearchCriteria(
                groups=groups,
                sorts=(Sort(first.filter, "ASC"),),
                page_size=1,
                fields=f"items[{first.item}],total_count",
            )
            page = self._probe(criteria)
            if not page.items:
                break
            value = first.read(page.items[0]) if isinstance(page.items[0], dict) else None
            if value is None or value in values:
                return None  # unreadable, or the store ignored the filter: walk it whole
            values.append(value)
        if len(values) > MAX_PARTITIONS:
            return None
        return values

    def _partition(
        self,
        value: Any,
        groups: tuple[tuple[Filter, ...], ...] = (),
        start: KeyPosition | None = None,
        lower: int = 0,
    ) -> Partition:
        """The walk of partition ``value`` (:attr:`Partition.value`) with ``groups`` ANDed to
        every request, from ``start``."""
        start = start or KeyPosition()
        if self._numeric:
            key = self.resource.keys[0]
            bound = () if value is None else ((Filter(key.filter, str(value), "lteq"),),)
            return Partition(value, self._walk((*groups, *bound)), start, lower)
        if value is None:
            return Partition(None, self._walk(groups), start)
        first, second = self.resource.keys

        def key_of(item: Any) -> Key | None:
            part = second.read(item) if isinstance(item, dict) else None
            return None if part is None else (part,)

        walk = KeysetWalk(
            fields=[second.filter],
            key_of=key_of,
            groups=((Filter(first.filter, str(value), "eq"),), *groups),
        )
        return Partition(value, walk, start)

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
            keyed &= self._commit(fetched.page, seen, fetched.position)

        def pages(part: Partition) -> Iterator[Fetched[Partition, Page]]:
            position: KeyPosition | None = part.start
            while position is not None:
                page = self._fetch(part.walk, position)
                following = part.walk.advance(position, page)
                yield Fetched(part, page, _Step(part.value, position, following))
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

    # -- concurrency: entity-id ranges ----------------------------------------------------------

    def _by_id_ranges(self) -> bool:
        """A key of one number read as ``entity_id`` (categories) and ``SYNC_CONCURRENCY`` > 1:
        a full pass walks concurrent id ranges, each checkpointed as the products' are."""
        keys = self.resource.keys
        return (
            self.context.concurrency > 1
            and len(keys) == 1
            and keys[0].numeric
            and (keys[0].filter, keys[0].item) == ("entity_id", "id")
        )

    def _id_bounds(self) -> tuple[int | None, int | None]:
        """The lowest and highest id upstream (two one-item requests)."""
        key = self.resource.keys[0]
        bounds: list[int | None] = []
        total = -1
        for direction in ("ASC", "DESC"):
            criteria = SearchCriteria(
                sorts=(Sort(key.filter, direction),),
                page_size=1,
                fields=f"items[{key.item}],total_count",
            )
            page = self._probe(criteria)
            value = (
                key.read(page.items[0]) if page.items and isinstance(page.items[0], dict) else None
            )
            bounds.append(value if isinstance(value, int) else None)
            total = page.total_count
        # Unfiltered: its total_count is what the whole pass covers (the progress bar's total).
        self._totals.add(total)
        return bounds[0], bounds[1]

    def _id_ranges(self, groups: tuple[tuple[Filter, ...], ...]) -> list[Partition]:
        """The id space cut evenly into ``SYNC_CONCURRENCY`` ranges (the last one open-ended:
        an entity created during the pass lands there), one partition each."""
        lowest, highest = self._id_bounds()
        ranges = even_ranges(lowest, highest, self.context.concurrency)
        parts = []
        for rng in ranges:
            start = KeyPosition((rng.committed,), "next") if rng.committed else KeyPosition()
            parts.append(self._partition(rng.end, groups, start, rng.committed))
        return parts

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
        deleted: int = self.context.db.write(lambda conn: self._sweep(conn, seen, live=live(conn)))
        self.stats.deleted += deleted
        return deleted

    # -- one page ---------------------------------------------------------------------------------

    def _commit(self, page: Page, seen: set[Key] | None, step: _Step) -> bool:
        """Write ``page`` (fetched at ``step``) in a transaction of its own (retried whole, the
        same page, after a lost connection or a deadlock). Returns whether every item had a
        key."""
        keyed = self.context.db.write(lambda conn: self._write_page(conn, page, seen, step))
        if self._positions is not None:  # committed: the partition's next page starts here
            if step.following is None:
                self._positions.pop(step.partition, None)
            else:
                self._positions[step.partition] = step.following
        return keyed

    def _write_page(self, conn: Connection, page: Page, seen: set[Key] | None, step: _Step) -> bool:
        """Validate ``page`` and write what changed, in ``conn``'s transaction, with what a
        full pass keeps in it: the tombstones of the page's key interval (numeric keys) and
        the checkpoint as it stands once the page is in. Returns whether every item had a
        key."""
        resource, now = self.resource, self.context.now()
        limit = self.context.stamps.limit(page.server_time)
        if resource.incremental:
            self.context.stamps.future(
                page.items,
                resource.incremental,
                limit,
                resource=resource.name,
                scope=self.store_code,
                name=self._item_name,
            )
        hashed: dict[Key, tuple[dict[str, Any], str, bool]] = {}
        rejects: list[tuple[str | None, str, str]] = []
        unhashable: dict[Key, tuple[str | None, str, str]] = {}
        keyed = True
        for item in page.items:
            key = resource.key_of(item)
            if key is None:
                keyed = False
                reason = f"item has no usable {resource.describe_key()} (the mirror's key)"
                rejects.append((None, reason, payload_text(item)))
                continue
            # A repeated key in one page: the last one wins, whether it is written or rejected.
            try:
                hashed[key] = _cleaned(item, self.context.max_item_bytes, page.plain)
                unhashable.pop(key, None)
            except ItemRejected as exc:  # too big, or JSON text cannot hold it
                hashed.pop(key, None)
                unhashable[key] = (resource.key_text(key), exc.reason, payload_text(item))
        rejects.extend(unhashable.values())
        if seen is not None:
            seen.update(unhashable)  # a rejected item is still present upstream
        stored = self._stored(conn, list(hashed))
        rows: list[tuple[Any, ...]] = []
        changes: list[tuple[Key, str]] = []
        families: list[tuple[Key, list[list[dict[str, Any]]]]] = []  # child rows by row
        report = {"inserted": 0, "updated": 0, "revived": 0, "unchanged": 0}
        high = None
        for key, (item, digest, plain) in hashed.items():
            row = stored.get(key)
            if row is not None and row.deleted_at is None and row.content_hash == digest:
                report["unchanged"] += 1
                continue
            try:
                values = resource.parse(item)
            except ItemRejected as exc:
                rejects.append((resource.key_text(key), exc.reason, payload_text(item)))
                continue
            op = INSERT if row is None or row.deleted_at is not None else UPDATE
            report["inserted" if row is None else "revived" if op == INSERT else "updated"] += 1
            data = jsontext.plain_compact(item) if plain else jsontext.compact(item)
            rows.append(self._row(key, values, data, digest, now))
            changes.append((key, op))
            families.append((key, [child.rows(item) for child in resource.children]))
            stamp = values.get("updated_at") if resource.incremental else None
            if stamp is not None and stamp <= limit and (high is None or stamp > high):
                high = stamp
        written = [resource.key_text(key) for key, _ in changes]
        if rows:
            self._upsert(conn, rows)
            self._write_children(conn, families)
            ops = [(text, op) for text, (_, op) in zip(written, changes, strict=True)]
            log_catalog_changes(conn, resource.name, self.store_code, ops, now, self.run_id)
            clear_resource_rejects(conn, resource.name, self.store_code, written)
        if seen is not None:
            seen.update(hashed)
        if rejects:
            for key_text, reason, _ in rejects:
                log.warning(
                    "%s %s: rejected item %s: %s",
                    resource.name,
                    self.store_code,
                    escape_control(key_text) if key_text else "(no key)",
                    reason,
                )
            record_resource_rejects(conn, resource.name, self.store_code, rejects, self.run_id, now)
        if self._intervals:
            present = {*hashed, *unhashable} if keyed else None
            report["deleted"] = self._tombstone_interval(conn, step, present)
        if self._positions is not None:
            self._save_checkpoint(conn, step)
        count_page(
            conn,
            self.run_id,
            resource.name,
            self.store_code,
            self.stats.mode,
            written=report["inserted"] + report["updated"] + report["revived"],
            unchanged=report["unchanged"],
            deleted=report.get("deleted", 0),
            rejected=len(rejects),
        )
        if high is not None and self.stats.mode == "incremental":
            after_commit(functools.partial(self._wrote_stamp, format_accs_time(high)))
        after_commit(functools.partial(self._counted, len(page.items), len(rejects), report))
        return keyed

    def _save_checkpoint(self, conn: Connection, step: _Step) -> None:
        """The checkpoint as it will be once the page of ``step`` is committed (its partition
        moved on, or gone when finished), in ``conn``'s transaction."""
        assert self._positions is not None
        positions = dict(self._positions)
        if step.following is None:
            positions.pop(step.partition, None)
        else:
            positions[step.partition] = step.following
        walks = [Walked(key, at, self._lower.get(key, 0)) for key, at in positions.items()]
        value = save(walks, *self._covers, ranges=self._numeric)
        set_state(conn, self.store_code, checkpoint_key(self.resource), value, self.context.now())

    def _tombstone_interval(self, conn: Connection, step: _Step, present: set[Key] | None) -> int:
        """Tombstone the live rows whose key lies in the page's interval, after the key it
        was fetched after (its id range's start for a first page) and up to the key its walk
        goes on after (its range's end, or the end, for a last page), that the page did not
        carry (``present``: its keys, rejected items included; None when an item had no key,
        so nothing can be told gone). Returns how many."""
        lower = step.before.after[0] if step.before.after is not None else None
        if lower is None:
            lower = self._lower.get(step.partition) or None
        upper = step.partition  # the range's end
        if step.following is not None:
            if step.following.after is None:
                return 0  # no key bounds the interval (not for a walk of one numeric field)
            upper = step.following.after[0]
        if present is None:
            log.warning(
                "%s: a rejected item in keys (%s, %s] has no key; deletions in that interval "
                "wait for the next full pass",
                self._what(),
                "start" if lower is None else lower,
                "end" if upper is None else upper,
            )
            return 0
        table = self.resource.table
        column = table.c[self.resource.keys[0].column]
        query = sa.select(column).where(table.c.deleted_at.is_(None))
        if self.resource.per_store:
            query = query.where(table.c.store_code == self.store_code)
        if lower is not None:
            query = query.where(column > lower)
        if upper is not None:
            query = query.where(column <= upper)
        gone = [key for key in ((row[0],) for row in conn.execute(query)) if key not in present]
        return self._tombstone(conn, gone)

    def _wrote_stamp(self, stamp: str) -> None:
        """A committed incremental page wrote rows up to ``stamp`` (a usable ``updated_at``)."""
        if self._written_high is None or stamp > self._written_high:
            self._written_high = stamp

    def _counted(self, items: int, rejected: int, report: dict[str, int]) -> None:
        """A committed page in the run's counters and metrics (once, a retried page too)."""
        self.stats.pages += 1
        self.stats.deleted += report.get("deleted", 0)
        self.stats.written += report["inserted"] + report["updated"] + report["revived"]
        self.stats.unchanged += report["unchanged"]
        self.stats.rejected += rejected
        self.context.observer.page_written(
            self.store_code,
            PageReport(items=items, rejected=rejected, resource=self.resource.name, **report),
        )

    def _scope(self) -> dict[str, str]:
        return {"store_code": self.store_code} if self.resource.per_store else {}

    def _key_names(self) -> list[str]:
        return [k.column for k in self.resource.keys]

    def _write_children(
        self, conn: Connection, families: list[tuple[Key, list[list[dict[str, Any]]]]]
    ) -> None:
        """Each written row's child rows, replaced whole (:class:`~sync.resources.ChildTable`)."""
        for n, child in enumerate(self.resource.children):
            rows = [(key, kids[n]) for key, kids in families]
            replace_children(conn, child.table, self._scope(), self._key_names(), rows)

    def _key_columns(self) -> list[sa.Column[Any]]:
        table = self.resource.table
        scope = [table.c.store_code] if self.resource.per_store else []
        return [*scope, *(table.c[k.column] for k in self.resource.keys)]

    def _stored(self, conn: Connection, keys: list[Key]) -> dict[Key, Any]:
        """The stored hash and tombstone of ``keys``."""
        table, found = self.resource.table, {}
        columns = [table.c[k.column] for k in self.resource.keys]
        for part in chunks(keys):
            query = sa.select(*columns, table.c.content_hash, table.c.deleted_at).where(
                sa.tuple_(*columns).in_([tuple(k) for k in part])
                if len(columns) > 1
                else columns[0].in_([k[0] for k in part])
            )
            if self.resource.per_store:
                query = query.where(table.c.store_code == self.store_code)
            for row in conn.execute(query):
                found[tuple(row[: len(columns)])] = row
        return found

    def _row(
        self, key: Key, values: dict[str, Any], data: str, digest: str, now: datetime
    ) -> tuple[Any, ...]:
        scope = (self.store_code,) if self.resource.per_store else ()
        other = tuple(values[name] for name in self._value_columns())
        return (*scope, *key, *other, jsontext.Encoded(data), digest, naive_utc(now))

    def _value_columns(self) -> list[str]:
        fixed = {"store_code", "data", "content_hash", "synced_at", "deleted_at"}
        fixed |= {k.column for k in self.resource.keys}
        return [c.name for c in self.resource.table.columns if c.name not in fixed]

    def _upsert(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        keys = [c.name for c in self._key_columns()]
        columns = [*keys, *self._value_columns(), "data", "content_hash", "synced_at"]
        upsert_rows(
            conn,
            self.resource.table,
            columns,
            rows,
            [c for c in columns if c not in keys],
            literal_updates={"deleted_at": sa.null()},
        )

    # -- deletions and the watermark --------------------------------------------------------------

    def _live_keys(self, conn: Connection) -> Iterator[list[Key]]:
        """The live rows' keys, a thousand at a time, in the database's own key order."""
        columns = [self.resource.table.c[k.column] for k in self.resource.keys]
        table, last = self.resource.table, None
        while True:
            query = (
                sa.select(*columns)
                .where(table.c.deleted_at.is_(None))
                .order_by(*columns)
                .limit(1000)
            )
            if self.resource.per_store:
                query = query.where(table.c.store_code == self.store_code)
            if last is not None:
                query = query.where(sa.tuple_(*columns) > sa.tuple_(*last))
            batch = [tuple(row) for row in conn.execute(query)]
            if not batch:
                return
            yield batch
            last = batch[-1]

    def _sweep(
        self,
        conn: Connection,
        seen: set[Key],
        only: set[Any] | None = None,
        live: Iterable[Key] | None = None,
    ) -> int:
        """Tombstone the live rows a complete pass did not see (of ``live``, default every live
        row; ``only``: those whose key's first field is one of these, the partitions a resumed
        pass read whole). Returns how many."""
        if live is None:
            live = (key for batch in self._live_keys(conn) for key in batch)
        gone = [key for key in live if key not in seen and (only is None or key[0] in only)]
        deleted = self._tombstone(conn, gone)
        count_deleted(conn, self.run_id, self.resource.name, self.store_code, deleted)
        if deleted:
            report = PageReport(deleted=deleted, resource=self.resource.name, pages=0)
            observed = functools.partial(self.context.observer.page_written, self.store_code)
            after_commit(functools.partial(observed, report))
        return deleted

    def _tombstone(self, conn: Connection, gone: list[Key]) -> int:
        """Tombstone the live rows of ``gone`` and log each as a ``delete``. Returns how many."""
        if not gone:
            return 0
        table, now = self.resource.table, naive_utc(self.context.now())
        columns = [table.c[k.column] for k in self.resource.keys]
        for part in chunks(gone):
            match = (
                sa.tuple_(*columns).in_(list(part))
                if len(columns) > 1
                else columns[0].in_([k[0] for k in part])
            )
            query = sa.update(table).where(match, table.c.deleted_at.is_(None))
            if self.resource.per_store:
                query = query.where(table.c.store_code == self.store_code)
            conn.execute(query.values(deleted_at=now))
        for child in self.resource.children:
            if child.cleared_on_delete:
                delete_children(conn, child.table, self._scope(), self._key_names(), gone)
        log_catalog_changes(
            conn,
            self.resource.name,
            self.store_code,
            [(self.resource.key_text(key), DELETE) for key in gone],
            now,
            self.run_id,
        )
        return len(gone)

    def _item_name(self, item: dict[str, Any]) -> str:
        key = self.resource.key_of(item)
        return (
            self.resource.describe_key()
            + " "
            + ("(none)" if key is None else repr(self.resource.key_text(key)))
        )

    def _set_watermark(self, conn: Connection, high_water: str | None) -> None:
        """A complete full pass: the watermark becomes its H0, even when that lowers it (a
        value from the future stored before must not outlive the pass); none without one, nor
        with one that is unusable (a hostile checkpoint's)."""
        key = watermark_key(self.resource)
        stamps = self.context.stamps
        if high_water is not None and not stamps.usable(high_water, stamps.limit(None, quiet=True)):
            log.warning(
                "%s: the full pass's starting high-water mark %r is unusable; no watermark is "
                "kept, so the next sync is a full pass",
                self._what(),
                high_water[:40],
            )
            high_water = None
        if high_water is None:
            delete_state(conn, self.store_code, key)
        else:
            set_state(conn, self.store_code, key, {"updated_at": high_water}, self.context.now())

    def _raise_watermark(self, conn: Connection, candidate: str) -> None:
        key = watermark_key(self.resource)
        current = get_state(conn, self.store_code, key)
        if current is not None and str(current.get("updated_at", "")) >= candidate:
            return
        set_state(conn, self.store_code, key, {"updated_at": candidate}, self.context.now())

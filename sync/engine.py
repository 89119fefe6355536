"""The engine that mirrors any ``searchCriteria`` list resource described in
:mod:`sync.resources` (categories, inventory source items, ...) into its table.

One pass over one resource (and store view, for per-store resources):

* **full**: every item by keyset on the resource's key (:class:`~sync.api.keyset.KeysetWalk`),
  each page compared with the mirror by content hash, only new, changed or revived rows written,
  each write logged in ``catalog_changes``, all in the page's own transaction. Keys seen (rejected
  items included) are remembered; once the walk is complete, live rows whose key was not seen
  are tombstoned (``deleted_at`` and a ``delete`` in the change log). A resource with an
  incremental field sets its watermark to the newest usable ``updated_at`` read *before* paging
  (H0), lowering it if need be, so a change made while the pass ran is picked up by the next
  incremental run.
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

import contextvars
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from sync import jsontext
from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.keyset import KeyPosition, KeysetWalk
from sync.api.paging import Page
from sync.db.changes import chunks, log_catalog_changes
from sync.db.dialect import upsert_rows
from sync.db.rejects import clear_resource_rejects, payload_text, record_resource_rejects
from sync.db.retry import Transactions, after_commit
from sync.db.schema import naive_utc
from sync.db.state import delete_state, get_raw_state, get_state, set_state
from sync.models import ItemRejected, format_accs_time, parse_accs_time
from sync.models import cleaned as _cleaned
from sync.observe import Observer, PageReport
from sync.redact import escape_control
from sync.resources import GLOBAL_STORE, Resource
from sync.stats import ResourceStats
from sync.watermark import Distrusted, Stamps

__all__ = ["Lister", "PassContext", "ResourcePass", "ResourceStats"]

log = logging.getLogger(__name__)

Key = tuple[Any, ...]
INSERT, UPDATE, DELETE = "insert", "update", "delete"
#: More values than this in a key's first field (sources) and the pass walks the key as a whole.
MAX_PARTITIONS = 64
#: Seconds the writer waits for the other workers once one has failed (one may be deep in a
#: request's retries): a failed pass ends promptly.
STOP_GRACE = 30.0


class Lister(Protocol):
    """What the engine needs from the ACCS client."""

    def list(self, path: str, criteria: SearchCriteria, store_code: str) -> Page: ...


class PassContext(Protocol):
    """What a pass borrows from the run (the pipeline provides it)."""

    engine: Engine
    #: The run's database work, retried through lost connections (SYNC_DB_RETRY_SECONDS).
    db: Transactions
    observer: Observer
    lookback_seconds: int
    #: SYNC_CONCURRENCY: how many partitions of a resource are walked at once.
    concurrency: int
    #: Judges upstream updated_at values before one becomes a watermark.
    stamps: Stamps
    #: SYNC_MAX_ITEM_BYTES: an item whose JSON text is larger is rejected.
    max_item_bytes: int

    def fetch_with(self, call: Callable[[int], Page]) -> Page: ...

    def now(self) -> datetime: ...


def watermark_key(resource: Resource) -> str:
    return f"{resource.name}:watermark"


class ResourcePass:
    """Mirror ``resource`` for one store view (``store_code``; ``request_store`` is the
    ``Store`` header sent, the first configured store view for a global resource)."""

    def __init__(
        self,
        resource: Resource,
        context: PassContext,
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

    # -- the passes -------------------------------------------------------------------------------

    def run(self, full: bool) -> None:
        """A full pass when asked, when the resource has no incremental field or no watermark
        yet; else an incremental pass (which turns into a full one when counts differ)."""
        watermark = None
        if self.resource.incremental is not None and not full:
            key = watermark_key(self.resource)
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

    def _started(self) -> None:
        self.context.observer.store_started(self.store_code, self.stats.mode, self.resource.name)

    def _full(self, mode: str = "full") -> None:
        self.stats.mode = mode
        self._started()
        high_water = self._newest() if self.resource.incremental else None
        seen: set[Key] = set()
        partitions = self._partitions()
        if partitions is None:
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
            deleted = self._sweep(conn, seen) if keyed else 0
            if self.resource.incremental:
                self._set_watermark(conn, high_water)
            return deleted

        self.stats.deleted += self.context.db.write(complete)

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
    ) -> bool:
        """Fetch and write every page of ``walk``, the next page fetched while one is written
        (``first`` sees the first page before anything is written, and may raise).
        Returns whether every item had a key, so a sweep can trust ``seen``."""
        keyed = True
        position: KeyPosition | None = KeyPosition()
        ahead = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"accs-sync-{self.resource.name}-ahead"
        )
        pending: Future[Page] | None = None
        try:
            while position is not None:
                page = pending.result() if pending is not None else self._fetch(walk, position)
                if first is not None:
                    first(page)
                    first = None
                following = walk.advance(position, page)
                pending = None
                if following is not None:
                    # In this run's log context, which threads do not inherit.
                    pending = ahead.submit(
                        contextvars.copy_context().run, self._fetch, walk, following
                    )
                keyed &= self._commit(page, seen)
                position = following
        finally:
            ahead.shutdown(wait=True, cancel_futures=True)
        return keyed

    # -- concurrency: one walk per value of the key's first field ------------------------------

    def _partitions(self) -> list[KeysetWalk] | None:
        """For a key of two fields (source items: ``source_code`` + ``sku``) and
        ``SYNC_CONCURRENCY`` > 1: one walk per value of the first field, found with one-item
        requests (``first > previous``, sorted), each walking the second field within it. None
        (walk the key as a whole) otherwise, or when there are more than
        :data:`MAX_PARTITIONS` values."""
        keys = self.resource.keys
        if len(keys) != 2 or self.context.concurrency < 2:
            return None
        first, second = keys
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

        def key_of(item: Any) -> Key | None:
            value = second.read(item) if isinstance(item, dict) else None
            return None if value is None else (value,)

        return [
            KeysetWalk(
                fields=[second.filter],
                key_of=key_of,
                groups=((Filter(first.filter, str(value), "eq"),),),
            )
            for value in values
        ]

    def _probe(self, criteria: SearchCriteria) -> Page:
        """One request with fixed ``criteria`` (a one-item probe)."""
        path, store = self.resource.path, self.request_store
        return self.context.fetch_with(lambda size: self.lister.list(path, criteria, store))

    def _walk_partitions(self, walks: list[KeysetWalk], seen: set[Key]) -> bool:
        """Walk ``walks`` with up to ``SYNC_CONCURRENCY`` threads; this thread is the only
        writer and commits each page as it comes. A worker waits for its page's commit before
        it asks for the next one (memory stays at one page per worker). The first failure
        stops the others after their current request; pages fetched are still written."""
        todo: queue.SimpleQueue[KeysetWalk] = queue.SimpleQueue()
        for walk in walks:
            todo.put(walk)
        jobs: queue.Queue[tuple[Page, threading.Event] | BaseException | None] = queue.Queue()
        stop = threading.Event()
        closed = threading.Event()  # the writer reads no more pages: nobody waits for it

        def work() -> None:
            try:
                while not stop.is_set():
                    try:
                        walk = todo.get_nowait()
                    except queue.Empty:
                        return
                    position: KeyPosition | None = KeyPosition()
                    while position is not None and not stop.is_set():
                        page = self._fetch(walk, position)
                        position = walk.advance(position, page)
                        done = threading.Event()
                        jobs.put((page, done))
                        while not done.wait(0.5):
                            if closed.is_set():
                                return
            except BaseException as exc:  # noqa: BLE001 - handed to the writer, raised there
                jobs.put(exc)
            finally:
                jobs.put(None)

        workers = [
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(work,),
                name=f"accs-sync-{self.resource.name}-{n}",
                daemon=True,
            )
            for n in range(min(self.context.concurrency, len(walks)))
        ]
        for worker in workers:
            worker.start()
        keyed, error, running = True, None, len(workers)
        deadline: float | None = None  # once a worker failed: when to stop waiting for the rest
        try:
            while running and (deadline is None or time.monotonic() < deadline):
                try:
                    message = jobs.get(timeout=0.5)
                except queue.Empty:
                    continue
                if message is None:
                    running -= 1
                elif isinstance(message, BaseException):
                    error = error or message
                    deadline = deadline or time.monotonic() + STOP_GRACE
                    stop.set()
                else:
                    page, done = message
                    try:
                        if error is None:
                            keyed &= self._commit(page, seen)
                    except Exception as exc:  # noqa: BLE001 - raised below, once workers stop
                        error = exc
                        deadline = deadline or time.monotonic() + STOP_GRACE
                        stop.set()
                    finally:
                        done.set()
        finally:
            stop.set()
            closed.set()
            end = time.monotonic() + (1.0 if deadline is not None else STOP_GRACE)
            for worker in workers:
                worker.join(timeout=max(0.0, end - time.monotonic()))
        if error is not None:
            raise error
        return keyed

    def _fetch(self, walk: KeysetWalk, position: KeyPosition) -> Page:
        path, store = self.resource.path, self.request_store
        return self.context.fetch_with(
            lambda size: self.lister.list(path, walk.criteria(position, size), store)
        )

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

    # -- one page ---------------------------------------------------------------------------------

    def _commit(self, page: Page, seen: set[Key] | None) -> bool:
        """Write ``page`` in a transaction of its own (retried whole, the same page, after a
        lost connection or a deadlock). Returns whether every item had a key."""
        return self.context.db.write(lambda conn: self._write_page(conn, page, seen))

    def _write_page(self, conn: Connection, page: Page, seen: set[Key] | None) -> bool:
        """Validate ``page`` and write what changed, in ``conn``'s transaction. Returns whether
        every item had a key."""
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
            stamp = values.get("updated_at") if resource.incremental else None
            if stamp is not None and stamp <= limit and (high is None or stamp > high):
                high = stamp
        written = [resource.key_text(key) for key, _ in changes]
        if rows:
            self._upsert(conn, rows)
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
        if high is not None and self.stats.mode == "incremental":
            after_commit(functools.partial(self._wrote_stamp, format_accs_time(high)))
        after_commit(functools.partial(self._counted, len(page.items), len(rejects), report))
        return keyed

    def _wrote_stamp(self, stamp: str) -> None:
        """A committed incremental page wrote rows up to ``stamp`` (a usable ``updated_at``)."""
        if self._written_high is None or stamp > self._written_high:
            self._written_high = stamp

    def _counted(self, items: int, rejected: int, report: dict[str, int]) -> None:
        """A committed page in the run's counters and metrics (once, a retried page too)."""
        self.stats.pages += 1
        self.stats.written += report["inserted"] + report["updated"] + report["revived"]
        self.stats.unchanged += report["unchanged"]
        self.stats.rejected += rejected
        self.context.observer.page_written(
            self.store_code,
            PageReport(items=items, rejected=rejected, resource=self.resource.name, **report),
        )

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

    def _sweep(self, conn: Connection, seen: set[Key]) -> int:
        """Tombstone the live rows a complete pass did not see. Returns how many."""
        gone = [key for batch in self._live_keys(conn) for key in batch if key not in seen]
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
        log_catalog_changes(
            conn,
            self.resource.name,
            self.store_code,
            [(self.resource.key_text(key), DELETE) for key in gone],
            now,
            self.run_id,
        )
        report = PageReport(deleted=len(gone), resource=self.resource.name)
        after_commit(functools.partial(self.context.observer.page_written, self.store_code, report))
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
        value from the future stored before must not outlive the pass); none without one."""
        key = watermark_key(self.resource)
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

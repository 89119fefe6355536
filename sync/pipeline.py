"""One sync run: fetch pages, validate, upsert, advance state; return what happened.

Every page is written in one transaction together with the state that says how far we got
(a backfill checkpoint or the incremental watermark) and the run's counters, so a crash at any
moment leaves the database at a page boundary: nothing half-written, nothing skipped on resume.

Watermarks come from ACCS's data, never from our clock. A full pass first reads the newest
``updated_at`` upstream (H0) and, once complete, sets the watermark to H0: any product changed
while the pass was paging has ``updated_at >= H0`` and is picked up by the next incremental run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import Connection, Engine

from sync.api.criteria import SearchCriteria
from sync.api.paging import ChangesPosition, ChangesWalk, IdPosition, IdWalk, Page
from sync.clock import Clock
from sync.db.lock import instance_lock
from sync.db.state import (
    BACKFILL_CHECKPOINT as CHECKPOINT,
)
from sync.db.state import (
    WATERMARK,
    FinishedStatus,
    delete_state,
    finish_run,
    get_state,
    mark_stale_runs,
    set_state,
    start_run,
    update_run,
)
from sync.db.upsert import mark_unseen_deleted, upsert_products
from sync.errors import AccsSyncError, Interrupted, PageSizeLimited, RetriableApiError
from sync.models import ItemRejected, ProductRecord, format_accs_time, parse_accs_time, parse_item

__all__ = ["CHECKPOINT", "WATERMARK", "Pipeline", "RunStats", "StoreStats"]

log = logging.getLogger(__name__)
T = TypeVar("T")

RunKind = Literal["sync", "backfill"]


class Catalog(Protocol):
    """What the pipeline needs from the ACCS client (a seam for tests)."""

    def search(self, criteria: SearchCriteria, store_code: str) -> Page: ...

    def newest_updated_at(self, store_code: str) -> str | None: ...


@dataclass
class StoreStats:
    store_code: str
    mode: str
    pages: int = 0
    products: int = 0
    rejected: int = 0
    deleted: int = 0


@dataclass
class RunStats:
    run_id: int
    kind: str
    status: Literal["running", "success", "failed", "interrupted"] = "running"
    seconds: float = 0.0
    stores: list[StoreStats] = field(default_factory=list)
    error: str | None = None
    exception: AccsSyncError | None = field(default=None, repr=False)

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.stores)

    @property
    def products(self) -> int:
        return sum(s.products for s in self.stores)

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.stores)


class Pipeline:
    """Mirrors the configured store views into the database, one page per transaction."""

    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        clock: Clock,
        store_codes: list[str],
        page_size: int,
        stop_event: threading.Event | None = None,
        lookback_seconds: int = 300,
        scrub: Callable[[str], str] = str,
    ) -> None:
        self.engine = engine
        self.lookback_seconds = lookback_seconds
        self.scrub = scrub
        self.catalog = catalog
        self.clock = clock
        self.store_codes = store_codes
        self.page_size = page_size
        self.stop_event = stop_event or threading.Event()

    # -- the run ---------------------------------------------------------------------------

    def run(self, kind: RunKind = "sync") -> RunStats:
        """Run once over every store view.

        Never raises for a failed sync: the outcome is recorded in ``sync_runs`` and returned
        (``status``, ``error`` and, for our own errors, ``exception``). Raises
        :class:`~sync.db.lock.AlreadyRunning`, recording nothing, when another run holds the
        database's run lock.
        """
        with instance_lock(self.engine):
            # Holding the lock, any run still marked "running" belongs to a dead process.
            mark_stale_runs(self.engine, self._now())
            return self._run_locked(kind)

    def _run_locked(self, kind: RunKind) -> RunStats:
        started = self.clock.monotonic()
        run_id = start_run(self.engine, kind, self.store_codes, self._now())
        stats = RunStats(run_id=run_id, kind=kind)
        outcome: FinishedStatus
        try:
            for store_code in self.store_codes:
                store = StoreStats(store_code=store_code, mode="")
                stats.stores.append(store)
                self._sync_store(store, kind, run_id)
        except Interrupted as exc:
            outcome, stats.error = "interrupted", exc.message
        except AccsSyncError as exc:
            outcome, stats.error, stats.exception = "failed", exc.message, exc
        except Exception as exc:
            # A bug or a database failure: recorded, logged with its traceback, reported.
            log.exception("run %d failed unexpectedly", run_id)
            outcome, stats.error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            outcome = "success"
        stats.status = outcome
        if stats.error is not None:
            stats.error = self.scrub(stats.error)
        stats.seconds = self.clock.monotonic() - started
        finish_run(self.engine, run_id, outcome, self._now(), stats.error)
        log.info(
            "run %d %s: %d products in %d pages (%d rejected) in %.1fs",
            run_id,
            stats.status,
            stats.products,
            stats.pages,
            stats.rejected,
            stats.seconds,
        )
        return stats

    def _sync_store(self, store: StoreStats, kind: RunKind, run_id: int) -> None:
        with self.engine.connect() as conn:
            watermark = get_state(conn, store.store_code, WATERMARK)
            checkpoint = get_state(conn, store.store_code, CHECKPOINT)
        if checkpoint is not None:
            store.mode = "full (resumed)"
            self._full_pass(store, run_id, checkpoint)
        elif kind == "backfill" or watermark is None:
            store.mode = "full"
            self._full_pass(store, run_id, None)
        else:
            store.mode = "incremental"
            self._incremental(store, run_id, ChangesPosition.from_json(watermark))
        log.info(
            "store %s: %s pass wrote %d products in %d pages",
            store.store_code,
            store.mode,
            store.products,
            store.pages,
        )

    # -- passes ------------------------------------------------------------------------------

    def _full_pass(self, store: StoreStats, run_id: int, checkpoint: dict[str, Any] | None) -> None:
        """Every product by id. On completion, rows the pass did not see are tombstoned."""
        walk = IdWalk()
        code = store.store_code
        if checkpoint is not None:
            position = IdPosition.from_json(checkpoint)
            high_water = checkpoint.get("high_water")
            pass_started = checkpoint.get("started_at") or self._now().isoformat()
            rejected = int(checkpoint.get("rejected", 0))
            log.info("store %s: resuming full pass after id %d", code, position.last_id)
        else:
            position = IdPosition()
            # Read before paging: anything changed while we page has updated_at >= this.
            high_water = self._guarded(lambda: self.catalog.newest_updated_at(code))
            pass_started = self._now().isoformat()
            rejected = 0
            with self.engine.begin() as conn:
                self._save_checkpoint(conn, code, position, high_water, pass_started, rejected)
        while True:
            page = self._fetch(walk.criteria, position, code)
            following = walk.advance(position, page)
            with self.engine.begin() as conn:
                rejected += self._write(conn, store, run_id, page)
                if following is not None:
                    self._save_checkpoint(conn, code, following, high_water, pass_started, rejected)
                    position = following
                    continue
                delete_state(conn, code, CHECKPOINT)
                if high_water is not None:
                    self._raise_watermark(conn, code, ChangesPosition(high_water))
                self._tombstone_unseen(conn, store, pass_started, rejected)
            return

    def _tombstone_unseen(
        self, conn: Connection, store: StoreStats, pass_started: str, rejected: int
    ) -> None:
        """After a complete full pass, rows it did not write were deleted upstream."""
        if rejected:
            # A rejected item was listed but not written: its row would look deleted.
            log.warning(
                "store %s: %d items were rejected during the full pass; "
                "not marking unseen products as deleted this time",
                store.store_code,
                rejected,
            )
            return
        since = datetime.fromisoformat(pass_started)
        store.deleted = mark_unseen_deleted(conn, store.store_code, since, self._now())
        if store.deleted:
            log.info("store %s: %d products deleted upstream", store.store_code, store.deleted)

    def _incremental(self, store: StoreStats, run_id: int, watermark: ChangesPosition) -> None:
        walk = ChangesWalk()
        # Start a little before the watermark: a product can be changed within a second we
        # already read (ids in one second are not in time order), and Magento stamps
        # updated_at before its transaction commits, so a change can appear "in the past".
        start = parse_accs_time(watermark.updated_at) - timedelta(seconds=self.lookback_seconds)
        position: ChangesPosition | None = ChangesPosition(format_accs_time(start), 0)
        high_water = watermark
        while position is not None:
            page = self._fetch(walk.criteria, position, store.store_code)
            following = walk.advance(position, page)
            high_water = ChangesWalk.high_water(high_water, page)
            with self.engine.begin() as conn:
                self._write(conn, store, run_id, page)
                self._raise_watermark(conn, store.store_code, high_water)
            position = following

    # -- helpers -----------------------------------------------------------------------------

    def _guarded(self, call: Callable[[], T]) -> T:
        """Run an API call unless a stop was requested; a stop during its retries interrupts."""
        if self.stop_event.is_set():
            raise Interrupted("stop requested; every page fetched so far is committed")
        try:
            return call()
        except RetriableApiError:
            if self.stop_event.is_set():
                raise Interrupted("stop requested while retrying; committed work is kept") from None
            raise

    def _fetch(self, criteria: Any, position: Any, store_code: str) -> Page:
        """One page at ``position``; adapts to a store's page-size limit; honours stop requests."""
        while True:
            try:
                return self._guarded(
                    lambda: self.catalog.search(criteria(position, self.page_size), store_code)
                )
            except PageSizeLimited as exc:
                if not 0 < exc.limit < self.page_size:
                    raise
                log.warning("store caps pageSize at %d; using that from now on", exc.limit)
                self.page_size = exc.limit

    def _write(self, conn: Connection, store: StoreStats, run_id: int, page: Page) -> int:
        """Validate and upsert one page; returns how many items were rejected."""
        rejected = 0
        records: dict[int, ProductRecord] = {}
        for item in page.items:
            try:
                record = parse_item(item, store.store_code)
            except ItemRejected as exc:
                rejected += 1
                sku = item.get("sku") if isinstance(item, dict) else None
                log.warning("store %s: rejected item sku=%r: %s", store.store_code, sku, exc.reason)
                continue
            records[record.id] = record  # a repeated id in one page: the last one wins
        written = upsert_products(conn, list(records.values()), self._now()) if records else 0
        update_run(conn, run_id, 1, written)
        store.pages += 1
        store.products += written
        store.rejected += rejected
        log.debug("store %s: page %d wrote %d products", store.store_code, store.pages, written)
        return rejected

    def _save_checkpoint(
        self,
        conn: Connection,
        store_code: str,
        position: IdPosition,
        high_water: str | None,
        started_at: str,
        rejected: int,
    ) -> None:
        value = {
            **position.to_json(),
            "high_water": high_water,
            "started_at": started_at,
            "rejected": rejected,
        }
        set_state(conn, store_code, CHECKPOINT, value, self._now())

    def _raise_watermark(
        self, conn: Connection, store_code: str, candidate: ChangesPosition
    ) -> None:
        """Move the watermark forward only; a backfill never moves it backwards."""
        current = get_state(conn, store_code, WATERMARK)
        if current is not None:
            old = ChangesPosition.from_json(current)
            if (old.updated_at, old.last_id) >= (candidate.updated_at, candidate.last_id):
                return
        set_state(conn, store_code, WATERMARK, candidate.to_json(), self._now())

    def _now(self) -> Any:
        return self.clock.now().replace(tzinfo=None)

"""One sync run: fetch pages, validate, write what changed, advance state; return what happened.

Every page is written in one transaction together with the state that says how far we got
(a backfill checkpoint or the incremental watermark), the change log and the run's counters, so
a crash at any moment leaves the database at a page boundary: nothing half-written, nothing
skipped on resume. Unchanged products (same content hash) are not rewritten.

Watermarks come from ACCS's data, never from our clock. A full pass first reads the newest
``updated_at`` upstream (H0) and, once complete, sets the watermark to H0, lowering it if need
be: any product changed while the pass was paging has ``updated_at >= H0`` and is picked up by
the next incremental run. Incremental pages only raise it; a windowed backfill never moves it.

One bad upstream value must not poison the watermark (:mod:`sync.watermark`): only a *usable*
``updated_at`` becomes one, exactly ``YYYY-MM-DD HH:MM:SS`` and no later than ACCS's clock (the
``Date`` header of the page that carried it; our clock only when ACCS sends none) plus five
minutes. A product stamped later is mirrored, named in one warning per run, and skipped as a
watermark; a malformed one is a rejected item. The H0 probe sorts ``updated_at DESC``, so a
poisoned value is exactly what it returns: when its one item is unusable, a second probe asks
for the newest 20 with ``updated_at <=`` ACCS's clock plus the skew and takes the first usable
one, else H0 is ACCS's clock less the skew (still before any change made after the probe). A
stored watermark that is unusable (malformed: before any request; in the future: judged on the
incremental pass's first page) is reported once and replaced by a full pass, never a crash.

Passes:

* **full** (first sync, ``backfill``, ``reconcile``): every product by entity id, in
  ``SYNC_CONCURRENCY`` id ranges fetched at the same time (:mod:`sync.fullpass`); it compares
  content hashes, so it doubles as the content reconciliation that catches stock and image
  changes (which do not move ``updated_at``). Each page also tombstones the mirrored rows of
  the id interval it covers that it did not carry, so no separate id listing is needed.
* **incremental**: products with ``updated_at`` past the watermark (minus the lookback), the
  next page fetched while the current one is written; it ends by comparing the store's live
  row count with ACCS's ``total_count`` and runs the id listing when they differ, so deletions
  show up after the next incremental run.
* **id listing** (:mod:`sync.reconcile`): every id, cheaply; tombstones what is gone (only after
  a complete listing) and fetches what is missing or stale.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.paging import ChangesPosition, ChangesWalk, Page
from sync.api.products import Newest
from sync.background import in_background
from sync.clock import Clock
from sync.db.changes import IdInterval, stored_rows, tombstone_missing, write_products
from sync.db.faults import DatabaseFailed, DatabaseUnavailable, describe
from sync.db.lock import instance_lock
from sync.db.rejects import Reject, clear_rejects, has_rejects, prune_rejects, record_rejects
from sync.db.retry import Transactions, after_commit
from sync.db.runlog import count_page, start_pass
from sync.db.state import (
    BACKFILL_CHECKPOINT as CHECKPOINT,
)
from sync.db.state import (
    WATERMARK,
    FinishedStatus,
    delete_state,
    get_raw_state,
    get_state,
    mark_stale_runs,
    record_outcome,
    set_state,
    start_run,
    update_run,
)
from sync.engine import Lister, ResourcePass
from sync.errors import (
    AccsSyncError,
    EndpointMissing,
    Interrupted,
    OrgRejected,
    PermissionDenied,
    RetriableApiError,
    StoreUnknown,
)
from sync.fullpass import FullPass
from sync.keys import Keys
from sync.keyspass import KeysTools, refetch
from sync.logcontext import log_context
from sync.models import (
    DEFAULT_MAX_ITEM_BYTES,
    Fingerprint,
    ItemRejected,
    ProductRecord,
    fingerprint,
    format_accs_time,
    parse_accs_time,
    parse_item,
)
from sync.observe import Observer, PageReport
from sync.passtools import ID_LISTING, PRODUCTS_ENDPOINT, PageSizes, PassTools, ProductTools
from sync.planner import Kind as PlanKind
from sync.planner import Shape, Stored, plan
from sync.planner import describe as describe_window
from sync.ranges import RangeSet, even_ranges
from sync.reconcile import counts_differ, reconcile_ids
from sync.resources import PRODUCTS, PRODUCTS_ACL, RESOURCES, SOURCE_ITEMS, Resource
from sync.resume import ranges_problem
from sync.stats import ResourceStats, RunStats, StoreStats
from sync.watermark import Distrusted, Stamps
from sync.workers import Fetched, FixedUnits, run_pool, walk_pages

__all__ = ["CHECKPOINT", "WATERMARK", "Pipeline", "RunKind", "RunStats", "StoreStats", "Window"]

log = logging.getLogger(__name__)
T = TypeVar("T")

RunKind = Literal["sync", "backfill", "reconcile", "refetch"]
#: Products as the pass planner sees them: incremental on updated_at, keyed by entity id.
PRODUCT_SHAPE = Shape(PRODUCTS, incremental=True, numeric_key=True)


class Catalog(Protocol):
    """What the pipeline needs from the ACCS client (a seam for tests)."""

    def search(self, criteria: SearchCriteria, store_code: str) -> Page: ...

    def list_ids(self, criteria: SearchCriteria, store_code: str) -> Page: ...

    def count(self, store_code: str) -> int: ...

    def newest(self, store_code: str) -> Newest: ...

    def id_bounds(self, store_code: str) -> tuple[int | None, int | None]: ...


@dataclass(frozen=True)
class Window:
    """A backfill's ``updated_at`` window: ``since <= updated_at < until`` (naive UTC)."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(
                f"--since ({format_accs_time(self.since)}) must be before "
                f"--until ({format_accs_time(self.until)})"
            )

    def __bool__(self) -> bool:
        return self.since is not None or self.until is not None

    def to_json(self) -> dict[str, str | None]:
        return {
            "since": None if self.since is None else format_accs_time(self.since),
            "until": None if self.until is None else format_accs_time(self.until),
        }

    @classmethod
    def from_json(cls, data: Any) -> Window:
        if not isinstance(data, dict):
            return cls()
        since, until = data.get("since"), data.get("until")
        return cls(
            since=parse_accs_time(since) if isinstance(since, str) else None,
            until=parse_accs_time(until) if isinstance(until, str) else None,
        )

    def groups(self) -> tuple[tuple[Filter, ...], ...]:
        out: list[tuple[Filter, ...]] = []
        if self.since is not None:
            out.append((Filter("updated_at", format_accs_time(self.since), "gteq"),))
        if self.until is not None:
            out.append((Filter("updated_at", format_accs_time(self.until), "lt"),))
        return tuple(out)


class Pipeline:
    """Mirrors the configured store views into the database, one page per transaction."""

    #: The id listing asks for this many ids per request whatever SYNC_PAGE_SIZE is: ACCS's
    #: most (larger is a 400 on stores with input limits). A store with a lower limit answers
    #: 400 "Maximum SearchCriteria pageSize is N" and N is used from then on.
    listing_page_size = 300

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
        concurrency: int = 1,
        observer: Observer | None = None,
        resources: Sequence[str] = (PRODUCTS,),
        lister: Lister | None = None,
        max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES,
        lock_wait_seconds: float = 0.0,
        db_retry_seconds: float = 60.0,
    ) -> None:
        self.engine = engine
        #: SYNC_LOCK_WAIT_SECONDS: how long a run waits for another run's lock.
        self.lock_wait_seconds = lock_wait_seconds
        self.stop_event = stop_event or threading.Event()
        #: Every unit of database work of a run, retried through a lost connection or a
        #: deadlock for up to SYNC_DB_RETRY_SECONDS (:mod:`sync.db.retry`).
        self.db = Transactions(engine, clock, self.stop_event, db_retry_seconds, scrub)
        #: SYNC_MAX_ITEM_BYTES: an item whose JSON text is larger is rejected.
        self.max_item_bytes = max_item_bytes
        self.lister = lister
        #: Which resources a run mirrors (:func:`sync.resources.resource_names`), in order.
        self.resources = self._check_resources(resources)
        #: Told what the run does as it happens (progress, metrics); see :mod:`sync.observe`.
        self.observer = observer or Observer()
        self.concurrency = max(1, concurrency)
        self.lookback_seconds = lookback_seconds
        self.scrub = scrub
        self.catalog = catalog
        self.clock = clock
        self.store_codes = store_codes
        self.page_size = page_size
        #: Each endpoint's page size: SYNC_PAGE_SIZE (the id listing: its own) until the store
        #: caps that endpoint's pageSize.
        self.page_sizes = PageSizes(page_size, self.guarded, {ID_LISTING: self.listing_page_size})
        #: Judges upstream updated_at values before one becomes a watermark.
        self.stamps = Stamps(self.now, scrub)

    # -- the run ---------------------------------------------------------------------------

    def run(
        self,
        kind: RunKind = "sync",
        window: Window | None = None,
        resources: Sequence[str] | None = None,
        keys: Keys | None = None,
    ) -> RunStats:
        """Run once over every store view.

        ``kind``: ``sync`` (incremental, or full when there is no watermark; resumes an
        interrupted full pass), ``backfill`` (a full pass; ``window`` restricts it to an
        ``updated_at`` range, for products and categories; source items have none and are
        skipped; a windowed pass never tombstones nor moves the watermark), ``reconcile`` (a
        full content pass; its pages tombstone what is gone) or ``refetch`` (a pass over the
        given ``keys`` only, :mod:`sync.keyspass`; no watermark moves; a resource ACCS refuses
        fails it). :func:`sync.planner.plan` decides each pass but a refetch.

        ``resources``: what to mirror, in order (default: the pipeline's ``resources``). A
        resource ACCS refuses (403) is skipped with one error line naming the ACL it needs,
        the others still run, and the run ends ``partial``. A store view ACCS does not know
        is skipped alike, in every resource, with one line naming SYNC_STORE_CODES (the run's
        ``exception`` is then that configuration error: the CLI exits 2).

        Never raises for a failed sync: the outcome is recorded in ``sync_runs`` and returned
        (``status``, ``error`` and, for our own errors, ``exception``). Raises
        :class:`~sync.db.lock.AlreadyRunning`, recording nothing, when another run holds the
        database's run lock for longer than ``lock_wait_seconds``.
        """
        window = window or Window()
        if window and kind != "backfill":
            raise ValueError("only a backfill takes an updated_at window")
        if (kind == "refetch") != bool(keys):
            raise ValueError("a refetch run, and only one, takes keys")
        chosen = self._check_resources(resources) if resources is not None else self.resources
        try:
            with instance_lock(
                self.engine,
                wait_seconds=self.lock_wait_seconds,
                clock=self.clock,
                stop=self.stop_event,
            ) as lock:
                # Holding the lock, any run still marked "running" belongs to a dead process.
                mark_stale_runs(self.engine, self.now())
                self.db.guard = lock.ensure
                try:
                    return self._run_locked(kind, window, chosen, keys)
                finally:
                    self.db.guard = None
        except SQLAlchemyError as exc:  # before the run was recorded: nothing was written
            raise DatabaseFailed(
                f"database error ({describe(exc, self.scrub)}); check DATABASE_URL and that "
                "the database server is reachable"
            ) from None

    def _check_resources(self, resources: Sequence[str]) -> tuple[str, ...]:
        chosen = tuple(resources)
        unknown = [r for r in chosen if r != PRODUCTS and r not in RESOURCES]
        if unknown:
            raise ValueError(f"unknown resources: {', '.join(unknown)}")
        if self.lister is None and any(r != PRODUCTS for r in chosen):
            raise ValueError("resources other than products need a lister")
        return chosen

    def _run_locked(
        self, kind: RunKind, window: Window, resources: tuple[str, ...], keys: Keys | None = None
    ) -> RunStats:
        started = self.clock.monotonic()
        self.stamps.start_run()
        run_id = start_run(self.engine, kind, self.store_codes, self.now())
        with log_context(run_id=run_id, kind=kind):
            return self._run_started(kind, window, run_id, started, resources, keys)

    def _run_started(
        self,
        kind: RunKind,
        window: Window,
        run_id: int,
        started: float,
        resources: tuple[str, ...],
        keys: Keys | None = None,
    ) -> RunStats:
        stats = RunStats(run_id=run_id, kind=kind)
        self.observer.run_started(run_id, kind)
        outcome: FinishedStatus
        unknown: set[str] = set()  # store view codes ACCS said it does not know
        try:
            if keys:  # a pass over given keys instead of the passes below
                tools = KeysTools(
                    products=self._product_tools(),
                    observer=self.observer,
                    source_items=self._pass_tools(SOURCE_ITEMS) if self.lister else None,
                    lister=self.lister,
                )
                refetch(tools, keys, self.store_codes, resources, stats, run_id)
                resources = ()
            if PRODUCTS in resources:
                self._products(stats, kind, run_id, window, unknown)
            for name in resources:
                if name != PRODUCTS:
                    self._resource(RESOURCES[name], stats, kind, run_id, window, unknown)
        except Interrupted as exc:
            outcome, stats.error = "interrupted", exc.message
        except DatabaseUnavailable as exc:
            outcome, stats.exception = "failed", exc
            stats.error = f"{exc.message}; {_committed(stats)}; the next run resumes from there"
        except AccsSyncError as exc:
            outcome, stats.error, stats.exception = "failed", exc.message, exc
        except SQLAlchemyError as exc:
            # Described by the driver's error alone: SQLAlchemy's text carries the statement
            # and its parameters (a page of products).
            stats.exception = DatabaseFailed(f"database error ({describe(exc, self.scrub)})")
            outcome, stats.error = "failed", stats.exception.message
            log.error("run %d failed: %s", run_id, stats.error)
        except Exception as exc:
            # A bug or a database failure: recorded, logged with its traceback, reported.
            log.exception("run %d failed unexpectedly", run_id)
            outcome, stats.error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            outcome = "success"
            if stats.denied:
                outcome, stats.error = "partial", "; ".join(stats.denied)
        stats.status = outcome
        if stats.error is not None:
            stats.error = self.scrub(stats.error)
        stats.seconds = self.clock.monotonic() - started
        recorded = self._finish(run_id, outcome, stats)
        self.observer.run_finished(run_id, kind, outcome, stats.seconds)
        if recorded:
            self._prune_rejects()
        log.info("%s", stats.finished_line())  # what every resource did
        return stats

    def _finish(self, run_id: int, outcome: FinishedStatus, stats: RunStats) -> bool:
        """Record the run's outcome, waiting for the database as long as a page would (the
        database may come back meanwhile); when it cannot, say so in the run's error."""
        finished = self.now()
        try:
            self.db.write(
                functools.partial(
                    record_outcome,
                    run_id=run_id,
                    status=outcome,
                    finished_at=finished,
                    error=stats.error,
                )
            )
        except (SQLAlchemyError, DatabaseFailed, Interrupted) as exc:
            reason = exc.message if isinstance(exc, AccsSyncError) else describe(exc, self.scrub)
            log.debug("cannot record run %d: %s", run_id, reason)
            note = (
                f"run {run_id} could not be recorded as {outcome} in sync_runs (the database "
                "still does not answer); the next run marks it abandoned"
            )
            stats.error = note if stats.error is None else f"{stats.error}; {note}"
            if stats.status == "success":
                stats.status = "failed"
                stats.exception = DatabaseFailed(note)
            return False
        return True

    def _prune_rejects(self) -> None:
        try:
            pruned = prune_rejects(self.engine, self.now())
        except SQLAlchemyError as exc:  # housekeeping: the next run prunes them
            log.warning("could not prune sync_rejects: %s", describe(exc, self.scrub))
            return
        if pruned:
            log.info("pruned %d stale rows from sync_rejects", pruned)

    def _products(
        self, stats: RunStats, kind: RunKind, run_id: int, window: Window, unknown: set[str]
    ) -> None:
        try:
            for store_code in self.store_codes:
                store = StoreStats(store_code=store_code, mode="")
                stats.stores.append(store)
                with log_context(store=store_code):
                    try:
                        self._sync_store(store, kind, run_id, window)
                    except StoreUnknown as exc:
                        stats.stores.remove(store)
                        _skip_store(stats, unknown, exc)
        except OrgRejected:
            raise  # the organisation, not an ACL: every request is refused alike
        except PermissionDenied as exc:
            stats.denied.append(_denied(PRODUCTS, PRODUCTS_ACL, exc))
            log.error("%s", stats.denied[-1])

    def _resource(
        self,
        resource: Resource,
        stats: RunStats,
        kind: RunKind,
        run_id: int,
        window: Window,
        unknown: set[str],
    ) -> None:
        """One pass per store view (one in all, in the first store view ACCS knows, for a
        resource that is the same in each); a windowed backfill skips a resource without an
        incremental field (the planner says so in the log)."""
        assert self.lister is not None
        for store_code in [code for code in self.store_codes if code not in unknown]:
            rstats = ResourceStats(resource.name, store_code if resource.per_store else "*")
            stats.resources.append(rstats)
            with log_context(store=rstats.store_code):
                try:
                    chosen = ResourcePass(
                        resource,
                        self._pass_tools(resource),
                        self.lister,
                        store_code=store_code,
                        request_store=store_code,
                        run_id=run_id,
                        stats=rstats,
                    ).run(_planned(kind), window.to_json())
                except StoreUnknown as exc:
                    stats.resources.remove(rstats)
                    _skip_store(stats, unknown, exc)
                    continue  # the next store view (the next one to ask, if not per store)
                except OrgRejected:
                    raise
                except (PermissionDenied, EndpointMissing) as exc:
                    rstats.error = _denied(resource.name, resource.acl, exc, resource.path)
                    stats.denied.append(rstats.error)
                    log.error("%s", rstats.error)
                    return  # every store view would be refused alike
                if chosen.mode == "skip":
                    stats.resources.remove(rstats)
                    return  # every store view alike
                if not window:  # a windowed backfill saw only part of the resource
                    self.observer.resource_finished(resource.name, rstats.store_code)
            log.info(
                "%s %s: %s pass wrote %d rows (%d unchanged, %d deleted, %d rejected) in %d pages",
                resource.name,
                rstats.store_code,
                rstats.mode,
                rstats.written,
                rstats.unchanged,
                rstats.deleted,
                rstats.rejected,
                rstats.pages,
            )
            if not resource.per_store:
                return

    def _sync_store(self, store: StoreStats, kind: RunKind, run_id: int, window: Window) -> None:
        code = store.store_code
        raw_watermark, checkpoint = self.db.read(
            lambda conn: (
                get_raw_state(conn, code, WATERMARK),
                get_raw_state(conn, code, CHECKPOINT),
            )
        )
        problem = None if checkpoint is None else self._checkpoint_problem(checkpoint)
        usable = checkpoint is not None and problem is None
        position: ChangesPosition | None = None
        if kind == "sync" and not usable:
            position = self._stored_watermark(code, raw_watermark)
        stored = Stored(
            watermark=position,
            watermark_unusable=raw_watermark is not None and position is None,
            checkpoint=checkpoint if usable else None,
            checkpoint_window=Window.from_json(checkpoint.get("window")).to_json()
            if usable
            else None,
            checkpoint_problem=problem,
        )
        chosen = plan(PRODUCT_SHAPE, _planned(kind), window.to_json(), stored)
        if chosen.discard:  # reported once: the next run does not find it again
            log.warning("store %s: %s", code, chosen.reason)
            self.db.write(lambda conn: delete_state(conn, code, CHECKPOINT))
        else:
            log.debug("store %s: %s", code, chosen.reason)
        run_pass: Callable[[], None]
        if chosen.mode == "resumed":
            store.mode = "full (resumed)"
            run_pass = functools.partial(self._full_pass, store, run_id, chosen.start, Window())
        elif chosen.mode == "full":
            store.mode = "full" if not window else f"full {_describe(window)}"
            run_pass = functools.partial(self._full_pass, store, run_id, None, window)
        else:
            store.mode = "incremental"
            run_pass = functools.partial(self._incremental_or_full, store, run_id, chosen.start)
        self.db.write(lambda conn: start_pass(conn, run_id, PRODUCTS, store.store_code, store.mode))
        self.observer.store_started(store.store_code, store.mode)
        run_pass()
        watermark = self.db.read(lambda conn: get_state(conn, store.store_code, WATERMARK))
        self.observer.store_finished(
            store.store_code, None if watermark is None else watermark.get("updated_at")
        )
        if not window:  # a windowed backfill saw only part of the catalog
            self.observer.resource_finished(PRODUCTS, store.store_code)
        log.info(
            "store %s: %s pass wrote %d products (%d unchanged) in %d pages",
            store.store_code,
            store.mode,
            store.products,
            store.unchanged,
            store.pages,
        )

    # -- passes ------------------------------------------------------------------------------

    def _full_pass(
        self, store: StoreStats, run_id: int, checkpoint: dict[str, Any] | None, window: Window
    ) -> None:
        """Every product by id (within ``window``), in concurrent id ranges; writes only what
        changed and, unwindowed, tombstones what each page's interval no longer holds. A
        complete unwindowed pass sets the watermark to H0, lowering it if need be."""
        code = store.store_code
        highest: int | None = None
        if checkpoint is not None:
            ranges = RangeSet.from_checkpoint(checkpoint, self.page_sizes.size(PRODUCTS_ENDPOINT))
            high_water = checkpoint.get("high_water")
            window = Window.from_json(checkpoint.get("window"))
            log.info("store %s: resuming full pass (%d id ranges left)", code, len(ranges))
            if self.concurrency > 1 and not ranges.finished:
                highest = self._id_bounds(code)[1]
        else:
            # The probes go together (one round trip), and both before paging: anything
            # changed while we page has updated_at >= the newest.
            bounds = self._id_bounds if self.concurrency > 1 else _no_bounds
            with in_background(bounds, code, name=f"accs-sync-{code}-probe") as probe:
                newest = self.guarded(lambda: self.catalog.newest(code))
                lowest, highest = probe.result()
            high_water = self.stamps.high_water(
                newest.updated_at,
                newest.server_time,
                functools.partial(self._newest_below, code),
                "updated_at",
                f"store {code}",
            )
            if not window:
                self.observer.store_total(code, newest.total_count)
            ranges = RangeSet(
                even_ranges(lowest, highest, self.concurrency),
                self.page_sizes.size(PRODUCTS_ENDPOINT),
            )
        ranges.set_highest(highest)
        extra = {"high_water": high_water, "window": window.to_json()}
        if checkpoint is None:
            start = {"ranges": ranges.checkpoint(), **extra}
            self.db.write(lambda conn: self.save_checkpoint(conn, code, start))
        FullPass(
            self._product_tools(),
            store,
            run_id,
            ranges,
            workers=self.concurrency,
            filters=window.groups(),
            tombstones=not window,
            checkpoint=extra,
        ).run()
        if ranges.splits:
            log.debug("store %s: %d id ranges were split to keep workers busy", code, ranges.splits)

        def complete(conn: Connection) -> None:
            delete_state(conn, code, CHECKPOINT)
            if not window:
                self._set_watermark(conn, code, high_water)

        self.db.write(complete)

    @staticmethod
    def _checkpoint_problem(value: Any) -> str | None:
        """What is wrong with a stored products checkpoint (read back as hostile: edited by
        hand or by another program), or None when it resumes (its shape in
        :data:`sync.db.state.BACKFILL_CHECKPOINT`, the older ``last_id`` one included)."""
        if not isinstance(value, dict):
            return "is not a JSON object"
        ranges = value.get("ranges")
        if ranges is None and "last_id" in value:  # written before concurrent ranges
            ranges = [{"after": value["last_id"], "upto": None}]
        problem = ranges_problem(ranges)
        if problem is not None:
            return problem
        high_water = value.get("high_water")
        if high_water is not None and not isinstance(high_water, str):
            return "has a high_water that is not text"
        try:
            Window.from_json(value.get("window"))
        except ValueError:
            return "has a window that is not two YYYY-MM-DD HH:MM:SS times, since before until"
        return None

    def _id_bounds(self, code: str) -> tuple[int | None, int | None]:
        return self.guarded(lambda: self.catalog.id_bounds(code))

    def _newest_below(self, code: str, condition: Filter, size: int) -> Page:
        """The H0 probe's second try: the newest ``size`` products matching ``condition``."""
        criteria = SearchCriteria(
            groups=((condition,),),
            sorts=(Sort("updated_at", "DESC"), Sort("entity_id", "DESC")),
            page_size=size,
        )
        return self.guarded(lambda: self.catalog.search(criteria, code))

    def _stored_watermark(self, code: str, raw: Any) -> ChangesPosition | None:
        """Where the incremental pass starts, or None (none stored, or unusable: reported, and
        a full pass replaces it). Its time is judged against ACCS's clock on the incremental
        pass's first page (:class:`Distrusted`)."""
        value = self.stamps.stored(f"store {code}", raw)
        if value is None:
            return None
        try:
            return ChangesPosition.from_json(value)
        except (KeyError, TypeError, ValueError):
            self.stamps.report(f"store {code}", value.get("id"), "has an id that is not an integer")
            return None

    def _incremental_or_full(
        self, store: StoreStats, run_id: int, watermark: ChangesPosition
    ) -> None:
        try:
            self._incremental(store, run_id, watermark)
        except Distrusted:
            store.mode = "full"
            self._full_pass(store, run_id, None, Window())

    def _incremental(self, store: StoreStats, run_id: int, watermark: ChangesPosition) -> None:
        walk = ChangesWalk()
        # Start a little before the watermark: a product can be changed within a second we
        # already read (ids in one second are not in time order), and Magento stamps
        # updated_at before its transaction commits, so a change can appear "in the past".
        start = parse_accs_time(watermark.updated_at) - timedelta(seconds=self.lookback_seconds)
        position = ChangesPosition(format_accs_time(start), 0, "from")
        high_water = watermark
        code = store.store_code

        def commit(fetched: Fetched[ChangesWalk, Page]) -> None:
            nonlocal high_water
            page = fetched.page
            limit = self.stamps.limit(page.server_time)
            if store.pages == 0:
                problem = self.stamps.problem(watermark.to_json(), limit)
                if problem is not None:
                    self.stamps.report(f"store {code}", watermark.updated_at, problem)
                    raise Distrusted
                # Everything changed since the watermark, less a lookback.
                self.observer.store_total(code, page.total_count)
            high_water = ChangesWalk.high_water(
                high_water, page, functools.partial(self.stamps.usable, limit=limit)
            )

            def write(conn: Connection, mark: ChangesPosition = high_water) -> None:
                self.write_page(conn, store, run_id, page)
                self._raise_watermark(conn, code, mark)

            self.db.write(write)

        def pages(walk: ChangesWalk) -> Iterator[Fetched[ChangesWalk, Page]]:
            return walk_pages(walk, walk, position, lambda w, at: self.fetch(w.criteria, at, code))

        # With concurrency, the next page is fetched while this one is being written.
        run_pool(
            f"{code}-ahead",  # its thread: accs-sync-<store>-ahead-0
            FixedUnits([walk]),
            pages,
            commit,
            workers=1 if self.concurrency > 1 else 0,
            read_ahead=True,
            stop_event=self.stop_event,
        )
        # Deletions do not show in updated_at; a differing count says something is gone
        # (or missing), and then the id listing finds out what.
        tools = self._product_tools()
        if counts_differ(tools, store):
            reconcile_ids(tools, store, run_id)

    # -- what the passes are handed (layers call down) --------------------------------------------

    def _product_tools(self) -> ProductTools:
        return ProductTools(
            db=self.db,
            fetch=self.fetch,
            fetch_ids=self.fetch_ids,
            count=lambda code: self.guarded(lambda: self.catalog.count(code)),
            write_page=self.write_page,
            save_checkpoint=self.save_checkpoint,
            now=self.now,
            page_size=functools.partial(self.page_sizes.size, PRODUCTS_ENDPOINT),
            stop_event=self.stop_event,
            observer=self.observer,
        )

    def _pass_tools(self, resource: Resource) -> PassTools:
        return PassTools(
            db=self.db,
            observer=self.observer,
            lookback_seconds=self.lookback_seconds,
            concurrency=self.concurrency,
            stamps=self.stamps,
            max_item_bytes=self.max_item_bytes,
            fetch_with=functools.partial(self.page_sizes.fetch, resource.path),
            page_size=functools.partial(self.page_sizes.size, resource.path),
            now=self.now,
            stop_event=self.stop_event,
        )

    def guarded(self, call: Callable[[], T]) -> T:
        """Run an API call unless a stop was requested; a stop during its retries interrupts."""
        if self.stop_event.is_set():
            raise Interrupted("stop requested; every page fetched so far is committed")
        try:
            return call()
        except RetriableApiError:
            if self.stop_event.is_set():
                raise Interrupted("stop requested while retrying; committed work is kept") from None
            raise

    def fetch(
        self, criteria: Callable[[Any, int], SearchCriteria], position: Any, store_code: str
    ) -> Page:
        """One page at ``position`` (``criteria(position, page_size)`` builds the request);
        adapts to a store's page-size limit; honours stop requests. Thread-safe."""
        return self.page_sizes.fetch(
            PRODUCTS_ENDPOINT,
            lambda size: self.catalog.search(criteria(position, size), store_code),
        )

    def fetch_ids(self, criteria: Callable[[int], SearchCriteria], store_code: str) -> Page:
        """One page of the id listing (large pages, shrunk to the store's limit if it has one)."""
        return self.page_sizes.fetch(
            ID_LISTING, lambda size: self.catalog.list_ids(criteria(size), store_code)
        )

    def write_page(
        self,
        conn: Connection,
        store: StoreStats,
        run_id: int,
        page: Page,
        interval: IdInterval | None = None,
    ) -> None:
        """Validate one page and write what changed, in the caller's transaction.

        ``interval``: the ids the page covers in a keyset walk; live rows there that the page
        did not carry are tombstoned (a rejected item counts as present).
        """
        with log_context(page=store.pages + 1):
            self._write_page(conn, store, run_id, page, interval)

    def _write_page(
        self,
        conn: Connection,
        store: StoreStats,
        run_id: int,
        page: Page,
        interval: IdInterval | None,
    ) -> None:
        code = store.store_code
        limit = self.stamps.limit(page.server_time)
        self.stamps.future(
            page.items, "updated_at", limit, resource="products", scope=code, name=_product_name
        )
        # The id and content hash of every item first: an item whose hash equals its live
        # row's was accepted before with exactly this content, so only the others are
        # validated in full (most of a pass over an unchanged catalog is this comparison).
        prints: dict[int, Fingerprint] = {}
        unprinted: list[Any] = []
        for item in page.items:
            fp = fingerprint(item, self.max_item_bytes, decoded=page.plain)
            if fp is None:
                unprinted.append(item)
            else:
                prints[fp.id] = fp  # a repeated id in one page: the last one wins
        stored = stored_rows(conn, code, list(prints), interval)
        rejects: list[Reject] = []
        records: dict[int, ProductRecord] = {}
        unchanged: list[int] = []
        for pid, fp in prints.items():
            row = stored.get(pid)
            if row is not None and row.deleted_at is None and row.content_hash == fp.content_hash:
                unchanged.append(pid)
                continue
            self._parse(fp.received, code, fp, records, rejects)
        for item in unprinted:  # no usable id: parse_item says what is wrong with it
            self._parse(item, code, None, records, rejects)
        now = self.now()
        outcome = write_products(conn, code, records.values(), now, run_id, stored=stored)
        outcome.unchanged += len(unchanged)
        rejected_ids = {r.product_id for r in rejects if r.product_id is not None}
        if store.rejects_pending is None:
            store.rejects_pending = has_rejects(conn, code)
        if store.rejects_pending:
            # An unchanged item may have been rejected in between with other content.
            accepted = [pid for pid in [*records, *unchanged] if pid not in rejected_ids]
            if accepted:
                clear_rejects(conn, code, accepted)
        if rejects:
            record_rejects(conn, code, rejects, run_id, now)
            store.rejects_pending = True
        deleted = 0
        if interval is not None:
            present = _present([*records, *unchanged], rejects, stored)
            if present is None:
                log.warning(
                    "store %s: a rejected item in ids (%s, %s] has neither an id nor a known "
                    "sku; deletions in that interval wait for the next full pass",
                    code,
                    interval[0],
                    "end" if interval[1] is None else interval[1],
                )
            else:
                deleted = tombstone_missing(conn, code, stored, present, now, run_id)
        update_run(
            conn,
            run_id,
            1,
            outcome.written,
            unchanged=outcome.unchanged,
            rejected=len(rejects),
            revived=outcome.revived,
            deleted=deleted,
        )
        count_page(
            conn,
            run_id,
            PRODUCTS,
            code,
            store.mode,
            written=outcome.written,
            unchanged=outcome.unchanged,
            deleted=deleted,
            rejected=len(rejects),
        )
        report = PageReport(
            items=len(page.items),
            inserted=outcome.inserted,
            updated=outcome.updated,
            revived=outcome.revived,
            unchanged=outcome.unchanged,
            deleted=deleted,
            rejected=len(rejects),
        )

        def counted() -> None:  # once the page is committed (a retried page counts once)
            self.observer.page_written(code, report)
            store.pages += 1
            store.products += outcome.written
            store.unchanged += outcome.unchanged
            store.revived += outcome.revived
            store.rejected += len(rejects)
            store.deleted += deleted
            store.rejected_ids |= rejected_ids
            with log_context(page=store.pages):
                log.debug(
                    "store %s: page %d wrote %d products (%d unchanged, %d deleted)",
                    code,
                    store.pages,
                    outcome.written,
                    outcome.unchanged,
                    deleted,
                )

        after_commit(counted)

    @staticmethod
    def _parse(
        item: Any,
        code: str,
        fp: Fingerprint | None,
        records: dict[int, ProductRecord],
        rejects: list[Reject],
    ) -> None:
        try:
            record = parse_item(item, code, fingerprint=fp)
        except ItemRejected as exc:
            reject = Reject.of(item, exc.reason)
            rejects.append(reject)
            log.warning("store %s: rejected item sku=%r: %s", code, reject.sku, exc.reason)
            return
        records[record.id] = record

    def save_checkpoint(self, conn: Connection, store_code: str, value: dict[str, Any]) -> None:
        """The full pass's checkpoint (its ranges, high water and window), in ``conn``'s
        transaction."""
        set_state(conn, store_code, CHECKPOINT, value, self.now())

    def _set_watermark(self, conn: Connection, store_code: str, high_water: str | None) -> None:
        """A complete unwindowed full pass: the watermark becomes its H0, even when that
        lowers it (a value from the future stored before must not outlive the pass). Without
        a usable H0 there is no watermark, and the next sync is a full pass again."""
        if high_water is not None and self.stamps.usable(
            high_water, self.stamps.limit(None, quiet=True)
        ):
            set_state(
                conn, store_code, WATERMARK, ChangesPosition(high_water).to_json(), self.now()
            )
            return
        if high_water is not None:
            log.warning(
                "store %s: the full pass's starting high-water mark %r is unusable; "
                "no watermark is kept, so the next sync is a full pass",
                store_code,
                high_water[:40],
            )
        delete_state(conn, store_code, WATERMARK)

    def _raise_watermark(
        self, conn: Connection, store_code: str, candidate: ChangesPosition
    ) -> None:
        """Move the watermark forward only (an incremental pass's pages)."""
        current = get_state(conn, store_code, WATERMARK)
        if current is not None:
            old = ChangesPosition.from_json(current)
            if (old.updated_at, old.last_id) >= (candidate.updated_at, candidate.last_id):
                return
        set_state(conn, store_code, WATERMARK, candidate.to_json(), self.now())

    def now(self) -> Any:
        """Naive UTC now, from the pipeline's clock (what every stored timestamp uses)."""
        return self.clock.now().replace(tzinfo=None)


def _planned(kind: RunKind) -> PlanKind:
    """A run kind the pass planner decides (a refetch is a pass over given keys instead)."""
    if kind == "refetch":
        raise ValueError("a refetch run has no planned passes")
    return kind


def _no_bounds(code: str) -> tuple[None, None]:
    """A pass in one range needs no id bounds."""
    return None, None


def _product_name(item: dict[str, Any]) -> str:
    return f"product sku={item.get('sku')!r} id={item.get('id')!r}"


def _present(carried: list[int], rejects: list[Reject], stored: dict[int, Any]) -> set[int] | None:
    """The ids a page carried, rejected items included (found by sku when they have no
    usable id); None when a rejected item cannot be matched to an id at all."""
    present = set(carried)
    by_sku: dict[str, int] | None = None
    for reject in rejects:
        if reject.product_id is not None:
            present.add(reject.product_id)
            continue
        if by_sku is None:
            by_sku = {row.sku: pid for pid, row in stored.items() if getattr(row, "sku", None)}
        pid = by_sku.get(reject.sku) if reject.sku else None
        if pid is None:
            return None
        present.add(pid)
    return present


def _skip_store(stats: RunStats, unknown: set[str], exc: StoreUnknown) -> None:
    """Skip a store view ACCS does not know, in this resource and the ones after it: one
    line (naming SYNC_STORE_CODES), the run ``partial``, and its exit code configuration's."""
    unknown.add(exc.store_code)
    line = f"store view {exc.store_code!r} skipped: {exc.message}"
    stats.denied.append(line)
    log.error("%s", line)
    if stats.exception is None:
        stats.exception = exc


def _denied(
    resource: str, acl: str, exc: PermissionDenied | EndpointMissing, path: str = ""
) -> str:
    """One line naming the resource and what to do: grant the ACL it needs (as ACCS named
    it, if it did), or leave out a resource this instance does not have (at ``path``)."""
    if isinstance(exc, EndpointMissing):
        return (
            f"{resource}: ACCS has no {path} on this instance (404); leave {resource} out of "
            "SYNC_RESOURCES"
        )
    return (
        f"{resource}: ACCS refused access ({exc.status or 403}); the API credential's "
        f"integration needs the ACL resource {exc.acl or acl} (or leave {resource} out of "
        "SYNC_RESOURCES)"
    )


def _committed(stats: RunStats) -> str:
    """What a run had committed when it stopped, in words."""
    pages = stats.pages + sum(r.pages for r in stats.resources)
    return f"this run committed {pages} pages ({stats.products} products written) before it"


def _describe(window: Window) -> str:
    return describe_window(window.to_json())

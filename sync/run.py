"""One sync run: the run lock, a ``sync_runs`` row, every resource in every store view, the
outcome and the summary line; each resource is driven over the store views by
:mod:`sync.drive`.

A run takes the database's run lock (a second instance waits ``SYNC_LOCK_WAIT_SECONDS``, then
gives up recording nothing), marks the runs a dead process left ``running`` abandoned, records
itself in ``sync_runs`` and drives each resource of :mod:`sync.resources`, in the declared
order, over the configured store views (one pass in all for a resource that is the same in
every store view). Which pass runs a resource is the declaration's ``runs``: the products' passes
(:mod:`sync.product_pass`) or the resource engine (:mod:`sync.engine`). Whatever the pass, the
driver treats the answers of ACCS alike:

* a store view ACCS does not know is skipped, in this resource and the ones after it, with
  one line naming ``SYNC_STORE_CODES``; the run ends ``partial`` (exit code: configuration);
* a 403 (or a 404 for an endpoint the instance may lack) skips the resource with one line
  naming the ACL it needs; the others still run and the run ends ``partial``; a 404 for a
  resource declared ``required`` (products) is a wrong ``API_ENDPOINT`` and fails the run;
* the organisation refused (:class:`~sync.errors.OrgRejected`) fails the run: every request
  would be refused alike.

Every page is written in one transaction together with the state that says how far its pass
got, so a crash at any moment leaves the database at a page boundary. The run never raises for
a failed sync: the outcome is recorded and returned.

Layers call down: the run hands each pass small records of values and callables
(:mod:`sync.passtools`), never itself.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sync.clock import Clock
from sync.db.faults import DatabaseFailed, DatabaseUnavailable, describe
from sync.db.lock import instance_lock
from sync.db.rejects import prune_rejects
from sync.db.retry import Transactions
from sync.db.state import FinishedStatus, mark_stale_runs, record_outcome, start_run
from sync.drive import LISTING_PAGE_SIZE, Catalog, Driver
from sync.engine import Lister
from sync.errors import AccsSyncError, Interrupted
from sync.keys import EventKeys, Keys
from sync.keyspass import KeysTools, refetch, refetch_events
from sync.logcontext import log_context
from sync.models import DEFAULT_MAX_ITEM_BYTES
from sync.observe import Observer
from sync.passtools import PassTools
from sync.product_pass import save_checkpoint
from sync.resources import CATEGORIES, PRODUCTS, RESOURCES, SOURCE_ITEMS, Resource
from sync.stats import RunStats
from sync.window import RunKind, Window

__all__ = ["Catalog", "Pipeline"]

log = logging.getLogger(__name__)


class Pipeline:
    """Mirrors the configured resources and store views into the database, one page per
    transaction."""

    #: The id listing's page size (see :data:`sync.drive.LISTING_PAGE_SIZE`).
    listing_page_size = LISTING_PAGE_SIZE

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
        resources: Sequence[str] = (PRODUCTS.name,),
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
        self.lister = lister
        #: Which resources a run mirrors (:func:`sync.resources.resource_names`), in order.
        self.resources = self._check_resources(resources)
        #: Told what the run does as it happens (progress, metrics); see :mod:`sync.observe`.
        self.observer = observer or Observer()
        self.scrub = scrub
        self.clock = clock
        self.store_codes = store_codes
        #: Drives each resource over the store views, and hands its passes what they use.
        self.driver = Driver(
            db=self.db,
            catalog=catalog,
            lister=lister,
            page_size=page_size,
            concurrency=max(1, concurrency),
            lookback_seconds=lookback_seconds,
            max_item_bytes=max_item_bytes,
            observer=self.observer,
            stop_event=self.stop_event,
            now=self.now,
            scrub=scrub,
            listing_page_size=self.listing_page_size,
        )

    # -- the run ---------------------------------------------------------------------------

    def run(
        self,
        kind: RunKind = "sync",
        window: Window | None = None,
        resources: Sequence[str] | None = None,
        keys: Keys | EventKeys | None = None,
        commit: Callable[[Connection], None] | None = None,
    ) -> RunStats:
        """Run once over every store view.

        ``kind``: ``sync`` (incremental, or full when there is no watermark; resumes an
        interrupted full pass), ``backfill`` (a full pass; ``window`` restricts it to an
        ``updated_at`` range, for the resources with an incremental field; the others are
        skipped; a windowed pass never tombstones nor moves the watermark), ``reconcile`` (a
        full content pass; its pages tombstone what is gone) or ``refetch`` (a pass over the
        given ``keys`` only, :mod:`sync.keyspass`; no watermark moves; products ACCS refuses
        fail it, refused source items or categories end it ``partial``).
        :func:`sync.planner.plan` decides each pass but a refetch. ``keys`` may be an event
        batch's :class:`~sync.keys.EventKeys` (:func:`sync.keyspass.refetch_events`).

        ``commit``: with a refetch, every row, change log and tombstone the refetch writes is
        written in ONE transaction, with what ``commit(conn)`` writes (the event journal's
        position), committed together after the last answer was read; on any error nothing
        of it is (the next attempt reads the same events again).

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
        if commit is not None and kind != "refetch":
            raise ValueError("only a refetch commits in one transaction")
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
                    return self._run_locked(kind, window, chosen, keys, commit)
                finally:
                    self.db.guard = None
        except SQLAlchemyError as exc:  # before the run was recorded: nothing was written
            raise DatabaseFailed(
                f"database error ({describe(exc, self.scrub)}); check DATABASE_URL and that "
                "the database server is reachable"
            ) from None

    def _check_resources(self, resources: Sequence[str]) -> tuple[str, ...]:
        chosen = tuple(resources)
        unknown = [r for r in chosen if r not in RESOURCES]
        if unknown:
            raise ValueError(f"unknown resources: {', '.join(unknown)}")
        if self.lister is None and any(RESOURCES[r].runs == "resource" for r in chosen):
            raise ValueError("resources other than products need a lister")
        return chosen

    def _run_locked(
        self,
        kind: RunKind,
        window: Window,
        resources: tuple[str, ...],
        keys: Keys | EventKeys | None = None,
        commit: Callable[[Connection], None] | None = None,
    ) -> RunStats:
        started = self.clock.monotonic()
        self.driver.stamps.start_run()
        run_id = start_run(self.engine, kind, self.store_codes, self.now())
        with log_context(run_id=run_id, kind=kind):
            return self._run_started(kind, window, run_id, started, resources, keys, commit)

    def _run_started(
        self,
        kind: RunKind,
        window: Window,
        run_id: int,
        started: float,
        resources: tuple[str, ...],
        keys: Keys | EventKeys | None = None,
        commit: Callable[[Connection], None] | None = None,
    ) -> RunStats:
        stats = RunStats(run_id=run_id, kind=kind)
        self.observer.run_started(run_id, kind)
        outcome: FinishedStatus
        unknown: set[str] = set()  # store view codes ACCS said it does not know
        try:
            if keys and commit is None:  # a pass over given keys instead of the passes below
                self._refetch(self.db, keys, resources, stats, run_id)
                resources = ()
            elif keys and commit is not None:  # ... in one transaction with commit's writes
                with self.db.held() as held:
                    self._refetch(held, keys, resources, stats, run_id)
                    commit(held.conn)
                    held.commit()
                resources = ()
            for resource in [r for r in RESOURCES.values() if r.name in resources]:
                # In the declared order, products first, whatever order they were named in.
                self.driver.drive(resource, self.store_codes, stats, kind, run_id, window, unknown)
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

    def _refetch(
        self,
        db: Transactions,
        keys: Keys | EventKeys,
        resources: tuple[str, ...],
        stats: RunStats,
        run_id: int,
    ) -> None:
        """The pass over given keys (:mod:`sync.keyspass`), its database work through ``db``."""
        tools = KeysTools(
            products=dataclasses.replace(self.driver.product_tools(), db=db),
            observer=self.observer,
            source_items=self._tools(SOURCE_ITEMS, db),
            lister=self.lister,
            categories=self._tools(CATEGORIES, db),
        )
        if isinstance(keys, EventKeys):
            refetch_events(tools, keys, self.store_codes, resources, stats, run_id)
        else:
            refetch(tools, keys, self.store_codes, resources, stats, run_id)

    def _tools(self, resource: Resource, db: Transactions) -> PassTools | None:
        if self.lister is None:
            return None
        return dataclasses.replace(self.driver.pass_tools(resource), db=db)

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

    # -- the products' page writer and checkpoint, for benchmarks (bench/page_cpu.py) ----------

    @property
    def write_page(self) -> Callable[..., None]:
        """The products' page writer, :meth:`sync.product_page.ProductPageWriter.write_page`:
        ``write_page(conn, store, run_id, page, interval=None)`` in ``conn``'s transaction."""
        return self.driver.products_writer.write_page

    def save_checkpoint(self, conn: Connection, store_code: str, value: dict[str, Any]) -> None:
        """The products' full-pass checkpoint, in ``conn``'s transaction."""
        save_checkpoint(conn, store_code, value, self.now)

    def now(self) -> Any:
        """Naive UTC now, from the run's clock (what every stored timestamp uses)."""
        return self.clock.now().replace(tzinfo=None)


def _committed(stats: RunStats) -> str:
    """What a run had committed when it stopped, in words."""
    pages = stats.pages + sum(r.pages for r in stats.resources)
    return f"this run committed {pages} pages ({stats.products} products written) before it"

"""The products' passes over one store view: full (resumable, concurrent id ranges) or
incremental, chosen from the stored state. What the declaration
(:data:`sync.resources.PRODUCTS`) says is read from it: the ``sync_state`` keys of the
watermark and the checkpoint, the endpoint, the incremental field.

* **full** (first sync, ``backfill``, ``reconcile``): every product by entity id, in
  ``SYNC_CONCURRENCY`` id ranges fetched at the same time (:mod:`sync.fullpass`); it compares
  content hashes, so it doubles as the content reconciliation that catches stock and image
  changes (which do not move ``updated_at``). Each page also tombstones the mirrored rows of
  the id interval it covers that it did not carry, so no separate id listing is needed. Every
  page is committed with the checkpoint; an interrupted pass resumes from it.
* **incremental**: products with ``updated_at`` past the watermark (minus the lookback), by
  ``(updated_at, id)`` (:class:`~sync.api.paging.ChangesWalk`), the next page fetched while the
  current one is written; each committed page raises the watermark (every change older than
  its newest ``updated_at`` is in it or an earlier page). It ends by comparing the store's live
  row count with ACCS's ``total_count`` and runs the id listing (:mod:`sync.reconcile`) when
  they differ, so deletions show up after the next incremental run.

Watermarks come from ACCS's data, never from our clock (:mod:`sync.watermark`). A full pass
first reads the newest usable ``updated_at`` upstream (H0) and, once complete and unwindowed,
sets the watermark to H0, lowering it if need be: any product changed while the pass was paging
has ``updated_at >= H0`` and is picked up by the next incremental run. A windowed backfill never
moves it. A stored watermark that is unusable is reported once and replaced by a full pass.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from sync.accs_time import format_accs_time, parse_accs_time
from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.paging import ChangesPosition, ChangesWalk, Page
from sync.background import in_background
from sync.db.runlog import start_pass
from sync.db.state import delete_state, get_raw_state, get_state, set_state
from sync.fullpass import FullPass
from sync.passtools import PassTools, ProductProbes, ProductTools
from sync.planner import Kind as PlanKind
from sync.planner import Plan, Stored, plan, shape_of
from sync.ranges import RangeSet, even_ranges
from sync.reconcile import counts_differ, reconcile_ids
from sync.resources import PRODUCTS
from sync.resume import ranges_problem
from sync.stats import StoreStats
from sync.watermark import Distrusted
from sync.window import Window
from sync.workers import Fetched, FixedUnits, run_pool, walk_pages

__all__ = ["CHECKPOINT", "WATERMARK", "ProductPass"]

log = logging.getLogger(__name__)

#: The products' ``sync_state`` keys, as declared (a public contract: never renamed).
WATERMARK = PRODUCTS.state.watermark
CHECKPOINT: str = PRODUCTS.state.checkpoint or ""
assert CHECKPOINT, "products declare their checkpoint key"
#: Products as the pass planner sees them: incremental on updated_at, keyed by entity id.
PRODUCT_SHAPE = shape_of(PRODUCTS)


class ProductPass:
    """The products of one store view, in a full or an incremental pass (see the module
    docstring); ``store`` collects its counts. Handed values and callables, never the run."""

    def __init__(
        self,
        tools: ProductTools,
        common: PassTools,
        probes: ProductProbes,
        *,
        store: StoreStats,
        run_id: int,
        kind: PlanKind,
        window: Window,
    ) -> None:
        self.tools = tools
        self.common = common
        self.probes = probes
        self.stats = store
        self.run_id = run_id
        self.kind = kind
        self.window = window

    @property
    def code(self) -> str:
        return self.stats.store_code

    def run(self) -> Plan:
        """Resume an interrupted full pass, or run the pass ``kind`` and the state ask for
        (:func:`sync.planner.plan` decides); returns the plan."""
        store, window, db, code = self.stats, self.window, self.tools.db, self.code
        chosen = plan(PRODUCT_SHAPE, self.kind, window.to_json(), self._stored_state())
        if chosen.discard:  # reported once: the next run does not find it again
            log.warning("store %s: %s", code, chosen.reason)
            db.write(lambda conn: delete_state(conn, code, CHECKPOINT))
        else:
            log.debug("store %s: %s", code, chosen.reason)
        run_pass: Callable[[], None]
        if chosen.mode == "resumed":
            store.mode = "full (resumed)"
            run_pass = functools.partial(self._full_pass, chosen.start, Window())
        elif chosen.mode == "full":
            store.mode = "full" if not window else f"full {window.describe()}"
            run_pass = functools.partial(self._full_pass, None, window)
        else:
            store.mode = "incremental"
            run_pass = functools.partial(self._incremental_or_full, chosen.start)
        where = (self.run_id, PRODUCTS.name, self.code, store.mode)
        db.write(lambda conn: start_pass(conn, *where))
        observer = self.common.observer
        observer.store_started(self.code, store.mode, PRODUCTS.name)
        run_pass()
        watermark = db.read(lambda conn: get_state(conn, self.code, WATERMARK))
        observer.store_finished(
            self.code, None if watermark is None else watermark.get("updated_at")
        )
        if not window:  # a windowed backfill saw only part of the catalog
            observer.resource_finished(PRODUCTS.name, self.code)
        log.info(
            "store %s: %s pass wrote %d products (%d unchanged) in %d pages",
            self.code,
            store.mode,
            store.products,
            store.unchanged,
            store.pages,
        )
        return chosen

    def _stored_state(self) -> Stored:
        """What ``sync_state`` holds for this store view, judged for the planner: the
        checkpoint (or what is wrong with it), the watermark when an incremental pass could use
        it."""
        code = self.code
        raw_watermark, checkpoint = self.tools.db.read(
            lambda conn: (
                get_raw_state(conn, code, WATERMARK),
                get_raw_state(conn, code, CHECKPOINT),
            )
        )
        problem = None if checkpoint is None else _checkpoint_problem(checkpoint)
        usable = checkpoint is not None and problem is None
        position: ChangesPosition | None = None
        if self.kind == "sync" and not usable:
            position = self._stored_watermark(raw_watermark)
        return Stored(
            watermark=position,
            watermark_unusable=raw_watermark is not None and position is None,
            checkpoint=checkpoint if usable else None,
            checkpoint_window=Window.from_json(checkpoint.get("window")).to_json()
            if usable
            else None,
            checkpoint_problem=problem,
        )

    # -- the full pass -----------------------------------------------------------------------

    def _full_pass(self, checkpoint: dict[str, Any] | None, window: Window) -> None:
        """Every product by id (within ``window``), in concurrent id ranges; writes only what
        changed and, unwindowed, tombstones what each page's interval no longer holds. A
        complete unwindowed pass sets the watermark to H0, lowering it if need be."""
        code, common = self.code, self.common
        highest: int | None = None
        if checkpoint is not None:
            ranges = RangeSet.from_checkpoint(checkpoint, common.page_size())
            high_water = checkpoint.get("high_water")
            window = Window.from_json(checkpoint.get("window"))
            log.info("store %s: resuming full pass (%d id ranges left)", code, len(ranges))
            if common.concurrency > 1 and not ranges.finished:
                highest = self.probes.id_bounds(code)[1]
        else:
            # The probes go together (one round trip), and both before paging: anything
            # changed while we page has updated_at >= the newest.
            bounds = self.probes.id_bounds if common.concurrency > 1 else _no_bounds
            with in_background(bounds, code, name=f"accs-sync-{code}-probe") as probe:
                newest = self.probes.newest(code)
                lowest, highest = probe.result()
            high_water = common.stamps.high_water(
                newest.updated_at,
                newest.server_time,
                self._newest_below,
                "updated_at",
                f"store {code}",
            )
            if not window:
                common.observer.store_total(code, newest.total_count)
            ranges = RangeSet(even_ranges(lowest, highest, common.concurrency), common.page_size())
        ranges.set_highest(highest)
        extra = {"high_water": high_water, "window": window.to_json()}
        if checkpoint is None:
            start = {"ranges": ranges.checkpoint(), **extra}
            self.tools.db.write(lambda conn: self.tools.save_checkpoint(conn, code, start))
        FullPass(
            self.tools,
            self.stats,
            self.run_id,
            ranges,
            workers=common.concurrency,
            filters=window.groups(PRODUCTS.incremental or "updated_at"),
            tombstones=not window,
            checkpoint=extra,
        ).run()
        if ranges.splits:
            log.debug("store %s: %d id ranges were split to keep workers busy", code, ranges.splits)

        def complete(conn: Connection) -> None:
            delete_state(conn, code, CHECKPOINT)
            if not window:
                self._set_watermark(conn, high_water)

        self.tools.db.write(complete)

    def _newest_below(self, condition: Filter, size: int) -> Page:
        """The H0 probe's second try: the newest ``size`` products matching ``condition``."""
        criteria = SearchCriteria(
            groups=((condition,),),
            sorts=(Sort("updated_at", "DESC"), Sort("entity_id", "DESC")),
            page_size=size,
        )
        return self.probes.search(criteria, self.code)

    # -- the incremental pass ----------------------------------------------------------------

    def _stored_watermark(self, raw: Any) -> ChangesPosition | None:
        """Where the incremental pass starts, or None (none stored, or unusable: reported, and
        a full pass replaces it). Its time is judged against ACCS's clock on the incremental
        pass's first page (:class:`Distrusted`)."""
        stamps = self.common.stamps
        value = stamps.stored(f"store {self.code}", raw)
        if value is None:
            return None
        try:
            return ChangesPosition.from_json(value)
        except (KeyError, TypeError, ValueError):
            stamps.report(f"store {self.code}", value.get("id"), "has an id that is not an integer")
            return None

    def _incremental_or_full(self, watermark: ChangesPosition) -> None:
        try:
            self._incremental(watermark)
        except Distrusted:
            self.stats.mode = "full"
            self._full_pass(None, Window())

    def _incremental(self, watermark: ChangesPosition) -> None:
        common, store, code = self.common, self.stats, self.code
        walk = ChangesWalk()
        # Start a little before the watermark: a product can be changed within a second we
        # already read (ids in one second are not in time order), and Magento stamps
        # updated_at before its transaction commits, so a change can appear "in the past".
        start = parse_accs_time(watermark.updated_at) - timedelta(seconds=common.lookback_seconds)
        position = ChangesPosition(format_accs_time(start), 0, "from")
        high_water = watermark

        def commit(fetched: Fetched[ChangesWalk, Page]) -> None:
            nonlocal high_water
            page = fetched.page
            limit = common.stamps.limit(page.server_time)
            if store.pages == 0:
                problem = common.stamps.problem(watermark.to_json(), limit)
                if problem is not None:
                    common.stamps.report(f"store {code}", watermark.updated_at, problem)
                    raise Distrusted
                # Everything changed since the watermark, less a lookback.
                common.observer.store_total(code, page.total_count)
            high_water = ChangesWalk.high_water(
                high_water, page, functools.partial(common.stamps.usable, limit=limit)
            )

            def write(conn: Connection, mark: ChangesPosition = high_water) -> None:
                self.tools.write_page(conn, store, self.run_id, page, None)
                self._raise_watermark(conn, mark)

            self.tools.db.write(write)

        def pages(walk: ChangesWalk) -> Iterator[Fetched[ChangesWalk, Page]]:
            return walk_pages(
                walk, walk, position, lambda w, at: self.tools.fetch(w.criteria, at, code)
            )

        # With concurrency, the next page is fetched while this one is being written.
        run_pool(
            f"{code}-ahead",  # its thread: accs-sync-<store>-ahead-0
            FixedUnits([walk]),
            pages,
            commit,
            workers=1 if common.concurrency > 1 else 0,
            read_ahead=True,
            stop_event=common.stop_event,
        )
        # Deletions do not show in updated_at; a differing count says something is gone
        # (or missing), and then the id listing finds out what.
        if counts_differ(self.tools, store):
            reconcile_ids(self.tools, store, self.run_id)

    # -- the watermark -----------------------------------------------------------------------

    def _set_watermark(self, conn: Connection, high_water: str | None) -> None:
        """A complete unwindowed full pass: the watermark becomes its H0, even when that
        lowers it (a value from the future stored before must not outlive the pass). Without
        a usable H0 there is no watermark, and the next sync is a full pass again."""
        stamps = self.common.stamps
        if high_water is not None and stamps.usable(high_water, stamps.limit(None, quiet=True)):
            value = ChangesPosition(high_water).to_json()
            set_state(conn, self.code, WATERMARK, value, self.common.now())
            return
        if high_water is not None:
            log.warning(
                "store %s: the full pass's starting high-water mark %r is unusable; "
                "no watermark is kept, so the next sync is a full pass",
                self.code,
                high_water[:40],
            )
        delete_state(conn, self.code, WATERMARK)

    def _raise_watermark(self, conn: Connection, candidate: ChangesPosition) -> None:
        """Move the watermark forward only (an incremental pass's pages)."""
        current = get_state(conn, self.code, WATERMARK)
        if current is not None:
            old = ChangesPosition.from_json(current)
            if (old.updated_at, old.last_id) >= (candidate.updated_at, candidate.last_id):
                return
        set_state(conn, self.code, WATERMARK, candidate.to_json(), self.common.now())


def _no_bounds(code: str) -> tuple[None, None]:
    """A pass in one range needs no id bounds."""
    return None, None


def _checkpoint_problem(value: Any) -> str | None:
    """What is wrong with a stored products checkpoint (read back as hostile: edited by hand or
    by another program), or None when it resumes (its shape in
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


def save_checkpoint(
    conn: Connection, store_code: str, value: dict[str, Any], now: Callable[[], Any]
) -> None:
    """The full pass's checkpoint (its ranges, high water and window), in ``conn``'s
    transaction, under the declared key."""
    set_state(conn, store_code, CHECKPOINT, value, now())

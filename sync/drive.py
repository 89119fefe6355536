"""The one driver of every resource: a resource over the store views, and what its passes are
handed.

:meth:`Driver.drive` runs the pass the declaration names (``runs``: the products' passes,
:class:`sync.product_pass.ProductPass`, or the resource engine,
:class:`sync.engine.ResourcePass`) once per store view ACCS knows, or once in all for a
resource that is the same in every store view, and treats ACCS's answers alike for every
resource (see :mod:`sync.run`): a store view ACCS does not know is skipped in this resource and
the ones after it; a 403, or a 404 for a resource that is not ``required``, skips the resource
with one line naming its ACL; the organisation refused fails the run.

The driver holds a run's handles (the ACCS client, the database's transactions, each
endpoint's page size, the watermark judge, the products' page writer) and hands the passes
small records of values and callables (:mod:`sync.passtools`), never itself.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sync.api.criteria import SearchCriteria
from sync.api.paging import Page
from sync.api.products import Newest
from sync.db.retry import Transactions
from sync.engine import Lister, ResourcePass
from sync.errors import (
    EndpointMissing,
    Interrupted,
    OrgRejected,
    PermissionDenied,
    RetriableApiError,
    StoreUnknown,
)
from sync.logcontext import log_context
from sync.observe import Observer
from sync.passtools import ID_LISTING, PageSizes, PassTools, ProductProbes, ProductTools
from sync.planner import Kind as PlanKind
from sync.planner import Plan
from sync.product_page import ProductPageWriter
from sync.product_pass import ProductPass, save_checkpoint
from sync.resources import PRODUCTS, Resource, refused_line
from sync.stats import ResourceStats, RunStats, StoreStats
from sync.watermark import Stamps
from sync.window import RunKind, Window

__all__ = ["LISTING_PAGE_SIZE", "Catalog", "Driver"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The id listing asks for this many ids per request whatever SYNC_PAGE_SIZE is: ACCS's most
#: (larger is a 400 on stores with input limits). A store with a lower limit answers 400
#: "Maximum SearchCriteria pageSize is N" and N is used from then on.
LISTING_PAGE_SIZE = 300


class Catalog(Protocol):
    """What the products' passes need from the ACCS client (a seam for tests)."""

    def search(self, criteria: SearchCriteria, store_code: str) -> Page: ...

    def list_ids(self, criteria: SearchCriteria, store_code: str) -> Page: ...

    def count(self, store_code: str) -> int: ...

    def newest(self, store_code: str) -> Newest: ...

    def id_bounds(self, store_code: str) -> tuple[int | None, int | None]: ...


@dataclass(frozen=True)
class _Unit:
    """One pass of one resource over one store view, as the driver sees it."""

    #: The store view in log lines (``*`` for a resource that is the same in every one).
    store_code: str
    #: Runs the pass; returns what the planner chose (``skip``: nothing was done).
    run: Callable[[], Plan]
    #: Its counts leave the run's (ACCS does not know the store view).
    forget: Callable[[], None]
    #: It was refused: the line that says so.
    refused: Callable[[str], None]


@dataclass
class Driver:
    """Drives resources over store views for one :class:`~sync.run.Pipeline` (its settings
    and handles, as values)."""

    db: Transactions
    catalog: Catalog
    lister: Lister | None
    page_size: int
    concurrency: int
    lookback_seconds: int
    max_item_bytes: int
    observer: Observer
    stop_event: threading.Event
    now: Callable[[], datetime]
    scrub: Callable[[str], str]
    listing_page_size: int = LISTING_PAGE_SIZE

    def __post_init__(self) -> None:
        #: Each endpoint's page size: SYNC_PAGE_SIZE (the id listing: its own) until the store
        #: caps that endpoint's pageSize.
        self.page_sizes = PageSizes(
            self.page_size, self.guarded, {ID_LISTING: self.listing_page_size}
        )
        #: Judges upstream updated_at values before one becomes a watermark.
        self.stamps = Stamps(self.now, self.scrub)
        self.products_writer = ProductPageWriter(
            self.stamps, self.observer, self.now, self.max_item_bytes
        )

    def drive(
        self,
        resource: Resource,
        store_codes: Sequence[str],
        stats: RunStats,
        kind: RunKind,
        run_id: int,
        window: Window,
        unknown: set[str],
    ) -> None:
        """One pass of ``resource`` per store view of ``store_codes`` ACCS knows (one in all,
        in the first store view ACCS knows, for a resource that is the same in each); the
        store views and the refusals ACCS answers are handled as the module docstring says."""
        for store_code in [code for code in store_codes if code not in unknown]:
            unit = self._unit(resource, store_code, stats, kind, run_id, window)
            with log_context(store=unit.store_code):
                try:
                    chosen = unit.run()
                except StoreUnknown as exc:
                    unit.forget()
                    _skip_store(stats, unknown, exc)
                    continue  # the next store view (the next one to ask, if not per store)
                except OrgRejected:
                    raise  # the organisation, not an ACL: every request is refused alike
                except EndpointMissing:
                    if resource.required:
                        raise  # a wrong API_ENDPOINT, not an instance without it
                    line = refused_line(resource, None)
                    unit.refused(line)
                    stats.denied.append(line)
                    log.error("%s", line)
                    return  # every store view would be refused alike
                except PermissionDenied as exc:
                    line = refused_line(resource, exc)
                    unit.refused(line)
                    stats.denied.append(line)
                    log.error("%s", line)
                    return
            if chosen.mode == "skip":  # e.g. a windowed backfill of a resource with no window
                unit.forget()
                return  # every store view alike
            if not resource.per_store:
                return

    def _unit(
        self,
        resource: Resource,
        store_code: str,
        stats: RunStats,
        kind: RunKind,
        run_id: int,
        window: Window,
    ) -> _Unit:
        """The pass the declaration names, over ``store_code``, its counts in ``stats``."""
        if resource.runs == "products":
            store = StoreStats(store_code=store_code, mode="")
            stats.stores.append(store)
            product_pass = ProductPass(
                self.product_tools(),
                self.pass_tools(resource),
                self._product_probes(),
                store=store,
                run_id=run_id,
                kind=_planned(kind),
                window=window,
            )
            return _Unit(
                store_code, product_pass.run, functools.partial(stats.stores.remove, store), _noop
            )
        assert self.lister is not None
        rstats = ResourceStats(resource.name, store_code if resource.per_store else "*")
        stats.resources.append(rstats)
        resource_pass = ResourcePass(
            resource,
            self.pass_tools(resource),
            self.lister,
            store_code=store_code,
            request_store=store_code,
            run_id=run_id,
            stats=rstats,
        )

        def refused(line: str) -> None:
            rstats.error = line

        return _Unit(
            rstats.store_code,
            functools.partial(resource_pass.run, _planned(kind), window.to_json()),
            functools.partial(stats.resources.remove, rstats),
            refused,
        )

    # -- what the passes are handed (layers call down) --------------------------------------------

    def product_tools(self) -> ProductTools:
        return ProductTools(
            db=self.db,
            fetch=self._fetch,
            fetch_ids=self._fetch_ids,
            count=lambda code: self.guarded(lambda: self.catalog.count(code)),
            write_page=self.products_writer.write_page,
            save_checkpoint=functools.partial(save_checkpoint, now=self.now),
            now=self.now,
            page_size=functools.partial(self.page_sizes.size, PRODUCTS.path),
            stop_event=self.stop_event,
            observer=self.observer,
        )

    def _product_probes(self) -> ProductProbes:
        catalog = self.catalog
        return ProductProbes(
            newest=lambda code: self.guarded(lambda: catalog.newest(code)),
            id_bounds=lambda code: self.guarded(lambda: catalog.id_bounds(code)),
            search=lambda criteria, code: self.guarded(lambda: catalog.search(criteria, code)),
        )

    def pass_tools(self, resource: Resource) -> PassTools:
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

    def _fetch(
        self, criteria: Callable[[Any, int], SearchCriteria], position: Any, store_code: str
    ) -> Page:
        """One page of products at ``position`` (``criteria(position, page_size)`` builds the
        request); adapts to a store's page-size limit; honours stop requests. Thread-safe."""
        return self.page_sizes.fetch(
            PRODUCTS.path,
            lambda size: self.catalog.search(criteria(position, size), store_code),
        )

    def _fetch_ids(self, criteria: Callable[[int], SearchCriteria], store_code: str) -> Page:
        """One page of the id listing (large pages, shrunk to the store's limit if it has one)."""
        return self.page_sizes.fetch(
            ID_LISTING, lambda size: self.catalog.list_ids(criteria(size), store_code)
        )


def _planned(kind: RunKind) -> PlanKind:
    """A run kind the pass planner decides (a refetch is a pass over given keys instead)."""
    if kind == "refetch":
        raise ValueError("a refetch run has no planned passes")
    return kind


def _noop(line: str) -> None:
    """A refusal with nowhere to note it but the run's ``denied`` lines."""


def _skip_store(stats: RunStats, unknown: set[str], exc: StoreUnknown) -> None:
    """Skip a store view ACCS does not know, in this resource and the ones after it: one
    line (naming SYNC_STORE_CODES), the run ``partial``, and its exit code configuration's."""
    unknown.add(exc.store_code)
    line = f"store view {exc.store_code!r} skipped: {exc.message}"
    stats.denied.append(line)
    log.error("%s", line)
    if stats.exception is None:
        stats.exception = exc

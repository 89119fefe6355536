"""What a pass is handed by the run that drives it: values and callables, never the run itself.

Layers call down. The run's driver (:mod:`sync.drive`) builds these small frozen records and
hands them to the passes below it (:mod:`sync.product_pass`, :mod:`sync.fullpass`,
:mod:`sync.reconcile`, :mod:`sync.engine`, :mod:`sync.keyspass`), which use exactly what is in
them: a pass can be read, and tested, without the run.

:class:`PageSizes` is each endpoint's page size. A store may cap ``pageSize`` (Magento's webapi
input limit answers 400 "Maximum SearchCriteria pageSize is N"); the cap is learnt for the
endpoint that answered it and used there from then on, never for the others: a cap on
``/V1/inventory/source-items`` does not shrink the pages of ``/V1/products``, and the id
listing keeps its own large pages.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from sync.api.criteria import SearchCriteria
from sync.api.paging import Page
from sync.api.products import Newest
from sync.db.changes import IdInterval
from sync.db.retry import Transactions
from sync.errors import PageSizeLimited
from sync.observe import Observer
from sync.resources import PRODUCTS
from sync.stats import StoreStats
from sync.watermark import Stamps

__all__ = [
    "ID_LISTING",
    "PRODUCTS_ENDPOINT",
    "PageSizes",
    "PassTools",
    "ProductProbes",
    "ProductTools",
]

log = logging.getLogger(__name__)

#: The product search (the declaration's endpoint); its page size is SYNC_PAGE_SIZE.
PRODUCTS_ENDPOINT = PRODUCTS.path
#: The id listing: the same path with ``fields=items[id,...]``, so tiny items in large pages.
ID_LISTING = f"{PRODUCTS.path} (id listing)"


class PageSizes:
    """The page size of every endpoint: its own default (``default`` for those without one)
    until the store caps it. Thread-safe: workers of one pass share it."""

    def __init__(
        self,
        default: int,
        guarded: Callable[[Callable[[], Page]], Page],
        own: Mapping[str, int] | None = None,
    ) -> None:
        self._default = default
        self._guarded = guarded
        self._sizes = dict(own or {})
        self._lock = threading.Lock()

    def size(self, endpoint: str) -> int:
        """The page size ``endpoint`` is asked for now."""
        with self._lock:
            return self._sizes.get(endpoint, self._default)

    def fetch(self, endpoint: str, call: Callable[[int], Page]) -> Page:
        """``call(page_size)`` through ``guarded`` (stop requests); a cap the store answers is
        learnt for ``endpoint`` and the call repeated with it."""
        while True:
            size = self.size(endpoint)
            try:
                return self._guarded(functools.partial(call, size))
            except PageSizeLimited as exc:
                if not 0 < exc.limit < size:
                    raise
                self._learn(endpoint, exc.limit)

    def _learn(self, endpoint: str, limit: int) -> None:
        with self._lock:
            if limit >= self._sizes.get(endpoint, self._default):
                return  # another worker learnt it first
            self._sizes[endpoint] = limit
        log.warning("store caps pageSize at %d on %s; using that from now on", limit, endpoint)


@dataclass(frozen=True)
class ProductTools:
    """What the product passes (the full pass, the id listing) use of one run."""

    #: The run's database work, retried through lost connections (SYNC_DB_RETRY_SECONDS).
    db: Transactions
    #: One page: ``fetch(criteria, position, store_code)``, ``criteria(position, size)``.
    fetch: Callable[[Callable[[Any, int], SearchCriteria], Any, str], Page]
    #: One page of the id listing: ``fetch_ids(criteria, store_code)``, ``criteria(size)``.
    fetch_ids: Callable[[Callable[[int], SearchCriteria], str], Page]
    #: ACCS's product count of a store view (one request).
    count: Callable[[str], int]
    #: Validate and write one page in the caller's transaction:
    #: ``write_page(conn, store, run_id, page, interval)``.
    write_page: Callable[[Connection, StoreStats, int, Page, IdInterval | None], None]
    #: The full pass's checkpoint, in the caller's transaction: ``(conn, store_code, value)``.
    save_checkpoint: Callable[[Connection, str, dict[str, Any]], None]
    now: Callable[[], datetime]
    #: The product search's page size now (a store's cap may have lowered it).
    page_size: Callable[[], int]
    #: Set when the run is asked to stop.
    stop_event: threading.Event
    #: Told what the run does (pages written, tombstones of the id listing).
    observer: Observer


@dataclass(frozen=True)
class ProductProbes:
    """The products' one-request probes, each honouring the run's stop requests."""

    #: The newest ``updated_at`` of a store view and its product count (the H0 probe).
    newest: Callable[[str], Newest]
    #: The lowest and highest entity id of a store view.
    id_bounds: Callable[[str], tuple[int | None, int | None]]
    #: One search with fixed criteria: ``search(criteria, store_code)``.
    search: Callable[[SearchCriteria, str], Page]


@dataclass(frozen=True)
class PassTools:
    """What a resource pass (:mod:`sync.engine`) uses of one run."""

    db: Transactions
    observer: Observer
    lookback_seconds: int
    #: SYNC_CONCURRENCY: how many partitions of a resource are walked at once.
    concurrency: int
    #: Judges upstream updated_at values before one becomes a watermark.
    stamps: Stamps
    #: SYNC_MAX_ITEM_BYTES: an item whose JSON text is larger is rejected.
    max_item_bytes: int
    #: ``fetch_with(call)``: ``call(page_size)``, one page of the pass's endpoint, adapting to
    #: its page-size cap and honouring stop requests.
    fetch_with: Callable[[Callable[[int], Page]], Page]
    #: The pass's endpoint's page size now (a store's cap may have lowered it).
    page_size: Callable[[], int]
    now: Callable[[], datetime]
    #: Set when the run is asked to stop.
    stop_event: threading.Event

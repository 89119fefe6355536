"""What the product passes (:mod:`sync.fullpass`, :mod:`sync.reconcile`) use of the run that
drives them: a Protocol, so they depend on these few members and not on the pipeline module
(which imports them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine

from sync.api.criteria import SearchCriteria
from sync.api.paging import Page
from sync.db.changes import IdInterval
from sync.db.retry import Transactions
from sync.observe import Observer
from sync.stats import StoreStats

__all__ = ["Counting", "ProductPasses"]

T = TypeVar("T")


class Counting(Protocol):
    """The ACCS client's one-request product count."""

    def count(self, store_code: str) -> int: ...


class ProductPasses(Protocol):
    """The pipeline, as the full pass and the id listing see it."""

    engine: Engine
    #: The run's database work, retried through lost connections (SYNC_DB_RETRY_SECONDS).
    db: Transactions
    page_size: int
    #: Told what the run does (progress, metrics).
    observer: Observer

    @property
    def catalog(self) -> Counting: ...

    def guarded(self, call: Callable[[], T]) -> T: ...

    def fetch(
        self, criteria: Callable[[Any, int], SearchCriteria], position: Any, store_code: str
    ) -> Page: ...

    def fetch_ids(self, criteria: Callable[[int], SearchCriteria], store_code: str) -> Page: ...

    def write_page(
        self,
        conn: Connection,
        store: StoreStats,
        run_id: int,
        page: Page,
        interval: IdInterval | None = None,
    ) -> None: ...

    def save_checkpoint(self, conn: Connection, store_code: str, value: dict[str, Any]) -> None: ...

    def now(self) -> datetime: ...

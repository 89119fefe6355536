"""What a run does, as it happens: the one seam that progress, metrics and logs listen on.

The pipeline, the ACCS client, the retry policy and the token provider report events to an
:class:`Observer`; they never know who listens. :class:`Observers` fans one event out to many
(the progress display and the Prometheus metrics, say). Every method may be called from any
thread (requests and retries come from the full pass's worker threads; pages are reported by
the single writer), and must be cheap: it runs inside the sync's own loop.

Events::

    run_started(run_id, kind)
    ├── store_started(store, mode, resource) once per pass over a store view, before its requests
    │   ├── store_total(store, total, resource)  when ACCS said how many items the pass covers
    │   ├── request(status, seconds)         every ACCS request attempt (status None: network)
    │   ├── retry(reason)                    the retry policy is about to wait and try again
    │   ├── page_written(store, page)        one page committed
    │   ├── store_finished(store, watermark) its pass completed (watermark: ACCS's updated_at)
    │   └── resource_finished(resource, store)  a resource's complete pass over a store view
    ├── auth(event)                          token_mints, token_refreshes, auth_retries, ...
    run_finished(run_id, kind, status, seconds)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from sync.names import PRODUCTS_NAME

__all__ = [
    "Observer",
    "Observers",
    "PageReport",
    "PartTotals",
    "Relay",
    "RetryReason",
    "retry_reason",
]

log = logging.getLogger(__name__)

RetryReason = Literal["rate_limited", "server_error", "network", "invalid_response", "other"]


@dataclass(frozen=True)
class PageReport:
    """What one committed page did. ``items``: products the page carried (written, unchanged
    or rejected); the rest count rows by what happened to them."""

    items: int = 0
    inserted: int = 0
    updated: int = 0
    revived: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    #: Which resource the page belongs to (:mod:`sync.resources`).
    resource: str = PRODUCTS_NAME
    #: Committed pages this report stands for: 0 for the tombstones of a sweep (or of the
    #: products' id listing), which read no page of their own.
    pages: int = 1


class Observer:
    """Receives a run's events; every method does nothing unless overridden."""

    def run_started(self, run_id: int, kind: str) -> None:
        """A run took the run lock and has its ``sync_runs`` row."""

    def store_started(self, store: str, mode: str, resource: str = PRODUCTS_NAME) -> None:
        """A store view's pass over ``resource`` begins (``mode``: full, incremental ...;
        ``store`` is ``*`` for a resource that is the same in every store view)."""

    def store_total(self, store: str, total: int, resource: str = PRODUCTS_NAME) -> None:
        """ACCS's ``total_count`` for what this pass over ``resource`` will read (when it is
        known)."""

    def request(self, status: int | None, seconds: float) -> None:
        """One ACCS request was answered with ``status`` (None: no answer, a network error)."""

    def retry(self, reason: RetryReason) -> None:
        """A failed attempt will be retried."""

    def page_written(self, store: str, page: PageReport) -> None:
        """A page was committed."""

    def store_finished(self, store: str, watermark: str | None) -> None:
        """A store view's pass completed; ``watermark`` is its ``updated_at`` watermark now."""

    def resource_finished(self, resource: str, store: str) -> None:
        """``resource``'s pass over ``store`` completed (``*``: a resource that is the same in
        every store view); a windowed backfill's partial pass does not count."""

    def auth(self, event: str) -> None:
        """Authentication did something (one of :attr:`sync.api.audit.AuthAudit.FIELDS`, or
        ``token_mint_failures``)."""

    def run_finished(self, run_id: int, kind: str, status: str, seconds: float) -> None:
        """The run ended (``status``: success, failed or interrupted)."""


class Observers(Observer):
    """Hands each event to every observer in turn. One observer's failure is logged and never
    breaks the sync (a progress bar must not cost a backfill)."""

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self.observers = [o for o in observers if o is not None]

    def add(self, observer: Observer) -> None:
        self.observers.append(observer)

    def _each(self, name: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, name)(*args)
            except Exception:
                log.exception("observer %s failed on %s", type(observer).__name__, name)

    def run_started(self, run_id: int, kind: str) -> None:
        self._each("run_started", run_id, kind)

    def store_started(self, store: str, mode: str, resource: str = PRODUCTS_NAME) -> None:
        self._each("store_started", store, mode, resource)

    def store_total(self, store: str, total: int, resource: str = PRODUCTS_NAME) -> None:
        self._each("store_total", store, total, resource)

    def request(self, status: int | None, seconds: float) -> None:
        self._each("request", status, seconds)

    def retry(self, reason: RetryReason) -> None:
        self._each("retry", reason)

    def page_written(self, store: str, page: PageReport) -> None:
        self._each("page_written", store, page)

    def store_finished(self, store: str, watermark: str | None) -> None:
        self._each("store_finished", store, watermark)

    def resource_finished(self, resource: str, store: str) -> None:
        self._each("resource_finished", resource, store)

    def auth(self, event: str) -> None:
        self._each("auth", event)

    def run_finished(self, run_id: int, kind: str, status: str, seconds: float) -> None:
        self._each("run_finished", run_id, kind, status, seconds)


class Relay(Observer):
    """The observer of the ACCS side (the client's ``request``, the retry policy's ``retry``),
    which may work before anyone listens (a backfill's probes, sent while the engine is
    imported: :mod:`sync.accs_side`): it holds those events until :meth:`attach` names the
    listener, then hands them on, and every later one as it comes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: list[tuple[str, tuple[object, ...]]] = []
        self._target: Observer | None = None

    def attach(self, target: Observer) -> None:
        with self._lock:
            held, self._held, self._target = self._held, [], target
        for name, args in held:
            getattr(target, name)(*args)

    def _pass(self, name: str, *args: object) -> None:
        with self._lock:
            target = self._target
            if target is None:
                self._held.append((name, args))
                return
        getattr(target, name)(*args)

    def request(self, status: int | None, seconds: float) -> None:
        self._pass("request", status, seconds)

    def retry(self, reason: RetryReason) -> None:
        self._pass("retry", reason)


class PartTotals:
    """ACCS's ``total_count`` of a pass walked in parts (source items: one walk per source),
    summed from each part's first page and told (``report(total)``) once every part's is
    known: a total short of parts not started yet would show a bar full long before the end.
    Thread-safe (parts are fetched by workers); a negative count is ignored."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self._report = report
        self._lock = threading.Lock()
        self._parts = 1
        self._known: list[int] = []

    def expect(self, parts: int) -> None:
        """The pass is walked in ``parts`` parts (1 unless told)."""
        with self._lock:
            self._parts = max(1, parts)

    def add(self, total: int) -> None:
        """One part's ``total_count`` (from its first page)."""
        with self._lock:
            if total < 0 or len(self._known) >= self._parts:
                return
            self._known.append(total)
            if len(self._known) < self._parts:
                return
            whole = sum(self._known)
        self._report(whole)


def retry_reason(exc: BaseException | None) -> RetryReason:
    """Why an attempt failed, in the words of the retries metric."""
    from sync.errors import ApiError, InvalidResponse, RateLimited

    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, InvalidResponse):
        return "invalid_response"
    if isinstance(exc, ApiError):
        if exc.status is None:
            return "network"
        if exc.status >= 500:
            return "server_error"
    return "other"

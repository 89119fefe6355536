"""Prometheus metrics: what runs did, counted as they do it.

Named by Prometheus's conventions: the ``accs_sync_`` prefix, ``_total`` counters, ``_seconds``
for time, and labels only of small, fixed sets (run kind, outcome, store view, operation, status
class, retry reason): never an id, a sku or a URL. :class:`Metrics` is an
:class:`~sync.observe.Observer`, so the pipeline, client, retry policy and token provider feed it
without knowing it exists; the freshness gauges, computed when scraped, are
:mod:`sync.metrics_clocks`'. Each :class:`Metrics` has its own registry (no global state), which
the daemon serves on ``/metrics`` (:mod:`sync.health`) and cron-style runs write to
``SYNC_METRICS_FILE`` (:mod:`sync.textfile`).

==========================================  ===========================================
metric                                      meaning
==========================================  ===========================================
``accs_sync_runs_total{kind,outcome}``      runs that ended (success, failed, interrupted)
``accs_sync_run_duration_seconds{kind}``    how long runs took (histogram)
``accs_sync_run_in_progress``               1 while a run holds the run lock
``accs_sync_products_written_total``        rows written, by ``store`` and ``operation``
                                            (insert, update, revive, delete)
``accs_sync_products_unchanged_total``      products read whose content had not changed
``accs_sync_products_rejected_total``       items refused by validation (see sync_rejects)
``accs_sync_rows_written_total``            rows of other resources written, by ``resource``
                                            and ``operation`` (also ``_unchanged``,
                                            ``_rejected``)
``accs_sync_pages_total{store}``            pages of products committed
``accs_sync_resource_pages_total``          pages committed, by ``resource`` and ``store``
                                            (every resource, products included; ``*``:
                                            a resource that is the same in every store view)
``accs_sync_resource_rows_total``           rows by ``resource``, ``store`` and ``operation``:
                                            insert, update, revive, delete (written) and
                                            unchanged, rejected (read, nothing written)
``accs_sync_api_requests_total``            ACCS requests by ``status_class`` (2xx, 4xx,
                                            5xx, network, ...)
``accs_sync_api_request_duration_seconds``  latency of each ACCS page request (histogram)
``accs_sync_retries_total{reason}``         retried attempts: rate_limited, server_error,
                                            network, invalid_response, other
``accs_sync_token_mints_total``             access tokens obtained from IMS
``accs_sync_token_mint_failures_total``     attempts to obtain a token that failed
``accs_sync_auth_retries_total``            requests re-sent after a 401
``accs_sync_secret_fallbacks_total``        mints that needed IMS_CLIENT_SECRET_NEXT
``accs_sync_last_success_timestamp_seconds``  when a store view's pass last completed
``accs_sync_resource_last_success_``        when a resource's pass over a store view
``timestamp_seconds{resource,store}``       last completed (``store`` ``*``: the same in
                                            every store view); ``..._age_seconds``: how
                                            long ago, computed when scraped
``accs_sync_watermark_timestamp_seconds``   the store view's watermark (ACCS ``updated_at``)
``accs_sync_watermark_lag_seconds``         now minus the watermark: how far the newest
                                            mirrored change lies behind the present
``accs_sync_info{version}``                 always 1
==========================================  ===========================================
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from sqlalchemy import Engine

from sync import __version__
from sync.metrics_clocks import PassClock, StoreClock, epoch
from sync.observe import Observer, PageReport
from sync.resources import PRODUCTS

__all__ = [
    "KINDS",
    "OPERATIONS",
    "OUTCOMES",
    "RETRY_REASONS",
    "ROW_OPERATIONS",
    "Metrics",
    "status_class",
]

KINDS = ("sync", "backfill", "reconcile", "refetch")
OUTCOMES = ("success", "partial", "failed", "interrupted")
OPERATIONS = ("insert", "update", "revive", "delete")
#: What happened to a row read, in ``accs_sync_resource_rows_total``: written, or not.
ROW_OPERATIONS = (*OPERATIONS, "unchanged", "rejected")
RETRY_REASONS = ("rate_limited", "server_error", "network", "invalid_response", "other")
STATUS_CLASSES = ("2xx", "4xx", "5xx", "network")
#: The row counters' two families: products by store view, the other resources by resource.
_FAMILIES = (("products", "Product rows", "store"), ("rows", "Rows of other resources", "resource"))
#: Page latency: ACCS answers a 300-product page in 0.1-2 s; slow proxies and timeouts go higher.
REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: A run: seconds for an unchanged incremental, hours for a large backfill.
RUN_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0)

# ``*_created`` series double what a scrape carries and mean nothing in a textfile that sums
# several processes' counts; rate() and increase() do not need them.
disable_created_metrics()  # type: ignore[no-untyped-call]


def status_class(status: int | None) -> str:
    """``"2xx"`` for 200, ``"network"`` when there was no answer."""
    return "network" if status is None else f"{status // 100}xx"


def _row_counts(page: PageReport) -> tuple[tuple[str, int], ...]:
    """A page's rows by :data:`ROW_OPERATIONS` (the written ones, :data:`OPERATIONS`, first)."""
    return (
        ("insert", page.inserted),
        ("update", page.updated),
        ("revive", page.revived),
        ("delete", page.deleted),
        ("unchanged", page.unchanged),
        ("rejected", page.rejected),
    )


class Metrics(Observer):
    """Every accs-sync metric, in a registry of its own; fed as an observer."""

    def __init__(
        self,
        stores: Iterable[str] = (),
        registry: CollectorRegistry | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self.runs = Counter(
            "accs_sync_runs",
            "Runs that ended, by kind and outcome.",
            ["kind", "outcome"],
            registry=reg,
        )
        self.run_seconds = Histogram(
            "accs_sync_run_duration_seconds",
            "How long runs took.",
            ["kind"],
            buckets=RUN_BUCKETS,
            registry=reg,
        )
        self.in_progress = Gauge(
            "accs_sync_run_in_progress", "1 while a run is going on.", registry=reg
        )
        # Products by store view; the other resources (categories, source items) by resource.
        self.written, self.rows = (
            Counter(
                f"accs_sync_{what}_written",
                f"{noun} written, by {by} and operation (insert, update, revive, delete: a "
                "tombstone).",
                [by, "operation"],
                registry=reg,
            )
            for what, noun, by in _FAMILIES
        )
        self.unchanged, self.rows_unchanged = (
            Counter(
                f"accs_sync_{what}_unchanged",
                f"{noun} read whose content had not changed (nothing written), by {by}.",
                [by],
                registry=reg,
            )
            for what, noun, by in _FAMILIES
        )
        self.rejected, self.rows_rejected = (
            Counter(
                f"accs_sync_{what}_rejected",
                f"{noun} refused by validation (kept in sync_rejects), by {by}.",
                [by],
                registry=reg,
            )
            for what, noun, by in _FAMILIES
        )
        self.pages = Counter("accs_sync_pages", "Pages committed.", ["store"], registry=reg)
        # Every resource alike, products included: new series, so the label sets of the
        # series above (and the dashboards over them) stay as they were.
        self.resource_pages = Counter(
            "accs_sync_resource_pages",
            "Pages committed, by resource and store view (*: the same in every store view).",
            ["resource", "store"],
            registry=reg,
        )
        self.resource_rows = Counter(
            "accs_sync_resource_rows",
            "Rows by resource, store view and operation: insert, update, revive, delete "
            "(written), unchanged, rejected (nothing written).",
            ["resource", "store", "operation"],
            registry=reg,
        )
        self.requests = Counter(
            "accs_sync_api_requests",
            "ACCS requests, by the answer's status class (network: no answer).",
            ["status_class"],
            registry=reg,
        )
        self.request_seconds = Histogram(
            "accs_sync_api_request_duration_seconds",
            "Latency of each ACCS page request.",
            buckets=REQUEST_BUCKETS,
            registry=reg,
        )
        self.retries = Counter(
            "accs_sync_retries",
            "Attempts that failed and were retried, by reason.",
            ["reason"],
            registry=reg,
        )
        self.mints = Counter(
            "accs_sync_token_mints", "Access tokens obtained from IMS.", registry=reg
        )
        self.mint_failures = Counter(
            "accs_sync_token_mint_failures",
            "Attempts to obtain an access token from IMS that failed (refused or unanswered).",
            registry=reg,
        )
        self.auth_retries = Counter(
            "accs_sync_auth_retries",
            "Requests re-sent with a new token after a 401.",
            registry=reg,
        )
        self.fallbacks = Counter(
            "accs_sync_secret_fallbacks",
            "Token mints that needed IMS_CLIENT_SECRET_NEXT.",
            registry=reg,
        )
        info = Gauge("accs_sync_info", "The running accs-sync.", ["version"], registry=reg)
        info.labels(__version__).set(1)
        self._stores = StoreClock(now)
        reg.register(self._stores)
        self._passes = PassClock(now)
        reg.register(self._passes)
        self._now = now
        # Every series a dashboard or an alert expects exists from the start, at zero.
        for kind in KINDS:
            self.run_seconds.labels(kind)
            for outcome in OUTCOMES:
                self.runs.labels(kind, outcome)
        for status in STATUS_CLASSES:
            self.requests.labels(status)
        for reason in RETRY_REASONS:
            self.retries.labels(reason)
        for store in stores:
            self._store_series(store)

    def _store_series(self, store: str) -> None:
        for operation in OPERATIONS:
            self.written.labels(store, operation)
        self.unchanged.labels(store)
        self.rejected.labels(store)
        self.pages.labels(store)
        self._resource_series(PRODUCTS.name, store)

    def _resource_series(self, resource: str, store: str) -> None:
        self.resource_pages.labels(resource, store)
        for operation in ROW_OPERATIONS:
            self.resource_rows.labels(resource, store, operation)

    # -- observer ------------------------------------------------------------------------------

    def run_started(self, run_id: int, kind: str) -> None:
        self.in_progress.set(1)

    def store_started(self, store: str, mode: str, resource: str = PRODUCTS.name) -> None:
        if resource == PRODUCTS.name:
            self._store_series(store)
        else:
            self._resource_series(resource, store)
            for operation in OPERATIONS:
                self.rows.labels(resource, operation)

    def request(self, status: int | None, seconds: float) -> None:
        self.requests.labels(status_class(status)).inc()
        self.request_seconds.observe(seconds)

    def retry(self, reason: str) -> None:
        self.retries.labels(reason).inc()

    def page_written(self, store: str, page: PageReport) -> None:
        if page.pages:
            self.resource_pages.labels(page.resource, store).inc(page.pages)
        for operation, count in _row_counts(page):
            if count:
                self.resource_rows.labels(page.resource, store, operation).inc(count)
        if page.resource != PRODUCTS.name:
            self._resource_page(page)
            return
        for operation, count in _row_counts(page)[: len(OPERATIONS)]:
            if count:
                self.written.labels(store, operation).inc(count)
        if page.unchanged:
            self.unchanged.labels(store).inc(page.unchanged)
        if page.rejected:
            self.rejected.labels(store).inc(page.rejected)
        if page.pages:
            self.pages.labels(store).inc(page.pages)

    def _resource_page(self, page: PageReport) -> None:
        for operation, count in _row_counts(page)[: len(OPERATIONS)]:
            if count:
                self.rows.labels(page.resource, operation).inc(count)
        if page.unchanged:
            self.rows_unchanged.labels(page.resource).inc(page.unchanged)
        if page.rejected:
            self.rows_rejected.labels(page.resource).inc(page.rejected)

    def store_finished(self, store: str, watermark: str | None) -> None:
        stamp = None if watermark is None else epoch(watermark)
        self._stores.record(store, success=self._now(), watermark=stamp)

    def resource_finished(self, resource: str, store: str) -> None:
        self._passes.record(resource, store, self._now())

    def auth(self, event: str) -> None:
        if event in ("token_mints", "token_refreshes"):
            self.mints.inc()
        elif event == "token_mint_failures":
            self.mint_failures.inc()
        elif event == "auth_retries":
            self.auth_retries.inc()
        elif event == "secret_fallbacks":
            self.fallbacks.inc()

    def run_finished(self, run_id: int, kind: str, status: str, seconds: float) -> None:
        self.runs.labels(kind, status).inc()
        self.run_seconds.labels(kind).observe(seconds)
        self.in_progress.set(0)

    # -- state from the database -----------------------------------------------------------------

    def load_state(self, engine: Engine) -> None:
        """Watermarks and last successes as the database has them, so a restarted daemon's
        first scrape already tells how fresh the mirror is."""
        from sync.db.state import WATERMARK, all_state, recent_runs

        with engine.connect() as conn:
            entries = all_state(conn)
        for entry in entries:
            if entry.key == WATERMARK:
                stamp = epoch(str(entry.value.get("updated_at", "")))
                self._stores.record(entry.store_code, watermark=stamp, keep=True)
        for run in recent_runs(engine, 50):
            if run.status != "success" or run.finished_at is None:
                continue
            finished = float(calendar.timegm(run.finished_at.timetuple()))
            for store in run.store_codes:
                self._stores.record(store, success=finished, keep=True)
                # The products pass of each store view; other resources after their next pass.
                self._passes.record(PRODUCTS.name, store, finished, keep=True)

"""The one place that turns settings into concrete, connected objects."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from sync.accs_side import AccsSide, build_accs_session, start_accs
from sync.api.auth import AuthAudit, ImsClientCredentials
from sync.api.products import ProductsClient
from sync.api.session import TimeoutSession
from sync.api.token_store import FileTokenStore
from sync.clock import Clock, SystemClock
from sync.db.auth_events import record_auth_events
from sync.db.engine import make_engine
from sync.db.engine import url_password as make_url_password
from sync.db.faults import describe
from sync.db.migrate import ensure_schema
from sync.db.state import record_auth_audit, record_outcome, start_run
from sync.errors import AccsSyncError
from sync.memory import bound_malloc
from sync.metrics import Metrics
from sync.observe import Observers
from sync.pipeline import Pipeline, RunKind, RunStats, Window
from sync.redact import SecretFilter
from sync.settings import Settings
from sync.stores import ALL_STORES, mirrored_store_codes, resolve_store_views
from sync.tokens import (
    CLOSE_WAIT,
    Tokens,
    build_ims_session,
    build_token_provider,
    build_token_store,
    register_secrets,
    start_tokens,
    warn_insecure_http,
)

__all__ = [
    "App",
    "build_accs_session",
    "build_app",
    "build_ims_session",
    "build_token_provider",
    "build_token_store",
    "make_daemon",
    "make_url_password",
    "register_secrets",
    "warn_insecure_http",
]

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from sync.keys import EventKeys, Keys
    from sync.scheduler import Daemon

log = logging.getLogger(__name__)


@dataclass
class App:
    """Everything a run needs, built once. ``close()`` releases connections."""

    settings: Settings = field(repr=False)
    engine: Engine
    session: TimeoutSession
    ims_session: TimeoutSession
    tokens: ImsClientCredentials
    client: ProductsClient
    pipeline: Pipeline
    stop_event: threading.Event
    clock: Clock
    secrets: SecretFilter = field(default_factory=SecretFilter)
    audit: AuthAudit = field(default_factory=AuthAudit)
    #: Everyone told what runs do (the metrics always; a progress display when added).
    observers: Observers = field(default_factory=Observers)
    metrics: Metrics = field(default_factory=Metrics)
    #: The start-up token request (``build_app(warm_up=True)``), joined by :meth:`close`.
    warming: threading.Thread | None = None
    #: What authentication had done before the first run: that run counts the warm-up's mint.
    audit_start: dict[str, int] | None = None
    #: Runs of this App follow each other: the scheduler's jobs and the event consumer's
    #: batches, in their own threads, take turns (the database's run lock would make them
    #: wait anyway; this keeps the pipeline's own state to one run at a time).
    _runs: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: Called by close() (e.g. the event journal's session).
    closing: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def run(
        self,
        kind: RunKind,
        window: Window | None = None,
        resources: Sequence[str] | None = None,
        keys: Keys | EventKeys | None = None,
        commit: Callable[[Connection], None] | None = None,
    ) -> RunStats:
        """One run (of ``resources``, default SYNC_RESOURCES; ``keys``: a ``refetch`` of
        those products only, ``commit``: in one transaction with what it writes, see
        :meth:`sync.run.Pipeline.run`); what authentication did during it is added to its
        ``sync_runs`` row."""
        with self._runs:
            return self._run(kind, window, resources, keys, commit)

    def _run(
        self,
        kind: RunKind,
        window: Window | None,
        resources: Sequence[str] | None,
        keys: Keys | EventKeys | None,
        commit: Callable[[Connection], None] | None,
    ) -> RunStats:
        before, self.audit_start = self.audit_start or self.audit.snapshot(), None
        if isinstance(self.tokens.store, FileTokenStore):
            self.tokens.store.check_exposure()  # every run of a daemon, not once per process
        try:
            removed = self._resolve_stores(kind)
            stats = self.pipeline.run(kind, window, resources, keys, commit)
        finally:
            # A pause ACCS asked for never outlives the run: the next run asks ACCS afresh.
            self.client.gate.lift()
        stats.stores_removed = removed
        try:
            record_auth_audit(self.engine, stats.run_id, self.audit.since(before))
            record_auth_events(self.engine, self.audit.drain(), stats.run_id)
        except SQLAlchemyError as exc:  # the run's own outcome is what matters
            log.warning(
                "could not add the authentication counts to run %d: %s",
                stats.run_id,
                describe(exc, self.secrets.scrub),
            )
        return stats

    def _resolve_stores(self, kind: RunKind) -> list[str]:
        """SYNC_STORE_CODES=all: the store views ACCS lists now become this run's (and its
        ``sync_runs.store_codes``); returns those mirrored before that it no longer lists.
        When ACCS cannot say, the run is recorded as failed and the error raised. (The runs of
        one App follow each other: the daemon's scheduler has one worker.)"""
        if not self.settings.discover_stores:
            return []
        try:
            resolved = resolve_store_views(self.client.get, self._mirrored_stores)
        except AccsSyncError as exc:
            self._record_failed_run(kind, exc.message)
            raise
        self.pipeline.store_codes = resolved.codes
        return resolved.removed

    def _mirrored_stores(self) -> set[str]:
        try:
            return mirrored_store_codes(self.engine)
        except SQLAlchemyError as exc:  # the run itself meets the database next, and says so
            log.warning(
                "cannot tell which store views were mirrored before: %s",
                describe(exc, self.secrets.scrub),
            )
            return set()

    def _record_failed_run(self, kind: RunKind, error: str) -> None:
        """A ``sync_runs`` row for a run that could not start, so ``status`` (a health check)
        and the metrics show it."""
        try:
            run_id = start_run(self.engine, kind, [ALL_STORES], self.pipeline.now())
            self.observers.run_started(run_id, kind)
            with self.engine.begin() as conn:
                record_outcome(
                    conn, run_id, "failed", self.pipeline.now(), self.secrets.scrub(error)
                )
            self.observers.run_finished(run_id, kind, "failed", 0.0)
        except SQLAlchemyError as exc:
            log.warning("could not record the failed run: %s", describe(exc, self.secrets.scrub))

    def close(self) -> None:
        if self.warming is not None:
            self.warming.join(CLOSE_WAIT)  # long done, unless IMS hangs (see sync.tokens)
        for close in self.closing:
            close()
        self.session.close()
        self.ims_session.close()
        self.engine.dispose()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    stop_event: threading.Event | None = None,
    secrets: SecretFilter | None = None,
    migrate: bool = True,
    warm_up: bool = False,
    tokens: Tokens | None = None,
    accs: AccsSide | None = None,
) -> App:
    """Wire engine, session, token provider, client and pipeline from ``settings``.

    With ``migrate`` the database is brought to the current schema (or refused if newer).
    ``tokens``: the IMS side, started already by :func:`sync.tokens.start_tokens` with this
    ``clock`` and ``secrets`` (a run starts it before importing this module); else it is
    started here, and with ``warm_up`` its token is asked for on a thread of its own while the
    database is checked, so the first request finds it. ``accs``: the ACCS side, started
    already by :func:`sync.accs_side.start_accs` over ``tokens`` (a backfill's probes may be on
    the wire); else it is built here.
    """
    bound_malloc()  # before any worker thread starts: see sync.memory
    stop_event = stop_event or threading.Event()
    clock = clock or SystemClock(stop_event)
    secrets = secrets or SecretFilter()
    started = tokens or start_tokens(settings, clock, secrets, warm_up=warm_up)
    register_secrets(settings, secrets)  # the database password too, before the engine exists

    # SYNC_STORE_CODES=all: each run's store views are known when it starts (App.run).
    stores = [] if settings.discover_stores else settings.sync_store_codes
    metrics = Metrics(stores=stores)
    observers = Observers([metrics])
    started.listener.attach(observers.auth)  # and what it heard already (a warm-up's mint)
    audit, provider = started.audit, started.provider
    engine = make_engine(settings.database_url)
    try:
        if migrate:
            ensure_schema(engine)
        accs = accs or start_accs(settings, started, clock, stop_event)
        accs.relay.attach(observers)  # and what it did already (a backfill's early probes)
        session, client = accs.session, accs.client
        pipeline = Pipeline(
            engine=engine,
            catalog=accs.catalog,
            clock=clock,
            store_codes=stores,
            page_size=settings.sync_page_size,
            stop_event=stop_event,
            lookback_seconds=settings.sync_lookback_seconds,
            scrub=secrets.scrub,
            concurrency=settings.sync_concurrency,
            observer=observers,
            resources=settings.sync_resources,
            lister=client,
            max_item_bytes=settings.sync_max_item_bytes,
            lock_wait_seconds=settings.sync_lock_wait_seconds,
            db_retry_seconds=settings.sync_db_retry_seconds,
        )
    except BaseException:
        started.close()
        engine.dispose()
        raise
    return App(
        settings=settings,
        engine=engine,
        session=session,
        ims_session=started.ims_session,
        tokens=provider,
        client=client,
        pipeline=pipeline,
        stop_event=stop_event,
        clock=clock,
        secrets=secrets,
        audit=audit,
        observers=observers,
        metrics=metrics,
        warming=started.warming,
        audit_start=started.audit_start,
    )


def make_daemon(app: App) -> Daemon:
    """The daemon for ``app``, three jobs:

    * ``sync`` of SYNC_RESOURCES at start and on SYNC_SCHEDULE;
    * ``reconcile`` (a full content pass over every resource, which also tombstones what is
      gone) on SYNC_RECONCILE_SCHEDULE, unless that is off;
    * a ``sync`` of source items alone on SYNC_SOURCE_ITEMS_SCHEDULE, when they are in
      SYNC_RESOURCES and that schedule is not off; the main sync then leaves them out (stock
      moves touch no ``updated_at``, so they are read in full, more often).
    """
    from sync.resources import SOURCE_ITEMS
    from sync.scheduler import DISABLED, Daemon, ScheduledJob  # late: APScheduler, daemon only

    settings = app.settings
    resources = list(settings.sync_resources)
    # Stock moves touch no updated_at: source items get a frequent job of their own, and the
    # main sync leaves them to it (unless that job is off).
    frequent = SOURCE_ITEMS.name in resources and (
        settings.sync_source_items_schedule.strip().lower() not in DISABLED
    )
    main = [r for r in resources if not (frequent and r == SOURCE_ITEMS.name)]
    extra = [
        ScheduledJob(
            id="accs-sync-reconcile",
            name="reconcile (content check and deletions)",
            func=lambda: app.run("reconcile"),
            schedule=settings.sync_reconcile_schedule,
            setting="SYNC_RECONCILE_SCHEDULE",
        )
    ]
    if frequent:
        extra.append(
            ScheduledJob(
                id="accs-sync-source-items",
                name="source items (stock per source)",
                func=lambda: app.run("sync", resources=[SOURCE_ITEMS.name]),
                schedule=settings.sync_source_items_schedule,
                setting="SYNC_SOURCE_ITEMS_SCHEDULE",
            )
        )
    return Daemon(
        job=lambda: app.run("sync", resources=main) if main else None,
        schedule=settings.sync_schedule,
        stop_event=app.stop_event,
        misfire_grace_seconds=settings.sync_misfire_grace_seconds,
        extra_jobs=extra,
    )

"""The one place that turns settings into concrete, connected objects."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from sync.api.auth import BearerAuth, ImsClientCredentials
from sync.api.products import ProductsClient
from sync.api.retry import RetryPolicy
from sync.api.session import TimeoutSession, build_session
from sync.clock import Clock, SystemClock
from sync.db.engine import make_engine, normalize_url
from sync.db.migrate import ensure_schema
from sync.errors import ConfigError
from sync.pipeline import Pipeline, RunKind, RunStats, Window
from sync.redact import SecretFilter
from sync.settings import Settings

__all__ = ["App", "build_app", "make_daemon"]

if TYPE_CHECKING:
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

    def run(self, kind: RunKind, window: Window | None = None) -> RunStats:
        return self.pipeline.run(kind, window)

    def close(self) -> None:
        self.session.close()
        self.ims_session.close()
        self.engine.dispose()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_url_password(url: str) -> str | None:
    """The password inside a database URL, so the log filter can mask it."""
    try:
        return normalize_url(url).password
    except ConfigError:  # an invalid URL fails properly in make_engine, with a clear message
        return None


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    stop_event: threading.Event | None = None,
    secrets: SecretFilter | None = None,
    migrate: bool = True,
) -> App:
    """Wire engine, session, token provider, client and pipeline from ``settings``.

    With ``migrate`` the database is brought to the current schema (or refused if newer).
    """
    stop_event = stop_event or threading.Event()
    clock = clock or SystemClock(stop_event)
    secrets = secrets or SecretFilter()
    secrets.add(settings.ims_client_secret.get_secret_value())
    secrets.add(make_url_password(settings.database_url))

    engine = make_engine(settings.database_url)
    try:
        if migrate:
            ensure_schema(engine)
        retry = RetryPolicy(
            max_attempts=settings.sync_max_attempts,
            max_total_wait=settings.sync_max_retry_seconds,
            max_retry_after=settings.sync_max_retry_after,
            clock=clock,
            stop_event=stop_event,
        )
        session = build_session(
            connect_timeout=settings.sync_connect_timeout,
            read_timeout=settings.sync_http_timeout,
            headers={"x-api-key": settings.ims_client_id, "x-gw-ims-org-id": settings.ims_org_id},
        )
        # IMS gets its own plain session: no bearer auth, no ACCS headers.
        ims_session = build_session(
            connect_timeout=settings.sync_connect_timeout, read_timeout=settings.sync_http_timeout
        )
        tokens = ImsClientCredentials(
            session=ims_session,
            token_url=settings.ims_token_url,
            client_id=settings.ims_client_id,
            client_secret=settings.ims_client_secret,
            scopes=settings.scopes,
            clock=clock,
            timeout=(settings.sync_connect_timeout, settings.sync_http_timeout),
            on_mint=secrets.add,
        )
        session.auth = BearerAuth(tokens)
        client = ProductsClient(session, settings.api_endpoint, retry)
        pipeline = Pipeline(
            engine=engine,
            catalog=client,
            clock=clock,
            store_codes=settings.sync_store_codes,
            page_size=settings.sync_page_size,
            stop_event=stop_event,
            lookback_seconds=settings.sync_lookback_seconds,
            scrub=secrets.scrub,
        )
    except BaseException:
        engine.dispose()
        raise
    return App(
        settings=settings,
        engine=engine,
        session=session,
        ims_session=ims_session,
        tokens=tokens,
        client=client,
        pipeline=pipeline,
        stop_event=stop_event,
        clock=clock,
        secrets=secrets,
    )


def make_daemon(app: App) -> Daemon:
    """The daemon for ``app``: ``sync`` on SYNC_SCHEDULE (and at start), ``reconcile`` on
    SYNC_RECONCILE_SCHEDULE unless that is off."""
    from sync.scheduler import Daemon, ScheduledJob  # late: APScheduler only for the daemon

    settings = app.settings
    return Daemon(
        job=lambda: app.run("sync"),
        schedule=settings.sync_schedule,
        stop_event=app.stop_event,
        misfire_grace_seconds=settings.sync_misfire_grace_seconds,
        extra_jobs=[
            ScheduledJob(
                id="accs-sync-reconcile",
                name="reconcile (id listing and content check)",
                func=lambda: app.run("reconcile"),
                schedule=settings.sync_reconcile_schedule,
                setting="SYNC_RECONCILE_SCHEDULE",
            )
        ],
    )

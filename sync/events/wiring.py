"""Builds the event consumer from an :class:`~sync.app.App` (the journal's own session, the
same token provider and token cache, the same retry settings), and reads ``events status``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from sync.api.auth import BearerAuth
from sync.api.retry import RetryPolicy
from sync.errors import AccsSyncError, ConfigError
from sync.events.consumer import Consumer
from sync.events.journal import CATALOG_EVENTS, JournalClient, build_journal_session
from sync.events.metrics import EventMetrics
from sync.events.state import load_state
from sync.redact import redact_url

if TYPE_CHECKING:
    from sync.app import App

__all__ = ["EVENT_RESOURCES", "build_consumer", "events_status", "status_text"]

log = logging.getLogger(__name__)

#: What events cover; a gap reconciles these (those of SYNC_RESOURCES).
EVENT_RESOURCES = ("products", "categories", "source_items")


def build_consumer(app: App) -> Consumer:
    """The consumer of IO_EVENTS_JOURNAL_URL for ``app`` (raises :class:`ConfigError` when it
    is not set). Its batches are refetch runs of ``app`` (which never overlap another run of
    it), its metrics in ``app.metrics.registry``."""
    settings = app.settings
    url = settings.io_events_journal_url
    if not url:
        raise ConfigError(
            "IO_EVENTS_JOURNAL_URL is not set: run `accs-sync events setup`, which says what "
            "to create in the Adobe Developer Console",
            setting="IO_EVENTS_JOURNAL_URL",
        )
    session = build_journal_session(
        client_id=settings.ims_client_id,
        org_id=settings.ims_org_id,
        connect_timeout=settings.sync_connect_timeout,
        read_timeout=settings.sync_http_timeout,
    )
    session.auth = BearerAuth(app.tokens, origin=url, audit=app.audit)
    app.closing.append(session.close)
    metrics = EventMetrics(app.metrics.registry)
    retry = RetryPolicy(
        max_attempts=settings.sync_max_attempts,
        max_total_wait=settings.sync_max_retry_seconds,
        max_retry_after=settings.sync_max_retry_after,
        clock=app.clock,
        stop_event=app.stop_event,
    )
    journal = JournalClient(session, url, retry, clock=app.clock, on_request=metrics.request)
    covered = [r for r in settings.sync_resources if r in EVENT_RESOURCES]
    return Consumer(
        journal=journal,
        engine=app.engine,
        apply=lambda keys, commit: app.run("refetch", keys=keys, commit=commit),
        reconcile=lambda: app.run("reconcile", resources=covered),
        clock=app.clock,
        batch=settings.sync_events_batch,
        metrics=metrics,
        stale_seconds=settings.sync_events_stale_seconds,
        idle_seconds=settings.sync_events_idle_seconds,
        window_seconds=settings.sync_events_window_seconds,
        scrub=app.secrets.scrub,
        stop_event=app.stop_event,
    )


def events_status(
    engine: Engine,
    journal_url: str | None,
    now: datetime,
    subscriptions: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """``events status``: the stored position, newest event time, lag (now minus it), last
    error and gap; the subscriptions when ``subscriptions`` can ask ACCS (its error if not)."""
    with engine.connect() as conn:
        state = load_state(conn)
    newest = state.newest
    report: dict[str, Any] = {
        "journal_url": redact_url(journal_url) if journal_url else None,
        "position": state.position,
        "newest_event_time": state.newest_event_time,
        "lag_seconds": round(max(0.0, (now - newest).total_seconds()), 3) if newest else None,
        "applied_at": state.applied_at,
        "last_error": state.last_error,
        "gap": state.gap,
    }
    if subscriptions is not None:
        try:
            answer = subscriptions()
        except AccsSyncError as exc:
            report["subscriptions_error"] = exc.message
        else:
            found = [s for s in answer if isinstance(s, dict)] if isinstance(answer, list) else []
            report["subscriptions"] = [
                {
                    "name": s.get("name"),
                    "fields": [f.get("name") for f in s.get("fields") or [] if isinstance(f, dict)],
                    "priority": s.get("priority"),
                }
                for s in found
                if s.get("name") in CATALOG_EVENTS
            ]
    return report


def status_text(report: dict[str, Any]) -> str:
    lines = [f"journal: {report['journal_url'] or 'IO_EVENTS_JOURNAL_URL not set'}"]
    lines.append(f"position: {report['position'] or '-'}")
    lag = report["lag_seconds"]
    lines.append(
        f"newest event applied: {report['newest_event_time'] or '-'}"
        + (f" (lag {lag:.1f}s)" if lag is not None else "")
    )
    lines.append(f"last batch committed: {report['applied_at'] or '-'}")
    lines.append(f"last error: {report['last_error'] or '-'}")
    gap = report["gap"]
    if gap:
        lines.append(
            f"last gap: {gap.get('status')} detected {gap.get('detected_at')}, events since "
            f"{gap.get('lost_since')} lost, reconcile run {gap.get('reconcile_run')}"
        )
    if "subscriptions" in report:
        subs = report["subscriptions"]
        lines.append(f"subscriptions ({len(subs)} of {len(CATALOG_EVENTS)} catalog events):")
        lines += [
            f"  {s['name']} fields={','.join(map(str, s['fields']))} priority={s['priority']}"
            for s in subs
        ]
    elif "subscriptions_error" in report:
        lines.append(f"subscriptions: cannot ask ACCS ({report['subscriptions_error']})")
    return "\n".join(lines)

"""The auth audit's events: rows of ``sync_auth_events`` (revision 0008).

What authentication did that an operator audits, one row each: ``login``, ``logout``,
``revocation`` (a token revoked at IMS), ``token_forget`` (a cached token deleted), ``mint``
(a new access token; detail: the grant), ``secret_fallback`` (detail: which secret setting
worked after which). The per-run counts stay on ``sync_runs``; these are the events behind
them, with commands run outside any run (login, logout) too. ``detail`` names settings and
grants: callers never pass a secret or a token, and it is cut to the column's width.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple, Protocol

import sqlalchemy as sa
from sqlalchemy import Engine

from sync.db.schema import naive_utc, sync_auth_events

__all__ = ["AuthEventRow", "recent_auth_events", "record_auth_events"]

_DETAIL_MAX = 255
_EVENT_MAX = 32


class _Event(Protocol):
    @property
    def event(self) -> str: ...

    @property
    def detail(self) -> str: ...

    @property
    def at(self) -> datetime: ...


class AuthEventRow(NamedTuple):
    """One row, times naive UTC."""

    at: datetime
    event: str
    detail: str
    run_id: int | None


def record_auth_events(engine: Engine, events: Iterable[_Event], run_id: int | None = None) -> int:
    """Insert ``events`` (of ``run_id``, if any) and commit; returns how many."""
    rows = [
        {
            "occurred_at": naive_utc(e.at),
            "event": e.event[:_EVENT_MAX],
            "detail": e.detail[:_DETAIL_MAX],
            "run_id": run_id,
        }
        for e in events
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.insert(sync_auth_events), rows)
    return len(rows)


def recent_auth_events(engine: Engine, limit: int = 10) -> list[AuthEventRow]:
    """The last ``limit`` events, newest first; none when the table is not there yet (a
    database not migrated to 0008)."""
    if not sa.inspect(engine).has_table(sync_auth_events.name):
        return []
    t = sync_auth_events
    query = sa.select(t.c.occurred_at, t.c.event, t.c.detail, t.c.run_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit)).all()
    return [AuthEventRow(r.occurred_at, r.event, r.detail or "", r.run_id) for r in rows]

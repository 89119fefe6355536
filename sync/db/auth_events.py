"""Rows of ``auth_events``: what authentication did outside a run (a client secret rotation).

A row never holds a secret or a token: callers pass details that name secrets by uuid, and the
CLI's secret filter has scrubbed them before they get here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import Engine

from sync.db.schema import auth_events, naive_utc

__all__ = ["AuthEvent", "recent_auth_events", "record_auth_event"]

#: A detail longer than this is cut (a hostile error message must not fill the table).
MAX_DETAIL = 8000


class AuthEvent(NamedTuple):
    id: int
    occurred_at: datetime
    event: str
    outcome: str
    detail: dict[str, Any]


def record_auth_event(
    engine: Engine, event: str, outcome: str, detail: dict[str, Any], now: datetime
) -> None:
    text = json.dumps(detail, default=str)
    if len(text) > MAX_DETAIL:
        text = json.dumps({"truncated": text[:MAX_DETAIL]})
    with engine.begin() as conn:
        conn.execute(
            auth_events.insert().values(
                occurred_at=naive_utc(now), event=event[:32], outcome=outcome[:16], detail=text
            )
        )


def recent_auth_events(engine: Engine, limit: int = 5) -> list[AuthEvent]:
    """The last ``limit`` events, newest first; none before revision 0008."""
    if not sa.inspect(engine).has_table(auth_events.name):
        return []
    query = sa.select(auth_events).order_by(auth_events.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for row in rows:
        try:
            detail = json.loads(row.detail)
        except ValueError:
            detail = {"text": row.detail}
        if not isinstance(detail, dict):
            detail = {"value": detail}
        out.append(AuthEvent(row.id, row.occurred_at, row.event, row.outcome, detail))
    return out

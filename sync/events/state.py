"""The consumer's ``sync_state`` row: store ``*``, key ``events:journal`` (docs/schema.md).

``{"position": str | null,          # the journal position after the last committed batch
   "newest_event_time": iso | null, # the newest event time applied (UTC, ISO 8601)
   "applied_at": iso | null,        # when a batch (or a gap's resume) was last committed
   "last_error": str | null,        # the last failure, cleared by the next committed batch
   "gap": {...} | null}``           # the last gap: status, detected_at, lost_since,
                                    # resumed_at (position), reconcile_run (sync_runs.id)

``position`` is written only in the transaction that writes the rows of the events before it
(:meth:`sync.run.Pipeline.run` with ``commit``). A row edited into another shape is read as
hostile: each unusable field is dropped with a warning (no position: the journal is read from
its oldest retained event again, which only refetches keys).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from sync.db.state import get_raw_state, set_state
from sync.events.journal import parse_time

__all__ = ["STATE_KEY", "STATE_STORE", "JournalState", "iso", "load_state", "save_state"]

log = logging.getLogger(__name__)

STATE_STORE = "*"
STATE_KEY = "events:journal"
_TEXT_MAX = 2000


@dataclass(frozen=True)
class JournalState:
    position: str | None = None
    newest_event_time: str | None = None
    applied_at: str | None = None
    last_error: str | None = None
    gap: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> JournalState:
        if value is None:
            return cls()
        if not isinstance(value, dict):
            log.warning("sync_state %s is not a JSON object; starting it afresh", STATE_KEY)
            return cls()
        kept: dict[str, Any] = {}
        for name in ("position", "newest_event_time", "applied_at", "last_error"):
            item = value.get(name)
            if item is None:
                continue
            if isinstance(item, str) and 0 < len(item) <= _TEXT_MAX:
                kept[name] = item
            else:
                log.warning("sync_state %s: %s is unusable and is ignored", STATE_KEY, name)
        for stamp in ("newest_event_time", "applied_at"):
            if stamp in kept and parse_time(kept[stamp]) is None:
                log.warning("sync_state %s: %s is not a time and is ignored", STATE_KEY, stamp)
                del kept[stamp]
        gap = value.get("gap")
        return cls(**kept, gap=gap if isinstance(gap, dict) else None)

    @property
    def newest(self) -> datetime | None:
        return parse_time(self.newest_event_time)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_state(conn: Connection) -> JournalState:
    return JournalState.from_json(get_raw_state(conn, STATE_STORE, STATE_KEY))


def save_state(conn: Connection, state: JournalState, now: datetime) -> None:
    """In the caller's transaction."""
    set_state(conn, STATE_STORE, STATE_KEY, state.to_json(), now)

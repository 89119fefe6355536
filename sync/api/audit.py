"""What authentication did, counted per run, and the events behind the counts: the audit
trail Adobe's token guidance asks for."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["AuthAudit", "AuthEvent"]


@dataclass(frozen=True)
class AuthEvent:
    """One audited event (see :mod:`sync.db.auth_events`). ``detail`` names settings and
    grants, never a secret or a token."""

    event: str
    detail: str
    at: datetime


class AuthAudit:
    """Counts what authentication did, for the run log (``sync_runs``) and the INFO log.

    ``token_mints``: new access tokens from IMS (client credentials or login);
    ``token_refreshes``: access tokens renewed with a refresh token; ``auth_retries``: requests
    re-sent after a 401; ``secret_fallbacks``: mints that needed ``IMS_CLIENT_SECRET_NEXT``.
    """

    FIELDS = ("token_mints", "token_refreshes", "auth_retries", "secret_fallbacks")

    def __init__(self, on_count: Callable[[str], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.FIELDS, 0)
        self._events: list[AuthEvent] = []
        #: Told of each event as it is counted (the metrics listen here).
        self.on_count = on_count

    def __repr__(self) -> str:
        return f"AuthAudit({self.snapshot()})"

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1
        if self.on_count is not None:
            self.on_count(name)

    def failed_mint(self) -> None:
        """An attempt to obtain a token failed: told to the listener (the metrics' alert on
        ``token_mint_failures``), not counted in the run's row."""
        if self.on_count is not None:
            self.on_count("token_mint_failures")

    def event(self, event: str, detail: str, at: datetime) -> None:
        """Keep an event for the auth audit until :meth:`drain` (the run's end, or the
        command that caused it) writes it."""
        with self._lock:
            self._events.append(AuthEvent(event, detail, at))

    def drain(self) -> list[AuthEvent]:
        """The events kept so far, oldest first; they are no longer kept."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def since(self, before: dict[str, int]) -> dict[str, int]:
        """What happened after ``before`` (a :meth:`snapshot`)."""
        now = self.snapshot()
        return {name: now[name] - before.get(name, 0) for name in self.FIELDS}

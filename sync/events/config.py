"""Checks of the event consumer's settings (:class:`sync.settings.Settings` calls them), kept
here so the settings module only declares the fields."""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, model_validator

from sync.redact import redact_url
from sync.settings_checks import require_https

__all__ = ["EventSettings", "extra_scopes", "journal_url"]

SETTING = "IO_EVENTS_JOURNAL_URL"


def journal_url(value: str | None, *, allow_insecure: bool) -> str | None:
    """The journal URL as the Developer Console shows it: https (plain http for loopback, or
    with SYNC_ALLOW_INSECURE_HTTP), no user info, no query (the client adds ``since``)."""
    if value is None or not value.strip():
        return None
    url = require_https(value.strip(), SETTING, allow_insecure=allow_insecure)
    parts = urlsplit(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(
            f"{SETTING} must be the journal URL without a query or fragment "
            f"({redact_url(url.split('?')[0])}): accs-sync keeps the position itself"
        )
    return url


def extra_scopes(base: list[str], extra: str | None) -> list[str]:
    """``base`` and then the scopes of IO_EVENTS_SCOPES it lacks (comma or space separated)."""
    if not extra:
        return base
    more = [s.strip() for s in extra.replace(" ", ",").split(",") if s.strip()]
    return [*base, *(s for s in dict.fromkeys(more) if s not in base)]


class EventSettings(BaseModel):
    """The event consumer's settings, a part of :class:`sync.settings.Settings` (docs/events.md):
    the registration's journal (turns the consumer on), scopes added to the token's, events per
    journal request, priority subscriptions, /readyz's staleness limit, the cap on an empty
    journal's retry-after (unset: all of it, 10 s on Adobe's journal), and the batch window (once
    caught up, the least time between two journal reads)."""

    io_events_journal_url: str | None = None
    io_events_scopes: str | None = None
    sync_events_batch: int = Field(default=100, ge=1, le=1000)
    sync_events_priority: bool = True
    sync_events_stale_seconds: float = Field(default=300.0, gt=0, le=86400)
    sync_events_idle_seconds: float | None = Field(default=None, ge=0.2, le=60)
    sync_events_window_seconds: float = Field(default=0.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _journal(self) -> Self:
        # After the whole model: SYNC_ALLOW_INSECURE_HTTP is a field of the Settings around it.
        insecure = bool(getattr(self, "sync_allow_insecure_http", False))
        url = journal_url(self.io_events_journal_url, allow_insecure=insecure)
        self.io_events_journal_url = url
        return self

"""Checks of the event consumer's settings (:class:`sync.settings.Settings` calls them), kept
here so the settings module only declares the fields."""

from __future__ import annotations

from urllib.parse import urlsplit

from sync.redact import redact_url
from sync.settings_checks import require_https

__all__ = ["extra_scopes", "journal_url"]

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

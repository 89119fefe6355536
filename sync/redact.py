"""Keep credentials out of logs, errors and reprs.

Every URL or header set that may be printed goes through here first. Tokens never appear in
URLs in ACCS traffic, but IMS and proxies are not under our control, so query parameters with
credential-like names are masked too.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "SecretFilter", "record_message", "redact_url"]

REDACTED = "***"
_SENSITIVE = re.compile(
    r"(token|secret|password|passwd|authorization|api[-_]?key|code|assertion)", re.I
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact_url(url: str) -> str:
    """The URL with any userinfo password and credential-like query values masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if _SENSITIVE.search(k) else v) for k, v in pairs], safe="[]"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class SecretFilter:
    """A logging filter that masks known secret values and bearer tokens in every record.

    Installed on the root handlers by the CLI; secrets are registered as they become known
    (the client secret at start-up, each access token when minted).
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 6:
            self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            fits = True
        except Exception:  # noqa: BLE001 - arguments that do not fit the format
            # Logging would raise at the caller, or print them raw from the handler: the text
            # standing in for them becomes the message.
            message, fits = _unformatted(record), False
        scrubbed = self.scrub(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now, scrubbed, so handlers never see the raw text.
            formatter = logging.Formatter()
            record.exc_text = self.scrub(formatter.formatException(record.exc_info))
            record.exc_info = None
        if scrubbed != message or not fits:
            record.msg, record.args = scrubbed, None
        return True


def record_message(record: logging.LogRecord) -> str:
    """The record's message; when its arguments do not fit the format, the format and the
    arguments as text, instead of the exception logging would raise or print unscrubbed."""
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a wrong log call must not stop a sync
        return _unformatted(record)


def _unformatted(record: logging.LogRecord) -> str:
    return f"{record.msg!s} (arguments: {record.args!r})"

"""Keep credentials out of logs, errors and reprs.

Every URL or header set that may be printed goes through here first. Tokens never appear in
URLs in ACCS traffic, but IMS and proxies are not under our control, so query parameters with
credential-like names are masked too.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

__all__ = [
    "CONTROL",
    "REDACTED",
    "SecretFilter",
    "encoded_forms",
    "escape_control",
    "query_values",
    "record_message",
    "redact_url",
]

REDACTED = "***"
_SENSITIVE = re.compile(
    r"(token|secret|password|passwd|authorization|key|sig|code|assertion|credential)", re.I
)
#: What requests leaves unescaped when it re-quotes a URL (``requests.utils.requote_uri``).
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
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
            [(k, REDACTED if _SENSITIVE.search(k) else v) for k, v in pairs], safe="[]*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


#: C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional overrides that
#: reorder what a terminal shows.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_control(text: str) -> str:
    """``text`` with every control character written as Python writes it in a repr (``\\n``,
    ``\\x1b``, ``\\u2028``). Text from outside (Magento's messages, IMS's ``error_description``,
    a value echoed from the settings) goes through this before it enters one of our messages, so
    it can neither forge a log line nor send escape codes to the terminal."""
    return CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def encoded_forms(secret: str) -> list[str]:
    """``secret`` and the ways a URL or a form carries it (percent-encoded, ``+`` for spaces,
    as requests re-quotes a URL), longest first, so a log line shows none of them."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        quote(secret, safe=_URL_SAFE),
        quote(secret, safe="/"),
    }
    return sorted(forms, key=len, reverse=True)


def query_values(url: str) -> list[str]:
    """Every query value of ``url``, decoded and as written: ``IMS_TOKEN_URL`` may carry a key
    or a secret in its query, and urllib3 logs the request line at DEBUG."""
    query = urlsplit(url).query
    raw = [part.partition("=")[2] for part in query.split("&")]
    return [*raw, *(value for _, value in parse_qsl(query, keep_blank_values=True))]


class SecretFilter:
    """A logging filter that masks known secret values and bearer tokens in every record,
    percent-encoded forms included.

    Installed on the root handlers by the CLI; secrets are registered as they become known
    (the client secret at start-up, each access token when minted), from any thread: the
    known values are an immutable tuple, replaced whole under a lock, so a log call in another
    thread always iterates a complete one.
    """

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()
        self._known: set[str] = set()  # the same values, for add() only (under the lock)
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < 6:
            return
        with self._lock:
            new = [form for form in encoded_forms(secret) if form not in self._known]
            if new:
                self._known.update(new)
                # Longest first: a secret containing another is masked whole.
                self._secrets = tuple(sorted((*self._secrets, *new), key=len, reverse=True))

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

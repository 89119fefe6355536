"""Where log lines go and what they look like: text for people, JSON lines for log collectors.

``SYNC_LOG_FORMAT=text`` (the default) writes ``time LEVEL logger: message``, with the run's
context (:mod:`sync.logcontext`) in brackets when there is one. ``json`` writes one object per
line with ``time`` (UTC), ``level``, ``logger``, ``message``, ``thread``, the context fields
when set, ``exception`` when there is one, and any ``extra=`` fields of the record.

Secrets are masked in every field: the :class:`~sync.redact.SecretFilter` scrubs the message
and traceback of each record, and the formatters scrub every other string they write too. The
JSON formatter scrubs each value before encoding, not the encoded text, because JSON escaping
could hide a secret from a plain text search (a token with a ``/`` or a non-ASCII character).

The handler looks ``sys.stderr`` up at every line rather than holding the stream it started
with, so whoever redirects ``sys.stderr`` for a while (a progress bar printing log lines above
itself, pytest's capture) gets the lines.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from typing import Any, Literal, TextIO

from sync.logcontext import FIELDS, ContextFilter
from sync.redact import SecretFilter, record_message

__all__ = ["JsonFormatter", "LogFormat", "TextFormatter", "remove_logging", "setup_logging"]

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has (plus those formatters add): anything else came with extra=.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", *FIELDS}
# Nested extra values deeper than this are written as their text (and cycles end here).
_MAX_DEPTH = 8


class _StderrHandler(logging.StreamHandler[TextIO]):
    """A stream handler whose stream is whatever ``sys.stderr`` is when a line is written."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: StreamHandler's constructor and setStream assign it; stderr is looked up."""


def _context_label(record: logging.LogRecord) -> str:
    """The run context of ``record`` in a few characters, e.g. ``run 12 sync default p3``."""
    parts: list[str] = []
    run_id, kind, store, page = (getattr(record, name, None) for name in FIELDS)
    if run_id is not None:
        parts.append(f"run {run_id}")
    for value in (kind, store):
        if value is not None:
            parts.append(str(value))
    if page is not None:
        parts.append(f"p{page}")
    return " ".join(parts)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``; with a run context ``... logger: [run 12 sync default
    p3] message``. The whole line is scrubbed of secrets once more."""

    def __init__(self, secrets: SecretFilter) -> None:
        super().__init__(TEXT_FORMAT)
        self.secrets = secrets

    def formatMessage(self, record: logging.LogRecord) -> str:
        label = _context_label(record)
        if not label:
            return super().formatMessage(record)
        saved = record.message
        record.message = f"[{label}] {saved}"
        try:
            return super().formatMessage(record)
        finally:
            record.message = saved

    def format(self, record: logging.LogRecord) -> str:
        return self.secrets.scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, every string in it scrubbed of secrets. Never raises: a
    value JSON cannot hold is written as its text."""

    def __init__(self, secrets: SecretFilter) -> None:
        super().__init__()
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        try:
            fields = self._fields(record)
        except Exception as exc:  # noqa: BLE001 - a log line must never break the caller
            fields = {
                "time": _utc_time(time.time(), None),
                "level": "ERROR",
                "logger": __name__,
                "message": f"could not format a log record from {record.name!r}: "
                f"{type(exc).__name__}",
            }
        return json.dumps(self._clean(fields, 0), ensure_ascii=True, allow_nan=False)

    def _fields(self, record: logging.LogRecord) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": _utc_time(record.created, record.msecs),
            "level": record.levelname,
            "logger": record.name,
            "message": record_message(record),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        out["thread"] = record.threadName
        exception = record.exc_text
        if not exception and record.exc_info:
            exception = self.formatException(record.exc_info)
        if exception:
            out["exception"] = exception
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                out[name if name not in out else f"extra_{name}"] = value
        return out

    def _clean(self, value: Any, depth: int) -> Any:
        """``value`` as plain JSON data with every string (keys too) scrubbed."""
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str):
            return self.secrets.scrub(value)
        if depth < _MAX_DEPTH:
            if isinstance(value, dict):
                return {self._text(k): self._clean(v, depth + 1) for k, v in value.items()}
            if isinstance(value, list | tuple | set | frozenset):
                return [self._clean(v, depth + 1) for v in value]
        return self._text(value)

    def _text(self, value: Any) -> str:
        try:
            text = str(value)
        except Exception:  # noqa: BLE001 - a broken __str__ must not lose the line
            text = f"<unprintable {type(value).__name__}>"
        return self.secrets.scrub(text)


def _utc_time(created: float, msecs: float | None) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. ``2026-12-03T07:56:39.123Z``."""
    if msecs is None:
        msecs = (created - int(created)) * 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(msecs):03d}Z"


def setup_logging(level: str, fmt: LogFormat, secrets: SecretFilter) -> None:
    """Send every log record at ``level`` and above to ``sys.stderr`` in ``fmt``, with the run
    context and without secrets. Replaces what an earlier call installed."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    handler.addFilter(ContextFilter())
    handler.addFilter(secrets)
    remove_logging()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays at WARNING unless explicitly debugging.
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


_NOISY = ("urllib3", "apscheduler", "alembic")


def remove_logging() -> None:
    """Take away what :func:`setup_logging` installed: its handler (other handlers stay) and
    the third-party loggers' levels (so a later caller in the same process, a test say, sees
    their records as before)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
            handler.close()
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.NOTSET)

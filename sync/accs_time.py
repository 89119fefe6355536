"""ACCS timestamps and the ``--since``/``--until`` bounds: parsed to naive UTC, formatted the way
ACCS filters expect them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["ACCS_TIME_FORMAT", "format_accs_time", "parse_accs_time", "parse_window_time"]

# Magento REST returns timestamps as "YYYY-MM-DD HH:MM:SS" in UTC, without a zone.
ACCS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# The exact shape ACCS sends, parsed without strptime (which cost a third of parse_item).
_ACCS_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def parse_accs_time(value: str) -> datetime:
    """Parse an ACCS timestamp (UTC, ``YYYY-MM-DD HH:MM:SS``) into a naive UTC datetime.

    Raises ``ValueError`` for anything else, exactly as ``strptime`` with
    :data:`ACCS_TIME_FORMAT` would (which still handles every other spelling it accepts).
    """
    if _ACCS_TIME.fullmatch(value):
        return datetime.fromisoformat(value)  # exactly this shape: a tenth of strptime's cost
    return datetime.strptime(value, ACCS_TIME_FORMAT)


def format_accs_time(value: datetime) -> str:
    """Format a naive-UTC (or aware) datetime the way ACCS filters expect it."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(ACCS_TIME_FORMAT)


_WINDOW_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_window_time(text: str) -> datetime:
    """A ``--since``/``--until`` bound as naive UTC: ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM[:SS]``
    (UTC) or ISO 8601 with ``T`` and an optional zone (``Z``, ``+02:00``), converted to UTC.

    Raises ``ValueError`` with a message that shows the accepted forms.
    """
    value = text.strip()
    if not _WINDOW_TIME.match(value):
        raise ValueError(
            f"{text!r} is not a time; use UTC 'YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS' "
            "or ISO 8601 such as '2026-01-31T12:00:00Z'"
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date or time: {exc}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.replace(microsecond=0)

"""A backfill's ``updated_at`` window, and the kinds of run: plain values every layer may use.

A windowed backfill (``accs-sync backfill --since/--until``) mirrors the products changed in
``since <= updated_at < until``; it never tombstones nor moves the watermark, since it saw only
part of the catalog. The window is stored in a full pass's checkpoint (its JSON is part of the
``sync_state`` contract), so a resumed pass keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sync.accs_time import format_accs_time, parse_accs_time
from sync.api.criteria import Filter
from sync.planner import describe

__all__ = ["RunKind", "Window", "window_filters"]

RunKind = Literal["sync", "backfill", "reconcile", "refetch"]


@dataclass(frozen=True)
class Window:
    """A backfill's ``updated_at`` window: ``since <= updated_at < until`` (naive UTC)."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(
                f"--since ({format_accs_time(self.since)}) must be before "
                f"--until ({format_accs_time(self.until)})"
            )

    def __bool__(self) -> bool:
        return self.since is not None or self.until is not None

    def to_json(self) -> dict[str, str | None]:
        return {
            "since": None if self.since is None else format_accs_time(self.since),
            "until": None if self.until is None else format_accs_time(self.until),
        }

    @classmethod
    def from_json(cls, data: Any) -> Window:
        if not isinstance(data, dict):
            return cls()
        since, until = data.get("since"), data.get("until")
        return cls(
            since=parse_accs_time(since) if isinstance(since, str) else None,
            until=parse_accs_time(until) if isinstance(until, str) else None,
        )

    def groups(self, field: str = "updated_at") -> tuple[tuple[Filter, ...], ...]:
        """The window as filter groups on ``field`` (see :func:`window_filters`)."""
        return window_filters(field, self.to_json())

    def describe(self) -> str:
        """``the whole catalog`` or ``updated_at in [since, until)``, for log lines."""
        return describe(self.to_json())


def window_filters(
    field: str | None, window: Mapping[str, str | None]
) -> tuple[tuple[Filter, ...], ...]:
    """``since <= field < until`` as ``searchCriteria`` filter groups (ANDed), from a window
    as checkpoints store it; none for an open side, or without an incremental ``field``."""
    bounds = ((window.get("since"), "gteq"), (window.get("until"), "lt"))
    return tuple(
        (Filter(field, value, condition),)
        for value, condition in bounds
        if value is not None and field is not None
    )

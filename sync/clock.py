"""Time as a seam: logic asks a Clock, so tests can drive time instead of sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """What logic may know about time."""

    def now(self) -> datetime:
        """Current wall-clock time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""

    def sleep(self, seconds: float) -> None:
        """Pause. Implementations may return early (see ``stop_event``)."""


class SystemClock:
    """The real clock. ``stop_event`` makes :meth:`sleep` wake up early on shutdown."""

    def __init__(self, stop_event: threading.Event | None = None) -> None:
        self.stop_event = stop_event

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.stop_event is not None:
            self.stop_event.wait(seconds)
        else:
            time.sleep(seconds)


class FakeClock:
    """A clock for tests: time moves only when :meth:`sleep` or :meth:`advance` is called."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now + timedelta(seconds=self._mono - 1000.0)

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._mono += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._mono += seconds

"""A requests-per-second limit like Adobe's API gateway: a token bucket over all ACCS calls.

The bucket holds up to ``burst`` tokens and refills continuously at ``rate`` per second; each
request takes one. A request that finds none is refused, and learns how long until a token
will be there (the gateway's ``Retry-After``). Refused requests take nothing, so a client that
waits as told gets in.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket", "retry_after_seconds"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full.

    ``monotonic`` is the time source (seconds, never going back), injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        self.rate = float(rate)
        self.burst = max(1, round(rate)) if burst is None else int(burst)
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._last = monotonic()

    def take(self) -> float:
        """Take a token: ``0.0`` when one was there, else the seconds until one will be."""
        with self._lock:
            now = self._monotonic()
            elapsed = max(now - self._last, 0.0)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


def retry_after_seconds(wait: float) -> int:
    """A ``Retry-After`` value for ``wait`` seconds: whole seconds, rounded up, at least 1.
    (A hair of float error must not turn an exact 2.0 into 3.)"""
    return max(1, math.ceil(wait - 1e-9))

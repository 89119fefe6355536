"""One request gate shared by every worker: how many ACCS requests may be in flight, and when.

Concurrent workers must never turn a rate limit into a storm of 429s. Every ACCS request passes
through one :class:`RequestGate`:

* **Concurrency** starts at ``SYNC_CONCURRENCY``. A 429 halves it (at least 1); it climbs back
  by one after a run of successes as long as the current limit times :attr:`climb_after`.
* **A 429 pauses everyone** until its ``Retry-After`` (1 s when the answer has none): no worker
  sends anything during the pause. Requests already on the wire may come back 429 too; they
  extend the pause but count as the same event (concurrency is halved once). A pause never
  lasts longer than ``SYNC_MAX_RETRY_AFTER``: a ``Retry-After`` beyond it (``86400``, a date in
  2099) is one the retry policy will not wait for, so every request waiting in the gate is
  refused at once with that ``Retry-After`` (the run gives up promptly instead of its workers
  sleeping in the gate), and :meth:`RequestGate.lift` ends any pause when a run ends, so the
  next run asks ACCS again.
* **A request rate.** ``SYNC_MAX_RPS`` (N) caps the rate from the start: at most N requests in
  any one-second window (for N below 1, one request per 1/N seconds). That is what "N requests
  per second" admits under each common gateway algorithm (a fixed window per second, a sliding
  window, a token bucket holding a second's worth), so a run may use a second's budget at once
  instead of spacing its first requests out. Without it, the first 429 teaches a rate: the
  requests ACCS accepted in the second before the 429, less 10%, and requests are then spaced
  evenly at that rate (never above ``SYNC_MAX_RPS``). A learnt rate rises by 5% after every
  :attr:`rate_climb_seconds` without a 429, so a limit that was lifted is found again slowly.

What is retried, and how long a failed request waits before its retry, stays the business of
:class:`~sync.api.retry.RetryPolicy`; the gate only decides when a request may go out.
:class:`GatePolicy` is the arithmetic (a pure function of time, unit-tested without threads);
:class:`RequestGate` adds the locking and waiting.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sync.clock import Clock, SystemClock
from sync.errors import Interrupted, RateLimited

__all__ = ["GatePolicy", "GateStats", "RequestGate", "Slot"]

log = logging.getLogger(__name__)

#: Seconds of pause for a 429 without a (usable) Retry-After.
DEFAULT_PAUSE = 1.0


@dataclass
class GateStats:
    """What the gate did during a process's life (for logs and tests)."""

    rate_limited: int = 0  # 429 answers seen
    pauses: int = 0  # 429 events (the 429s of one pause count once)
    paused_seconds: float = 0.0
    max_in_flight: int = 0


@dataclass
class GatePolicy:
    """The gate's decisions as a function of time (``now`` is a monotonic clock reading)."""

    max_concurrency: int
    max_rps: float | None = None
    climb_after: int = 4
    rate_climb_seconds: float = 30.0
    limit: int = 0
    rate: float | None = None
    in_flight: int = 0
    paused_until: float = 0.0
    next_send: float = 0.0
    streak: int = 0
    last_limited: float | None = None
    #: Whether ``rate`` was learnt from a 429 (spaced evenly) or is SYNC_MAX_RPS (a window).
    learnt: bool = False
    #: The longest pause (SYNC_MAX_RETRY_AFTER); None: no cap.
    max_pause: float | None = None
    #: While ``now < refused_until``, requests are refused: ACCS asked for a pause (until
    #: ``asked_until``) longer than ``max_pause``.
    refused_until: float = 0.0
    asked_until: float = 0.0
    stats: GateStats = field(default_factory=GateStats)
    #: Send times of requests ACCS answered with anything but 429 (the last second's worth).
    _accepted: deque[float] = field(default_factory=deque, repr=False)
    #: Send times within the last window, for the SYNC_MAX_RPS cap.
    _sent: deque[float] = field(default_factory=deque, repr=False)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.limit = self.limit or self.max_concurrency
        self.rate = self.max_rps

    def refused(self, now: float) -> float | None:
        """Seconds ACCS still asks everyone to wait when that is more than ``max_pause`` (no
        request may go: each is refused with it); None otherwise."""
        if now < self.refused_until:
            return self.asked_until - now
        return None

    def lift(self) -> None:
        """End any pause or refusal now (a run ended: the next one asks ACCS afresh)."""
        self.paused_until = self.refused_until = self.asked_until = 0.0
        self.next_send = 0.0

    def delay(self, now: float) -> float | None:
        """Seconds to wait before a request may go out now; ``None``: wait for a free slot;
        ``0``: it may go (call :meth:`take`)."""
        if now < self.paused_until:
            return self.paused_until - now
        if self.in_flight >= self.limit:
            return None
        self._climb_rate(now)
        if self.rate is None:
            return 0.0
        if self.learnt:
            return max(0.0, self.next_send - now)
        window, budget = self._window()
        while self._sent and self._sent[0] <= now - window:
            self._sent.popleft()
        if len(self._sent) < budget:
            return 0.0
        return self._sent[0] + window - now

    def _window(self) -> tuple[float, int]:
        """The SYNC_MAX_RPS window: (seconds, requests allowed in it)."""
        assert self.rate is not None
        window = max(1.0, 1.0 / self.rate)
        return window, max(1, int(self.rate * window + 1e-9))

    def take(self, now: float) -> None:
        """A request goes out at ``now`` (only after :meth:`delay` said 0)."""
        self.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.in_flight)
        if self.rate is not None:
            self.next_send = max(now, self.next_send) + 1.0 / self.rate
            if not self.learnt:
                self._sent.append(now)

    def answered(self, sent: float, now: float, success: bool = True) -> None:
        """ACCS answered the request sent at ``sent`` with anything but a 429 (``success``:
        a usable answer; an error answer still counts against the gateway's rate)."""
        self.in_flight -= 1
        self._accepted.append(sent)
        self._forget(now)
        if not success:
            return
        self.streak += 1
        if self.limit < self.max_concurrency and self.streak >= self.limit * self.climb_after:
            self.limit += 1
            self.streak = 0
            log.debug("request concurrency back up to %d", self.limit)

    def failed(self) -> None:
        """The request got no answer (network error) or the caller gave up on it."""
        self.in_flight -= 1

    def rate_limited(self, retry_after: float | None, now: float) -> bool:
        """ACCS answered 429. Returns whether this started a new pause (a new event)."""
        self.in_flight -= 1
        self.stats.rate_limited += 1
        wait = retry_after if retry_after is not None and retry_after > 0 else DEFAULT_PAUSE
        if self.max_pause is not None and wait > self.max_pause:
            self.asked_until = max(self.asked_until, now + wait)
            wait = self.max_pause
            self.refused_until = max(self.refused_until, now + wait)
        new_event = now >= self.paused_until
        until = now + wait
        if until > self.paused_until:
            self.stats.paused_seconds += until - max(now, self.paused_until)
            self.paused_until = until
        self.streak = 0
        self.last_limited = now
        if not new_event:
            return False
        self.stats.pauses += 1
        self.limit = max(1, self.limit // 2)
        self._forget(now)
        learnt = 0.9 * len(self._accepted)  # accepted in the last second, less 10%
        if learnt >= 0.5 and (self.rate is None or learnt < self.rate):
            self.rate, self.learnt = learnt, True
        self.next_send = max(self.next_send, self.paused_until)
        return True

    def _forget(self, now: float) -> None:
        while self._accepted and self._accepted[0] < now - 1.0:
            self._accepted.popleft()

    def _climb_rate(self, now: float) -> None:
        if self.rate is None or self.last_limited is None:
            return
        if now - self.last_limited < self.rate_climb_seconds:
            return
        raised = self.rate * 1.05
        if self.max_rps is not None and raised >= self.max_rps:
            self.rate, self.learnt = self.max_rps, False
            self._sent.clear()
        else:
            self.rate = raised
        self.last_limited = now  # the next step comes another rate_climb_seconds later


class Slot:
    """One request's place in the gate; tell it how ACCS answered."""

    def __init__(self, gate: RequestGate, sent: float) -> None:
        self._gate = gate
        self.sent = sent
        self._settled = False

    def answered(self, success: bool = True) -> None:
        """ACCS answered (anything but 429); ``success``: with a usable answer."""
        self._settle("answered" if success else "error")

    def rate_limited(self, retry_after: float | None) -> None:
        self._settle("rate_limited", retry_after)

    def _settle(self, how: str, retry_after: float | None = None) -> None:
        if not self._settled:
            self._settled = True
            self._gate._settle(self, how, retry_after)


class RequestGate:
    """Thread-safe front of :class:`GatePolicy`; waits honour the stop event."""

    def __init__(
        self,
        max_concurrency: int = 1,
        max_rps: float | None = None,
        clock: Clock | None = None,
        stop_event: threading.Event | None = None,
        max_pause: float | None = 300.0,
    ) -> None:
        self.policy = GatePolicy(
            max_concurrency=max_concurrency, max_rps=max_rps, max_pause=max_pause
        )
        self._clock = clock or SystemClock(stop_event)
        self._stop = stop_event or threading.Event()
        self._cond = threading.Condition()

    @property
    def stats(self) -> GateStats:
        return self.policy.stats

    def __repr__(self) -> str:
        p = self.policy
        rate = "none" if p.rate is None else f"{p.rate:.1f}/s"
        return f"RequestGate(limit={p.limit}/{p.max_concurrency}, rate={rate})"

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Wait for the right to send one request; the body sends it and settles the slot.
        A slot left unsettled (an exception, no answer) frees its place without a verdict."""
        slot = Slot(self, self._acquire())
        try:
            yield slot
        finally:
            if not slot._settled:
                slot._settled = True
                with self._cond:
                    self.policy.failed()
                    self._cond.notify_all()

    def _acquire(self) -> float:
        while True:
            if self._stop.is_set():
                raise Interrupted("stop requested; every page fetched so far is committed")
            with self._cond:
                now = self._clock.monotonic()
                asked = self.policy.refused(now)
                if asked is not None:
                    raise RateLimited(
                        f"ACCS asked every client to wait {asked:.0f}s (Retry-After), longer "
                        f"than SYNC_MAX_RETRY_AFTER ({self.policy.max_pause:.0f}s)",
                        retry_after=asked,
                    )
                wait = self.policy.delay(now)
                if wait == 0.0:
                    self.policy.take(now)
                    return now
                if wait is None:
                    # A free slot is announced by notify_all; the timeout re-checks stop.
                    self._cond.wait(timeout=0.5)
                    continue
            self._clock.sleep(min(wait, 1.0))

    def lift(self) -> None:
        """End any pause or refusal (called when a run ends: a pause never outlives its run)."""
        with self._cond:
            self.policy.lift()
            self._cond.notify_all()

    def _settle(self, slot: Slot, how: str, retry_after: float | None) -> None:
        with self._cond:
            now = self._clock.monotonic()
            if how in ("answered", "error"):
                self.policy.answered(slot.sent, now, success=how == "answered")
            else:
                p = self.policy
                if p.rate_limited(retry_after, now):
                    rate = "" if p.rate is None else f", at most {p.rate:.1f} requests/s"
                    log.warning(
                        "ACCS rate limit (429): every worker pauses %.1fs; concurrency now %d%s",
                        p.paused_until - now,
                        p.limit,
                        rate,
                    )
            self._cond.notify_all()

"""The one retry policy for every HTTP call: bounded, jittered, and polite to rate limits.

- Retries only :class:`~sync.errors.RetriableApiError` (429, 5xx, network, garbled 2xx).
- A 429's ``Retry-After`` is obeyed exactly; anything else backs off exponentially with jitter.
  With concurrent workers (:meth:`RetryPolicy.for_workers`) the first wait is short, because
  the other workers keep going meanwhile, and later waits grow faster, so an outage is waited
  out about as long as with one worker.
- Stops on attempts AND on total time spent waiting, and at once when a shutdown is requested.
- A connection refused or a host name not found, from an endpoint that has not answered once
  in this process (:attr:`~sync.errors.Unreachable.first_contact`), is given up on after
  ``first_contact_wait`` (20 s): that is a wrong URL far more often than an outage, and a
  wrong URL should not take minutes to report. An endpoint that answered before gets the
  full, patient budget: then it is an outage or a restart worth waiting out.
- A ``Retry-After`` longer than ``max_retry_after`` is not slept through: the run fails and the
  next scheduled run tries again, instead of a worker hanging for an hour.
- Sleeping goes through the injected :class:`~sync.clock.Clock`, so tests record waits.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from sync.clock import Clock, SystemClock
from sync.errors import RateLimited, RetriableApiError, Unreachable
from sync.observe import Observer, retry_reason

__all__ = ["RetryPolicy"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class RetryPolicy:
    """Built once per process from settings and shared by every HTTP call."""

    max_attempts: int = 8
    max_total_wait: float = 900.0
    max_retry_after: float = 300.0
    #: Seconds of waiting before giving up on an endpoint that never answered (see above).
    first_contact_wait: float = 20.0
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    jitter: float = 1.0
    exp_base: float = 2.0
    clock: Clock = field(default_factory=SystemClock)
    stop_event: threading.Event | None = None
    #: Told of every retry (for the metrics and the progress display).
    observer: Observer | None = None
    #: What ``max_retry_after`` is called when a Retry-After beyond it is reported.
    retry_after_name: str = "SYNC_MAX_RETRY_AFTER"

    @classmethod
    def for_workers(cls, workers: int, **kwargs: Any) -> RetryPolicy:
        """The policy for ``workers`` concurrent workers: 1 s, 2 s, 4 s ... for one; 0.25 s,
        0.75 s, 2.25 s ... (up to the same 60 s) for several."""
        if workers > 1:
            kwargs = {"initial_backoff": 0.25, "jitter": 0.25, "exp_base": 3.0, **kwargs}
        return cls(**kwargs)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after
        # tenacity's wait_exponential_jitter, written out: its 'initial' is deprecated in newer
        # releases in favour of a 'multiplier' that older ones (still allowed here) lack.
        exponent = max(state.attempt_number - 1, 0)
        try:
            backoff = self.initial_backoff * self.exp_base**exponent
        except OverflowError:
            backoff = self.max_backoff
        return min(self.max_backoff, backoff + random.uniform(0, self.jitter))  # noqa: S311

    def _stop(self, state: RetryCallState) -> bool:
        if self.stop_event is not None and self.stop_event.is_set():
            return True
        if state.attempt_number >= self.max_attempts:
            return True
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and self._too_long(exc):
            return True
        waited = state.idle_for + (state.upcoming_sleep or 0.0)
        if _never_answered(exc) and waited > self.first_contact_wait:
            return True
        return waited > self.max_total_wait

    def _too_long(self, exc: RateLimited) -> bool:
        return (exc.retry_after or 0) > self.max_retry_after

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "attempt %d failed (%s); retrying in %.1fs",
            state.attempt_number,
            exc,
            state.upcoming_sleep,
        )
        if self.observer is not None:
            self.observer.retry(retry_reason(exc))

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` until it succeeds or the policy gives up; the last error is re-raised."""
        retrying = Retrying(
            sleep=self.clock.sleep,
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception_type(RetriableApiError),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except RateLimited as exc:
            if not self._too_long(exc):
                raise
            message = (
                f"ACCS asked to wait {exc.retry_after:.0f}s (Retry-After), longer than "
                f"{self.retry_after_name} ({self.max_retry_after:.0f}s): giving up this run; "
                "the next run tries again"
            )
            log.warning("%s", message)
            raise RateLimited(message, retry_after=exc.retry_after, url=exc.url) from None
        except Unreachable as exc:
            if not _never_answered(exc):
                raise
            raise Unreachable(
                f"{exc.message} ({exc.setting} never answered in this run: more likely a "
                "wrong URL than an outage)",
                reason=exc.reason,
                setting=exc.setting,
                url=exc.url,
                first_contact=True,
            ) from None


def _never_answered(exc: BaseException | None) -> bool:
    """A refused connection or an unknown host name from an endpoint that never answered."""
    return isinstance(exc, Unreachable) and exc.first_contact and exc.reason in ("refused", "dns")

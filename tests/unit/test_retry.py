"""The retry policy: what is retried, how long it waits, and when it gives up."""

from __future__ import annotations

import threading

import pytest

from sync.api.retry import RetryPolicy
from sync.clock import FakeClock
from sync.errors import FatalApiError, RateLimited, RetriableApiError


def flaky(failures: list[Exception], result: str = "ok"):
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if failures:
            raise failures.pop(0)
        return result

    return fn, calls


def test_retry_after_is_obeyed_exactly() -> None:
    clock = FakeClock()
    fn, calls = flaky(
        [RateLimited("slow down", retry_after=7), RateLimited("again", retry_after=3)]
    )
    assert RetryPolicy(clock=clock).call(fn) == "ok"
    assert clock.sleeps == [7, 3]
    assert calls["n"] == 3


def test_server_errors_back_off_exponentially_with_jitter() -> None:
    clock = FakeClock()
    fn, _ = flaky([RetriableApiError("503")] * 4)
    policy = RetryPolicy(clock=clock, initial_backoff=1, max_backoff=60, jitter=1)
    assert policy.call(fn) == "ok"
    # 1, 2, 4, 8 seconds plus up to 1s of jitter each
    for expected, slept in zip([1, 2, 4, 8], clock.sleeps, strict=True):
        assert expected <= slept <= expected + 1


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    clock = FakeClock()
    fn, calls = flaky([RetriableApiError(f"503 #{i}") for i in range(10)])
    with pytest.raises(RetriableApiError, match="503 #2"):
        RetryPolicy(clock=clock, max_attempts=3).call(fn)
    assert calls["n"] == 3


def test_gives_up_when_total_wait_would_exceed_the_budget() -> None:
    clock = FakeClock()
    fn, calls = flaky([RateLimited("x", retry_after=40) for _ in range(10)])
    with pytest.raises(RateLimited):
        RetryPolicy(clock=clock, max_attempts=50, max_total_wait=100).call(fn)
    assert sum(clock.sleeps) <= 100
    assert calls["n"] == 3  # waited 40 + 40; a third 40 would pass 100


def test_a_retry_after_beyond_the_cap_fails_fast_instead_of_hanging() -> None:
    clock = FakeClock()
    fn, calls = flaky([RateLimited("x", retry_after=3600)])
    with pytest.raises(RateLimited):
        RetryPolicy(clock=clock, max_retry_after=300).call(fn)
    assert clock.sleeps == [] and calls["n"] == 1


def test_fatal_errors_are_not_retried() -> None:
    clock = FakeClock()
    fn, calls = flaky([FatalApiError("400 bad request")])
    with pytest.raises(FatalApiError):
        RetryPolicy(clock=clock).call(fn)
    assert calls["n"] == 1 and clock.sleeps == []


def test_a_stop_request_ends_retrying_at_once() -> None:
    clock = FakeClock()
    stop = threading.Event()
    stop.set()
    fn, calls = flaky([RetriableApiError("503")] * 5)
    with pytest.raises(RetriableApiError):
        RetryPolicy(clock=clock, stop_event=stop).call(fn)
    assert calls["n"] == 1


def test_with_several_workers_the_first_wait_is_short_and_an_outage_is_still_waited_out() -> None:
    one, several = FakeClock(), FakeClock()
    for clock, workers in ((one, 1), (several, 4)):
        fn, _ = flaky([RetriableApiError("503")] * 7)
        RetryPolicy.for_workers(workers, clock=clock).call(fn)
    assert 1 <= one.sleeps[0] <= 2
    assert 0.25 <= several.sleeps[0] <= 0.5  # the other workers go on meanwhile
    for expected, slept in zip([0.25, 0.75, 2.25, 6.75, 20.25, 60], several.sleeps, strict=False):
        assert expected <= slept <= expected + 0.25
    assert sum(several.sleeps) >= 0.8 * sum(one.sleeps)

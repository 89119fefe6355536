"""A long Retry-After never wedges the gate: the pause is capped at SYNC_MAX_RETRY_AFTER, a
429 asking for more makes every waiting worker give up at once, and the pause ends with the
run."""

from __future__ import annotations

import threading
import time

import pytest

from sync.api.classify import parse_retry_after
from sync.api.limiter import GatePolicy, RequestGate
from sync.api.retry import RetryPolicy
from sync.clock import FakeClock
from sync.errors import RateLimited


def send(policy: GatePolicy, now: float) -> float:
    assert policy.delay(now) == 0.0
    policy.take(now)
    return now


def test_a_retry_after_longer_than_the_cap_pauses_the_gate_at_most_the_cap() -> None:
    policy = GatePolicy(max_concurrency=2, max_pause=2.0)
    send(policy, 10.0)
    policy.rate_limited(86400.0, 10.0)
    assert policy.delay(10.0) == pytest.approx(2.0)
    # Meanwhile everyone is told what ACCS asked for, so the retry policy gives up at once.
    assert policy.refused(10.5) == pytest.approx(86400.0 - 0.5)
    assert policy.refused(12.0) is None and policy.delay(12.0) == 0.0


def test_a_retry_after_within_the_cap_is_an_ordinary_pause() -> None:
    policy = GatePolicy(max_concurrency=1, max_pause=2.0)
    send(policy, 0.0)
    policy.rate_limited(1.5, 0.0)
    assert policy.delay(0.5) == pytest.approx(1.0)
    assert policy.refused(0.5) is None


def test_lifting_the_gate_ends_a_pause_and_a_refusal() -> None:
    policy = GatePolicy(max_concurrency=2, max_pause=300.0)
    send(policy, 0.0)
    policy.rate_limited(86400.0, 0.0)
    policy.lift()
    assert policy.refused(1.0) is None and policy.delay(1.0) == 0.0


def test_workers_waiting_in_the_gate_give_up_at_once_on_an_overlong_retry_after() -> None:
    gate = RequestGate(max_concurrency=1, max_pause=300.0)
    outcome: dict[str, object] = {}

    def wait_for_a_slot() -> None:
        try:
            with gate.slot() as slot:
                slot.answered()
            outcome["error"] = None
        except RateLimited as exc:
            outcome["error"] = exc

    with gate.slot() as first:
        waiting = threading.Thread(target=wait_for_a_slot)
        waiting.start()
        time.sleep(0.2)  # the second request waits for the only slot
        started = time.monotonic()
        first.rate_limited(86400.0)
    waiting.join(timeout=5)
    assert not waiting.is_alive() and time.monotonic() - started < 2.0
    error = outcome["error"]
    assert isinstance(error, RateLimited) and (error.retry_after or 0) > 86000
    assert "SYNC_MAX_RETRY_AFTER" in error.message
    gate.lift()
    with gate.slot() as slot:  # the next run asks ACCS again
        slot.answered()


def test_the_retry_policy_names_the_setting_when_a_retry_after_is_too_long() -> None:
    clock = FakeClock()

    def limited() -> None:
        raise RateLimited("ACCS rate limit (429: Too many requests)", retry_after=86400.0)

    with pytest.raises(RateLimited) as info:
        RetryPolicy(clock=clock, max_retry_after=2).call(limited)
    assert "SYNC_MAX_RETRY_AFTER" in info.value.message and "86400" in info.value.message
    assert clock.sleeps == []


def test_an_http_date_in_2099_is_capped_like_any_long_retry_after() -> None:
    asked = parse_retry_after("Thu, 01 Jan 2099 00:00:00 GMT")
    assert asked is not None and asked > 86400 * 365
    policy = GatePolicy(max_concurrency=4, max_pause=2.0)
    send(policy, 0.0)
    policy.rate_limited(asked, 0.0)
    assert policy.delay(0.0) == pytest.approx(2.0)
    assert (policy.refused(1.0) or 0) > 86400 * 365

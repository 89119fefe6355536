"""The shared request gate: concurrency, 429 pauses, learnt and capped request rates."""

from __future__ import annotations

import threading
import time

import pytest

from sync.api.limiter import GatePolicy, RequestGate
from sync.clock import FakeClock
from sync.errors import Interrupted


def send(policy: GatePolicy, now: float) -> float:
    assert policy.delay(now) == 0.0
    policy.take(now)
    return now


def test_concurrency_is_bounded_and_freed_by_answers() -> None:
    policy = GatePolicy(max_concurrency=2)
    a, _ = send(policy, 0.0), send(policy, 0.0)
    assert policy.delay(0.0) is None  # both slots taken: wait for an answer
    policy.answered(a, 0.1)
    assert policy.delay(0.1) == 0.0


def test_a_429_pauses_everyone_for_retry_after_and_halves_concurrency_once() -> None:
    policy = GatePolicy(max_concurrency=4)
    sent = [send(policy, 0.0) for _ in range(4)]
    assert policy.rate_limited(3.0, 0.5) is True
    # The other requests that were already on the wire come back 429 too: same event.
    assert policy.rate_limited(3.0, 0.6) is False
    assert policy.rate_limited(None, 0.7) is False
    assert policy.limit == 2
    assert policy.stats.rate_limited == 3 and policy.stats.pauses == 1
    assert policy.delay(1.0) == pytest.approx(2.6)  # until 0.6 + 3.0
    assert policy.delay(3.6) == 0.0
    policy.answered(sent[3], 3.6)


def test_a_429_without_retry_after_pauses_one_second() -> None:
    policy = GatePolicy(max_concurrency=1)
    send(policy, 10.0)
    policy.rate_limited(None, 10.0)
    assert policy.delay(10.5) == pytest.approx(0.5)


def test_concurrency_climbs_back_slowly_after_successes() -> None:
    policy = GatePolicy(max_concurrency=4, climb_after=2)
    send(policy, 0.0)
    policy.rate_limited(1.0, 0.0)
    assert policy.limit == 2
    now = 2.0
    for _ in range(3):  # 2 x 2 successes are needed for one step
        policy.answered(send(policy, now), now)
        now += 1.0
    assert policy.limit == 2
    policy.answered(send(policy, now), now)
    assert policy.limit == 3


def test_errors_free_the_slot_but_do_not_count_as_successes() -> None:
    policy = GatePolicy(max_concurrency=2, limit=1, climb_after=1)
    policy.answered(send(policy, 0.0), 0.1, success=False)
    assert policy.limit == 1 and policy.in_flight == 0
    policy.answered(send(policy, 0.2), 0.3)
    assert policy.limit == 2


def test_max_rps_allows_at_most_n_requests_in_any_second_from_the_start() -> None:
    policy = GatePolicy(max_concurrency=20, max_rps=10)
    for n in range(10):
        send(policy, n * 0.01)  # a second's budget at once
    assert policy.delay(0.1) == pytest.approx(0.9)  # the first one leaves the window at 1.0
    assert policy.delay(1.0) == 0.0
    send(policy, 1.0)
    assert policy.delay(1.0) == pytest.approx(0.01)
    slow = GatePolicy(max_concurrency=2, max_rps=0.5)  # one request per two seconds
    send(slow, 0.0)
    assert slow.delay(1.0) == pytest.approx(1.0)


def test_a_learnt_rate_spaces_requests_evenly() -> None:
    policy = GatePolicy(max_concurrency=4)
    for n in range(10):
        policy.answered(send(policy, n * 0.1), n * 0.1 + 0.05)
    send(policy, 1.0)
    policy.rate_limited(1.0, 1.0)
    assert policy.learnt and policy.rate == pytest.approx(9.0)
    send(policy, 2.0)
    assert policy.delay(2.0) == pytest.approx(1 / 9.0)


def test_the_first_429_teaches_a_rate_below_what_accs_accepted() -> None:
    policy = GatePolicy(max_concurrency=4)
    now = 0.0
    for _ in range(25):  # 25 requests accepted within the last second
        policy.answered(send(policy, now), now + 0.01)
        now += 0.035
    send(policy, now)
    policy.rate_limited(1.0, now)
    assert policy.rate == pytest.approx(0.9 * 25)
    # A later 429 that shows an even lower accepted rate lowers it again, never raises it.
    now += 1.0
    for _ in range(5):
        policy.answered(send(policy, now), now)
        now += 0.19
    send(policy, now)
    policy.rate_limited(1.0, now)
    assert policy.rate == pytest.approx(0.9 * 5)


def test_a_learnt_rate_climbs_slowly_and_never_above_max_rps() -> None:
    policy = GatePolicy(max_concurrency=2, max_rps=10, rate_climb_seconds=30)
    now = 0.0
    for _ in range(8):
        policy.answered(send(policy, now), now)
        now += 0.11
    send(policy, now)
    policy.rate_limited(1.0, now)
    learnt = policy.rate
    assert learnt is not None and learnt < 10
    policy.delay(now + 10)
    assert policy.rate == learnt
    policy.delay(now + 31)
    assert policy.rate == pytest.approx(min(learnt * 1.05, 10))
    for step in range(2, 40):
        policy.delay(now + 31 * step)
    assert policy.rate == 10


def test_the_gate_pauses_every_thread_during_a_429() -> None:
    gate = RequestGate(max_concurrency=3)
    sent: list[float] = []
    lock = threading.Lock()
    with gate.slot() as slot:
        slot.rate_limited(0.3)
    paused_at = time.monotonic()

    def worker() -> None:
        with gate.slot() as s:
            with lock:
                sent.append(time.monotonic())
            s.answered()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert len(sent) == 3
    assert min(sent) - paused_at >= 0.28  # nobody went out during the pause
    assert gate.stats.max_in_flight >= 1


def test_a_stop_request_interrupts_a_waiting_worker() -> None:
    stop = threading.Event()
    gate = RequestGate(max_concurrency=1, stop_event=stop)
    errors: list[BaseException] = []
    with gate.slot():  # holds the only slot

        def waiter() -> None:
            try:
                with gate.slot():
                    pass
            except Interrupted as exc:
                errors.append(exc)

        thread = threading.Thread(target=waiter)
        thread.start()
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive() and len(errors) == 1


def test_the_gate_waits_through_the_injected_clock() -> None:
    clock = FakeClock()
    gate = RequestGate(max_concurrency=1, max_rps=2, clock=clock)
    for _ in range(3):
        with gate.slot() as slot:
            slot.answered()
    assert sum(clock.sleeps) == pytest.approx(1.0)  # two gaps of half a second


def test_an_unsettled_slot_frees_its_place() -> None:
    gate = RequestGate(max_concurrency=1)
    with pytest.raises(RuntimeError), gate.slot():
        raise RuntimeError("no answer")
    assert gate.policy.in_flight == 0

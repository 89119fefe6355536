"""What the emulator's Stats show about concurrency: requests in flight, and when each came."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import requests

from sync.clock import FakeClock
from sync.emulator import Catalog, EmulatorApp, EmulatorServer, Faults

LIST_QUERY = urlencode({"searchCriteria[pageSize]": "2"})


def _app(
    clock: FakeClock,
    faults: Faults | None = None,
    sleep: Callable[[float], None] | None = None,
) -> EmulatorApp:
    return EmulatorApp(
        Catalog.generate(10, seed=1),
        tenant="t1",
        client_id="cid",
        client_secret="s3cret",
        org_id="ORG@AdobeOrg",
        faults=faults or Faults(),
        sleep=sleep or clock.sleep,
        monotonic=clock.monotonic,
    )


def _headers(app: EmulatorApp) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {app.issue_token()}",
        "x-api-key": "cid",
        "x-gw-ims-org-id": "ORG@AdobeOrg",
    }


def test_a_request_is_in_flight_during_its_latency_and_stamped_on_arrival_and_answer() -> None:
    clock = FakeClock()
    seen: list[int] = []

    def observing_sleep(seconds: float) -> None:
        seen.append(app.stats.in_flight)
        clock.sleep(seconds)

    app = _app(clock, Faults(latency=0.5), observing_sleep)
    start = clock.monotonic()
    response = app.handle("GET", "/t1/V1/products", _headers(app), LIST_QUERY)
    assert response.status == 200
    assert seen == [1]  # counted while the injected latency ran
    record = app.stats.list_requests()[-1]
    assert record.arrived == start
    assert record.answered == start + 0.5
    assert app.stats.in_flight == 0 and app.stats.max_in_flight == 1


def test_latency_is_the_time_to_answer_with_the_emulators_own_work_inside_it() -> None:
    """``latency`` models a remote server's answer time: the emulator's own work on the
    request (building and encoding a page, which on a small machine it shares with the
    client) is inside it, not added to it, so a benchmark at 500 ms per request sees 500 ms."""
    clock = FakeClock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.sleep(seconds)

    app = _app(clock, Faults(latency=0.5), sleep)
    app.faults.on_request.append(lambda record: clock.sleep(0.2))  # the emulator's own work
    start = clock.monotonic()
    assert app.handle("GET", "/t1/V1/products", _headers(app), LIST_QUERY).status == 200
    assert slept == [pytest.approx(0.3)]
    assert app.stats.list_requests()[-1].answered == pytest.approx(start + 0.5)

    slept.clear()
    app.faults.on_request[-1] = lambda record: clock.sleep(0.7)  # slower than the latency
    start = clock.monotonic()
    assert app.handle("GET", "/t1/V1/products", _headers(app), LIST_QUERY).status == 200
    assert slept == []  # never answered later than the work itself needs
    assert app.stats.list_requests()[-1].answered == pytest.approx(start + 0.7)


def test_token_requests_are_not_counted_in_flight() -> None:
    clock = FakeClock()
    app = _app(clock)
    app.handle("POST", "/ims/token/v3", {}, "", b"grant_type=client_credentials")
    assert app.stats.max_in_flight == 0
    assert app.stats.recent[-1].answered == app.stats.recent[-1].arrived == clock.monotonic()


def test_a_failing_hook_still_ends_the_request() -> None:
    clock = FakeClock()
    app = _app(clock)

    def boom(record: object) -> None:
        raise RuntimeError("test hook")

    app.faults.on_request.append(boom)
    assert app.handle("GET", "/t1/V1/products", _headers(app), LIST_QUERY).status == 500
    assert app.stats.in_flight == 0 and app.stats.server_errors == 1


def test_max_in_flight_counts_requests_served_at_the_same_time() -> None:
    n = 5
    # Every request waits in the hook until all n are inside the emulator at once.
    barrier = threading.Barrier(n, timeout=5)
    with EmulatorServer(Catalog.generate(20, seed=2)) as emu:
        emu.faults.latency = 0.02
        emu.faults.on_request.append(lambda record: barrier.wait())
        headers = {**emu.headers, "Authorization": f"Bearer {emu.issue_token()}"}

        def fetch(_: int) -> int:
            with requests.Session() as session:
                url = f"{emu.api_endpoint}/V1/products?{LIST_QUERY}"
                return session.get(url, headers=headers, timeout=5).status_code

        with ThreadPoolExecutor(n) as pool:
            assert list(pool.map(fetch, range(n))) == [200] * n
        stats = emu.stats
        assert stats.max_in_flight == n
        assert stats.in_flight == 0
        records = stats.list_requests()
        assert len(records) == n
        # All arrived before any was answered: they overlapped.
        assert max(r.arrived for r in records) < min(r.answered for r in records)
        snapshot = stats.as_dict()
        assert snapshot["max_in_flight"] == n and snapshot["in_flight"] == 0
        assert snapshot["rate_limited"] == 0 and snapshot["server_errors"] == 0
        stats.reset()
        assert stats.max_in_flight == 0 and stats.as_dict()["requests"] == {}


def test_reset_keeps_requests_that_are_still_in_flight() -> None:
    clock = FakeClock()
    during: list[tuple[int, int]] = []

    def reset_midway(seconds: float) -> None:
        app.stats.reset()
        during.append((app.stats.in_flight, app.stats.max_in_flight))
        clock.sleep(seconds)

    app = _app(clock, Faults(latency=1), reset_midway)
    assert app.handle("GET", "/t1/V1/products", _headers(app), LIST_QUERY).status == 200
    assert during == [(1, 1)]
    assert app.stats.in_flight == 0

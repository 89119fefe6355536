"""The products' probes a backfill sends before its app is built answer the pass's first
``newest`` and ``id_bounds`` of that store view, once; anything else is the client's
(:mod:`sync.accs_side`). The relay holds the client's events until the metrics listen."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, cast

import pytest

from sync.accs_side import ProbedCatalog
from sync.api.products import Newest, ProductsClient
from sync.errors import ApiError
from sync.observe import Observer, Relay


class Client:
    """Counts what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def newest(self, store_code: str) -> Newest:
        self.asked.append(("newest", store_code))
        return Newest("2026-01-01 00:00:00", 5)

    def id_bounds(self, store_code: str) -> tuple[int | None, int | None]:
        self.asked.append(("id_bounds", store_code))
        return 1, 5

    def count(self, store_code: str) -> int:
        self.asked.append(("count", store_code))
        return 5


def done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


def catalog(client: Client, bounds: Future[Any] | None) -> ProbedCatalog:
    early = Newest("2025-12-31 23:00:00", 4)
    return ProbedCatalog(cast(ProductsClient, client), "default", done(early), bounds)


def test_the_early_answers_serve_the_first_calls_of_their_store_view_once() -> None:
    client = Client()
    probed = catalog(client, done((2, 4)))
    assert probed.newest("default") == Newest("2025-12-31 23:00:00", 4)
    assert probed.id_bounds("default") == (2, 4)
    assert client.asked == []
    # Asked again (a later pass of the same store view): the client, now.
    assert probed.newest("default") == Newest("2026-01-01 00:00:00", 5)
    assert probed.id_bounds("default") == (1, 5)
    assert client.asked == [("newest", "default"), ("id_bounds", "default")]


def test_another_store_view_and_other_calls_are_the_clients() -> None:
    client = Client()
    probed = catalog(client, done((2, 4)))
    assert probed.newest("fr") == Newest("2026-01-01 00:00:00", 5)
    assert probed.id_bounds("fr") == (1, 5)
    assert probed.count("default") == 5
    assert client.asked == [("newest", "fr"), ("id_bounds", "fr"), ("count", "default")]
    assert probed.id_bounds("default") == (2, 4)  # still there for its own store view


def test_without_bounds_sent_ahead_the_client_is_asked() -> None:
    """Bounds not sent ahead: the client answers."""
    client = Client()
    probed = catalog(client, None)
    assert probed.id_bounds("default") == (1, 5)
    assert client.asked == [("id_bounds", "default")]


def test_a_failed_probe_is_raised_where_the_pass_asks_for_it() -> None:
    client = Client()
    failed: Future[Any] = Future()
    failed.set_exception(ApiError("ACCS answered 403 on /V1/products", status=403))
    probed = catalog(client, failed)
    with pytest.raises(ApiError, match="403"):
        probed.id_bounds("default")
    assert client.asked == []


def test_start_sends_the_probes_on_threads_of_their_own() -> None:
    both = threading.Barrier(2, timeout=5)

    class Together(Client):
        def newest(self, store_code: str) -> Newest:
            both.wait()  # answers only while id_bounds is asked at the same time
            return super().newest(store_code)

        def id_bounds(self, store_code: str) -> tuple[int | None, int | None]:
            both.wait()
            return super().id_bounds(store_code)

    client = Together()
    probed = ProbedCatalog.start(cast(ProductsClient, client), "default")
    assert probed.newest("default").total_count == 5
    assert probed.id_bounds("default") == (1, 5)
    assert sorted(client.asked) == [("id_bounds", "default"), ("newest", "default")]


class Seen(Observer):
    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def request(self, status: int | None, seconds: float) -> None:
        self.events.append(("request", status))

    def retry(self, reason: Any) -> None:
        self.events.append(("retry", reason))


def test_the_relay_holds_events_until_attached_then_passes_them_on() -> None:
    relay = Relay()
    relay.request(200, 0.5)
    relay.retry("network")
    seen = Seen()
    relay.attach(seen)
    assert seen.events == [("request", 200), ("retry", "network")]
    relay.request(None, 0.1)
    assert seen.events[-1] == ("request", None)

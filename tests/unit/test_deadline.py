"""SYNC_HTTP_TIMEOUT is a deadline for the whole request, and bodies have a size cap
(issue 14): a server trickling a byte every 2 s, or answering without end, cannot hold a
request open or fill the memory."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
import requests

from sync.api.classify import raise_for_network
from sync.api.session import build_session
from sync.errors import FatalApiError, RetriableApiError
from tests.local_http import LocalServer, Reply, Seen, trickle

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
BODY = b'{"items": [], "total_count": 0, "x": ""}'


@pytest.mark.parametrize(
    "what", ["headers", "body"], ids=["status line and headers", "body after headers"]
)
def test_a_trickling_answer_ends_at_the_deadline_as_a_retriable_error(what: str) -> None:
    servers: list[LocalServer] = []

    def answer(seen: Seen) -> object:
        stop = servers[0].stop
        if what == "headers":
            return trickle(HEADERS + BODY, every=2.0, stop=stop)
        return itertools.chain([HEADERS], trickle(BODY, every=2.0, stop=stop))

    with LocalServer(answer) as server:  # type: ignore[arg-type]
        servers.append(server)
        session = build_session(connect_timeout=3.0, read_timeout=3.0)
        started = time.monotonic()
        with pytest.raises(requests.RequestException) as info:
            session.get(server.url + "/V1/products")
        elapsed = time.monotonic() - started
    assert elapsed < 6.0, f"the request stayed open {elapsed:.1f}s with a 3 s deadline"
    error = raise_for_network(info.value, server.url, setting="API_ENDPOINT")
    assert isinstance(error, RetriableApiError)
    assert "SYNC_HTTP_TIMEOUT" in str(info.value)


def test_a_body_over_the_cap_is_an_error_not_a_memory_exhaustion() -> None:
    big = b"x" * (3 * 1024 * 1024)
    with LocalServer(lambda seen: Reply(200, {"Content-Type": "application/json"}, big)) as server:
        session = build_session(max_response_bytes=1024 * 1024)
        with pytest.raises(FatalApiError) as info:
            session.get(server.url + "/V1/products")
    assert "SYNC_MAX_RESPONSE_BYTES" in info.value.message
    assert "127.0.0.1" in info.value.message


def test_a_body_within_the_cap_is_read_whole_and_the_connection_reused() -> None:
    body = b"y" * (512 * 1024)
    with LocalServer(lambda seen: Reply(200, {}, body)) as server:
        session = build_session(max_response_bytes=1024 * 1024)
        for _ in range(3):
            answer = session.get(server.url + "/a")
            assert answer.content == body
        ports = {seen.client_port for seen in server.requests}
    assert len(server.requests) == 3 and len(ports) == 1


def test_deadlines_cost_no_thread_per_request_and_never_cut_a_reused_connection() -> None:
    """One watchdog thread serves every deadline; a deadline armed for an answered request
    never shuts down the kept-alive socket that later requests reuse."""
    with LocalServer(lambda seen: Reply(200, {"Content-Type": "application/json"}, BODY)) as server:
        session = build_session(connect_timeout=0.5, read_timeout=0.5)
        before = threading.active_count()
        for _ in range(30):
            assert session.get(server.url + "/V1/products").status_code == 200
        assert threading.active_count() <= before + 1
        time.sleep(0.8)  # every deadline armed above has passed
        assert session.get(server.url + "/V1/products").status_code == 200
    assert len(server.requests) == 31

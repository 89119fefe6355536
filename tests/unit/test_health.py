"""The daemon's HTTP endpoints with stand-in checks, and readiness against a real database."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sync.db.engine import make_engine
from sync.db.migrate import ensure_schema
from sync.db.state import finish_run, start_run
from sync.errors import ConfigError
from sync.health import HealthServer, ReadinessCheck
from sync.metrics import Metrics


def get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def server() -> Iterator[tuple[HealthServer, dict[str, tuple[bool, str]]]]:
    state = {"live": (True, "scheduler alive"), "ready": (False, "database does not answer")}
    metrics = Metrics(stores=["default"])
    metrics.run_finished(1, "sync", "success", 1.0)
    health = HealthServer(
        "127.0.0.1", 0, metrics.registry, live=lambda: state["live"], ready=lambda: state["ready"]
    )
    health.start()
    try:
        yield health, state
    finally:
        health.close()


def test_endpoints_answer_with_status_and_reason(
    server: tuple[HealthServer, dict[str, tuple[bool, str]]],
) -> None:
    health, state = server
    port = health.address[1]
    assert get(port, "/livez") == (200, "ok: scheduler alive\n")
    assert get(port, "/readyz") == (503, "fail: database does not answer\n")
    state["ready"] = (True, "database answers")
    assert get(port, "/readyz")[0] == 200
    state["live"] = (False, "the scheduler is not running")
    assert get(port, "/livez") == (503, "fail: the scheduler is not running\n")
    assert get(port, "/readyz?verbose=1")[0] == 200
    assert get(port, "/elsewhere")[0] == 404
    assert get(port, "/livez", method="HEAD") == (503, "")


def test_metrics_are_prometheus_text(
    server: tuple[HealthServer, dict[str, tuple[bool, str]]],
) -> None:
    health, _ = server
    with urllib.request.urlopen(
        f"http://127.0.0.1:{health.address[1]}/metrics", timeout=10
    ) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=")
        text = answer.read().decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"accs_sync_runs", "accs_sync_api_requests", "accs_sync_watermark_lag_seconds"} <= names


def test_a_busy_port_is_a_configuration_error() -> None:
    first = HealthServer(
        "127.0.0.1", 0, Metrics().registry, live=lambda: (True, ""), ready=lambda: (True, "")
    )
    try:
        with pytest.raises(ConfigError, match=r"SYNC_HTTP_PORT: cannot listen on 127\.0\.0\.1:"):
            HealthServer(
                "127.0.0.1",
                first.address[1],
                Metrics().registry,
                live=lambda: (True, ""),
                ready=lambda: (True, ""),
            )
    finally:
        first.close()


def test_readiness_follows_the_last_finished_run(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        ensure_schema(engine)
        check = ReadinessCheck(engine)
        assert check() == (True, "database answers; no run has finished yet")
        now = datetime(2026, 1, 1)
        first = start_run(engine, "sync", ["default"], now)
        finish_run(engine, first, "failed", now, "boom")
        ok, reason = check()
        assert not ok and reason == f"the last run (#{first}) failed; see accs-sync status"
        start_run(engine, "sync", ["default"], now)  # running: does not count yet
        assert not check()[0]
        second = start_run(engine, "sync", ["default"], now)
        finish_run(engine, second, "interrupted", now, None)
        assert check() == (True, f"database answers; last run #{second} interrupted")
        third = start_run(engine, "sync", ["default"], now)
        finish_run(engine, third, "partial", now, "source_items: ACCS refused access (403)")
        assert check() == (
            False,
            f"the last run (#{third}) was partial (a resource was refused); see accs-sync status",
        )
    finally:
        engine.dispose()


def test_a_database_without_the_schema_is_not_ready(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    try:
        ok, reason = ReadinessCheck(engine)()
    finally:
        engine.dispose()
    assert not ok and reason.startswith("database does not answer (OperationalError")


def test_a_hanging_database_is_not_ready_after_the_timeout() -> None:
    release = threading.Event()

    class Hanging:
        def connect(self) -> Any:
            release.wait(10)
            raise RuntimeError("gone")

    check = ReadinessCheck(Hanging(), timeout=0.2)  # type: ignore[arg-type]
    try:
        assert check() == (False, "database did not answer within 0.2s")
        assert check() == (False, "database did not answer within 0.2s")  # still the same one
    finally:
        release.set()


def test_idle_connections_neither_pile_up_threads_nor_starve_probes(
    server: tuple[HealthServer, dict[str, tuple[bool, str]]],
) -> None:
    """400 connections that never send a request (a port scanner, a slowloris, a leaky
    client) cost no thread each, and /livez still answers while they are open."""
    health, _ = server
    port = health.address[1]
    assert get(port, "/livez")[0] == 200  # the server's own threads are up
    before = threading.active_count()
    idle: list[socket.socket] = []
    try:
        for _ in range(400):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.3)  # let the server accept them all
        assert get(port, "/livez") == (200, "ok: scheduler alive\n")
        assert threading.active_count() <= before + 16
    finally:
        for conn in idle:
            conn.close()


def test_idle_connections_are_closed_after_the_idle_timeout() -> None:
    health = HealthServer(
        "127.0.0.1",
        0,
        Metrics().registry,
        live=lambda: (True, ""),
        ready=lambda: (True, ""),
        idle_timeout=0.3,
    )
    health.start()
    try:
        with socket.create_connection(("127.0.0.1", health.address[1]), timeout=5) as conn:
            started = time.monotonic()
            assert conn.recv(1) == b""  # closed by the server, without a word
            assert time.monotonic() - started < 3
    finally:
        health.close()


def test_a_client_that_leaves_early_is_one_log_line_not_a_traceback(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    asked, left = threading.Event(), threading.Event()

    def live() -> tuple[bool, str]:
        asked.set()
        left.wait(5)  # answer only once the client has gone
        return True, "scheduler alive"

    health = HealthServer("127.0.0.1", 0, Metrics().registry, live=live, ready=live)
    health.start()
    try:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="sync.health"):
            conn = socket.create_connection(("127.0.0.1", health.address[1]), timeout=5)
            conn.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            assert asked.wait(5)
            # Reset, not a polite FIN: the server's write fails as it does for a dropped probe.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            left.set()
            time.sleep(0.5)
            assert get(health.address[1], "/metrics")[0] == 200  # still serving
    finally:
        health.close()
    assert "Traceback" not in capfd.readouterr().err
    lines = [r for r in caplog.records if r.name == "sync.health" and "client" in r.getMessage()]
    assert len(lines) == 1
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in lines)


def test_a_flood_of_requests_is_answered_busy_not_queued_for_ever() -> None:
    release = threading.Event()

    def slow() -> tuple[bool, str]:
        release.wait(5)
        return True, "scheduler alive"

    health = HealthServer(
        "127.0.0.1", 0, Metrics().registry, live=slow, ready=slow, workers=1, max_queued=1
    )
    health.start()
    port = health.address[1]
    before = threading.active_count()
    answers: list[tuple[int, str]] = []
    try:
        held = [
            threading.Thread(target=lambda: answers.append(get(port, "/livez"))) for _ in range(2)
        ]
        for thread in held:  # one answered by the worker, one queued for it
            thread.start()
        deadline = time.monotonic() + 5
        while health._server._in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert get(port, "/livez") == (503, "fail: server is busy\n")
        assert threading.active_count() <= before + 3  # the two clients and one worker
    finally:
        release.set()
        for thread in held:
            thread.join(10)
        health.close()
    assert answers == [(200, "ok: scheduler alive\n")] * 2


def test_readyz_adds_the_event_consumers_check_after_the_database() -> None:
    from sync.cli_run import all_ready as _all_ready

    class Consumer:
        def __init__(self) -> None:
            self.answer = (True, "event consumer advancing")

        def ready(self) -> tuple[bool, str]:
            return self.answer

    database = [(True, "ready")]
    consumer = Consumer()
    check = _all_ready(lambda: database[0], consumer)
    assert check() == (True, "event consumer advancing")
    consumer.answer = (False, "the event consumer has not advanced for 400s")
    assert check() == (False, "the event consumer has not advanced for 400s")
    database[0] = (False, "the last run failed")
    assert check() == (False, "the last run failed")
    assert _all_ready(lambda: database[0], None)() == (False, "the last run failed")

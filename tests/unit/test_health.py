"""The daemon's HTTP endpoints with stand-in checks, and readiness against a real database."""

from __future__ import annotations

import threading
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

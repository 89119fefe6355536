"""A real ``accs-sync daemon`` process with ``SYNC_HTTP_PORT``: what Prometheus and Kubernetes
see on ``/metrics``, ``/livez`` and ``/readyz``, while runs succeed, fail and the database goes."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.pool import NullPool

from sync.db.engine import normalize_url
from sync.emulator import EmulatorServer
from tests.integration.processes import clean_env, daemon_process

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def daemon(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_PAGE_SIZE="100",
        SYNC_SCHEDULE="1s",
        SYNC_RECONCILE_SCHEDULE="off",
        SYNC_MAX_ATTEMPTS="1",
        SYNC_HTTP_PORT=str(port),
    )
    with daemon_process(env, tmp_path) as process:
        wait_for(lambda: _answers(port), "the daemon's HTTP port")
        yield port, process


def _answers(port: int) -> bool:
    try:
        get(port, "/livez")
    except OSError:
        return False
    return True


def _successes(port: int) -> float:
    status, text = get(port, "/metrics")
    assert status == 200
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "accs_sync_runs_total" and s.labels["outcome"] == "success"
    )


def _ready(port: int) -> bool:
    return get(port, "/readyz")[0] == 200


def _not_ready(port: int) -> bool:
    return get(port, "/readyz")[0] == 503


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_metrics_liveness_and_readiness_of_a_real_daemon(
    daemon: tuple[int, subprocess.Popen[bytes]], emulator: EmulatorServer, db_url: str
) -> None:
    port, process = daemon
    assert get(port, "/livez")[0] == 200
    wait_for(lambda: _successes(port) >= 1, "the first run")
    assert _ready(port)

    status, text = get(port, "/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}  # parses: no errors
    written = {
        s.labels["operation"]: s.value
        for s in families["accs_sync_products_written"].samples
        if s.name == "accs_sync_products_written_total"
    }
    assert written["insert"] == 750
    assert "process_resident_memory_bytes" in families
    assert get(port, "/nothing")[0] == 404

    # The last run failed: not ready, and it says why; still alive.
    emulator.faults.error_5xx_every = 1
    wait_for(lambda: _not_ready(port), "readiness to turn false after a failed run")
    assert "failed" in get(port, "/readyz")[1]
    assert get(port, "/livez")[0] == 200
    # ... and ready again once a run succeeds.
    emulator.faults.reset()
    wait_for(lambda: _ready(port), "readiness after a successful run")

    if db_url.startswith("sqlite"):
        return  # an open SQLite file cannot go away; a server can:
    # The database goes away: not ready, still alive (a restart would not bring it back).
    with _database_gone(db_url):
        wait_for(lambda: _not_ready(port), "readiness to turn false without a database")
        assert "database" in get(port, "/readyz")[1]
        assert get(port, "/livez")[0] == 200
    wait_for(lambda: _ready(port), "readiness once the database is back")
    assert process.poll() is None


class _database_gone:
    """PostgreSQL refuses connections to the database, and the open ones are cut."""

    def __init__(self, db_url: str) -> None:
        self.url = normalize_url(db_url)

    def __enter__(self) -> None:
        self._postgres(allow=False)

    def __exit__(self, *exc: object) -> None:
        self._postgres(allow=True)

    def _postgres(self, *, allow: bool) -> None:
        admin = sa.create_engine(
            self.url.set(database="test"), isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        name = self.url.database
        try:
            with admin.connect() as conn:
                conn.execute(
                    sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allow).lower()}')
                )
                if not allow:
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": name},
                    )
        finally:
            admin.dispose()

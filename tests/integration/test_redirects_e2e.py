"""`accs-sync sync` against an API_ENDPOINT that redirects (issue 14): exit 2, a message naming
API_ENDPOINT and the host it pointed to, and nothing sent to that host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.engine import make_engine
from sync.emulator import Catalog, EmulatorServer
from tests.local_http import LocalServer, Reply, Seen, no_settings_env

pytestmark = pytest.mark.integration


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Catalog.generate(20, seed=5)) as server:
        yield server


def test_sync_against_a_redirecting_api_endpoint_exits_2_naming_the_setting_and_host(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def moved(seen: Seen) -> Reply:
        return Reply(302, {"Location": emulator.base_url + seen.path})

    no_settings_env(monkeypatch, tmp_path)
    database = f"sqlite:///{tmp_path / 'mirror.db'}"
    with LocalServer(moved) as redirector:
        env = {
            **emulator.credentials,
            "API_ENDPOINT": f"{redirector.url}/{emulator.tenant}",
            "DATABASE_URL": database,
            "SYNC_TOKEN_CACHE": "none",
            "SYNC_RESOURCES": "products",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert main(["sync", "--quiet"]) == 2
        # A redirect is not retried: each request arrived once. (The full pass's first probes,
        # the newest updated_at and the two id bounds, are sent together: up to three.)
        paths = [seen.path for seen in redirector.requests]
        assert 1 <= len(paths) <= 3 and len(set(paths)) == len(paths), paths
    err = capsys.readouterr().err
    assert "API_ENDPOINT" in err and f"127.0.0.1:{emulator.port}" in err
    assert emulator.credentials["IMS_CLIENT_SECRET"] not in err
    assert emulator.stats.list_requests() == []  # the other host got nothing
    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            status = conn.execute(sa.text("SELECT status FROM sync_runs")).scalar_one()
    finally:
        engine.dispose()
    assert status == "failed"

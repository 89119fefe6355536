"""A run's IMS token is asked for on a thread of its own while the database is checked (one
round trip less before paging starts), without changing what a run asks IMS or records."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from sync.app import build_app
from sync.clock import SystemClock
from sync.db.engine import make_engine
from sync.emulator import Catalog, EmulatorServer
from sync.redact import SecretFilter
from sync.settings import load_settings
from sync.tokens import start_tokens


def token_mints(db_url: str) -> list[int]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT token_mints FROM sync_runs ORDER BY id")
            return list(conn.execute(query).scalars())
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_warmed_up_token_serves_the_run_and_counts_as_its_mint(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with EmulatorServer(Catalog.generate(40, seed=5)) as server:
        for key, value in {**server.credentials, "DATABASE_URL": db_url}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        with build_app(load_settings(), warm_up=True) as app:
            assert app.warming is not None
            app.warming.join(10)  # minted before the run starts
            assert server.stats.tokens_issued == 1
            assert app.run("sync").status == "success"
            assert app.run("sync").status == "success"
        assert app.warming is None or not app.warming.is_alive()
        assert server.stats.tokens_issued == 1
    # The first run counts the mint made while the app was built; the second has none.
    assert token_mints(db_url) == [1, 0]


def refused_run(db_url: str, warm_up: bool) -> tuple[str | None, int]:
    """A run whose client secret IMS refuses: its error and the token requests IMS saw."""
    with EmulatorServer(Catalog.generate(10, seed=5)) as server:
        env = {**server.credentials, "DATABASE_URL": db_url, "IMS_CLIENT_SECRET": "p8e-wrong"}
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            with build_app(load_settings(), warm_up=warm_up) as app:
                if warm_up:
                    assert app.warming is not None
                    app.warming.join(10)
                stats = app.run("sync")
        assert stats.status == "failed"
        return stats.error, server.stats.requests.get("token", 0)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_refused_warm_up_is_the_runs_error_and_asks_ims_no_more_than_a_run_without(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    cold_error, cold_requests = refused_run(db_url, warm_up=False)
    warm_error, warm_requests = refused_run(db_url, warm_up=True)
    assert warm_error is not None and "IMS_CLIENT_SECRET" in warm_error
    assert warm_error.replace("run 2", "run 1") == cold_error
    assert warm_requests == cold_requests


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_token_started_before_the_app_serves_its_run_and_reaches_the_metrics(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A run starts the IMS side first (``sync.tokens.start_tokens``) and hands it to the app:
    its mint counts once in the run's row and once in the metrics, which did not exist yet."""
    with EmulatorServer(Catalog.generate(40, seed=5)) as server:
        for key, value in {**server.credentials, "DATABASE_URL": db_url}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        settings, secrets = load_settings(), SecretFilter()
        clock = SystemClock()
        tokens = start_tokens(settings, clock, secrets)
        assert tokens.warming is not None
        tokens.warming.join(10)
        assert server.stats.tokens_issued == 1
        with build_app(settings, clock=clock, secrets=secrets, tokens=tokens) as app:
            assert app.tokens is tokens.provider
            assert app.run("sync").status == "success"
            mints = app.metrics.registry.get_sample_value("accs_sync_token_mints_total")
        assert server.stats.tokens_issued == 1
    assert mints == 1
    assert token_mints(db_url) == [1]

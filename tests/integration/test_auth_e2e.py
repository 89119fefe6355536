"""IMS authentication end to end (issue 3): shared tokens, rotation, login, audit."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from pydantic import SecretStr
from test_cli_process import CLI, clean_env, run_cli

from sync.api.auth import ImsClientCredentials
from sync.api.cache_crypto import new_key
from sync.api.token_store import FileTokenStore
from sync.app import build_app
from sync.cli import main
from sync.clock import FakeClock, SystemClock
from sync.db.engine import make_engine
from sync.emulator import Catalog, EmulatorServer
from sync.settings import DEFAULT_SCOPES, load_settings

NEW_SECRET = "p8e-ROTATED-new-secret-value"


def run_rows(db_url: str) -> list[dict[str, Any]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT * FROM sync_runs ORDER BY id")
            return [dict(r) for r in conn.execute(query).mappings()]
    finally:
        engine.dispose()


def product_count(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT COUNT(*) FROM products")).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def small_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Catalog.generate(120, seed=3)) as server:
        yield server


def test_sixteen_threads_racing_for_a_token_cause_one_mint(
    small_emulator: EmulatorServer, tmp_path: Path
) -> None:
    small_emulator.faults.latency = 0.05  # a slow IMS widens the race window
    provider = ImsClientCredentials(
        session=requests.Session(),
        token_url=small_emulator.token_url,
        client_id=small_emulator.client_id,
        client_secret=SecretStr(small_emulator.credentials["IMS_CLIENT_SECRET"]),
        scopes=DEFAULT_SCOPES.split(","),
        clock=SystemClock(),
        store=FileTokenStore(tmp_path / "tokens.json"),
    )
    barrier = threading.Barrier(16)
    got: list[str] = []

    def worker() -> None:
        barrier.wait()
        got.append(provider.get_token())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(got) == 16 and len(set(got)) == 1
    assert small_emulator.stats.tokens_issued == 1
    assert provider.audit.snapshot()["token_mints"] == 1


def test_a_backfill_through_expiries_and_a_revocation_completes_with_one_mint_each(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clock = FakeClock()
    with EmulatorServer(Catalog.generate(750, seed=7), clock=clock.now) as server:
        server.faults.token_lifetime = 600
        for key, value in {**server.credentials, "DATABASE_URL": db_url}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SYNC_PAGE_SIZE", "100")
        # One request at a time: the fake clock jumps past the token lifetime every other
        # request, and the mint count per expiry is exact only in sequence.
        monkeypatch.setenv("SYNC_CONCURRENCY", "1")
        monkeypatch.chdir(tmp_path)
        seen = {"n": 0}

        def expire_and_revoke(record: Any) -> None:
            seen["n"] += 1
            if seen["n"] in (2, 4, 6):
                clock.advance(700)  # past expires_in: the token IMS gave is dead now
            if seen["n"] == 7:
                server.revoke_all_tokens()

        server.faults.on_request.append(expire_and_revoke)
        with build_app(load_settings(), clock=clock) as app:
            stats = app.run("backfill")
        assert stats.status == "success", stats.error
        assert product_count(db_url) == 750
        # One mint at the start, one per expiry (3), one for the revocation.
        assert server.stats.tokens_issued == 5
        statuses = [r.status for r in server.stats.recent if r.kind == "list"]
        assert statuses.count(401) == 1  # only the revoked token was refused ...
        assert set(statuses) == {200, 401}  # ... and no page failed
        [run] = run_rows(db_url)
        assert (run["token_mints"], run["auth_retries"], run["token_refreshes"]) == (5, 1, 0)


def test_three_sync_processes_in_a_row_mint_one_token(
    small_emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache" / "tokens.json"
    env = clean_env(
        **small_emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_PAGE_SIZE="50",
        SYNC_TOKEN_CACHE=str(cache),
    )
    for _ in range(3):
        result = run_cli(["sync"], env, tmp_path)
        assert result.returncode == 0, result.stderr
    assert small_emulator.stats.tokens_issued == 1
    assert [r["token_mints"] for r in run_rows(db_url)] == [1, 0, 0]
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert small_emulator.credentials["IMS_CLIENT_SECRET"] not in cache.read_text()


def test_a_wrong_secret_exits_2_with_the_invalid_client_explanation(
    small_emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    env = clean_env(
        **{**small_emulator.credentials, "IMS_CLIENT_SECRET": "p8e-WRONG-secret-value"},
        DATABASE_URL=db_url,
    )
    result = run_cli(["sync"], env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "invalid_client" in result.stderr
    assert "rejected the client id or secret" in result.stderr
    assert "p8e-WRONG-secret-value" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    [run] = run_rows(db_url)
    assert run["status"] == "failed" and "invalid_client" in run["error"]


def test_a_rotated_secret_file_is_used_at_the_next_mint_without_restart(
    small_emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "ims_client_secret"
    secret_file.write_text(small_emulator.credentials["IMS_CLIENT_SECRET"] + "\n")
    env = {**small_emulator.credentials, "DATABASE_URL": db_url, "SYNC_PAGE_SIZE": "50"}
    del env["IMS_CLIENT_SECRET"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("IMS_CLIENT_SECRET_FILE", str(secret_file))
    monkeypatch.chdir(tmp_path)
    with build_app(load_settings()) as app:
        assert app.run("sync").status == "success"
        # Rotation: IMS now accepts only the new secret, the mounted file changes, and every
        # token issued with the old one is revoked.
        small_emulator.accept_secrets(NEW_SECRET)
        secret_file.write_text(NEW_SECRET)
        small_emulator.revoke_all_tokens()
        stats = app.run("sync")  # the same process: no restart
    assert stats.status == "success", stats.error
    assert small_emulator.stats.tokens_issued == 2
    assert [r["token_mints"] for r in run_rows(db_url)] == [1, 1]
    assert [r["auth_retries"] for r in run_rows(db_url)] == [0, 1]


def test_the_next_secret_takes_over_when_the_first_is_rejected(
    small_emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    old = small_emulator.credentials["IMS_CLIENT_SECRET"]
    small_emulator.accept_secrets(NEW_SECRET)  # the old secret was deleted in the console
    env = {**small_emulator.credentials, "DATABASE_URL": db_url, "SYNC_PAGE_SIZE": "50"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("IMS_CLIENT_SECRET_NEXT", NEW_SECRET)
    monkeypatch.chdir(tmp_path)
    assert main(["sync"]) == 0
    assert product_count(db_url) == 120
    [run] = run_rows(db_url)
    assert (run["secret_fallbacks"], run["token_mints"]) == (1, 1)
    assert "IMS accepted IMS_CLIENT_SECRET_NEXT after rejecting IMS_CLIENT_SECRET" in caplog.text
    assert old not in caplog.text and NEW_SECRET not in caplog.text


def _start_login(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """``accs-sync login`` in its own process; returns it and the URL it printed."""
    proc = subprocess.Popen(
        [*CLI, "login", "--port", "0", "--timeout", "60"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "/ims/authorize/v2?" in line:
            return proc, line.strip()
    proc.kill()
    _out, err = proc.communicate()
    raise AssertionError(f"login printed no authorize URL: {err}")


def test_login_then_the_worker_syncs_with_the_refresh_token(
    small_emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    env = clean_env(
        **small_emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_PAGE_SIZE="50",
        IMS_AUTH_FLOW="authorization_code",
        SYNC_TOKEN_CACHE=str(tmp_path / "tokens.json"),
        SYNC_TOKEN_CACHE_KEY=new_key(),  # a refresh token is never stored in clear
    )
    proc, url = _start_login(env, tmp_path)
    try:
        assert url.startswith(small_emulator.base_url + "/ims/authorize/v2?")
        assert "response_type=code" in url and "state=" in url
        assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in url
        # The "browser": IMS approves and redirects to the loopback listener.
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200 and "signed in" in answer.text
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Signed in" in out
    assert small_emulator.stats.tokens_by_grant["authorization_code"] == 1
    # The access token from the login expires: the worker renews with the refresh token.
    small_emulator.revoke_all_tokens()
    result = run_cli(["sync"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert product_count(db_url) == 120
    assert small_emulator.stats.tokens_by_grant["refresh_token"] == 1
    assert small_emulator.stats.tokens_by_grant["client_credentials"] == 0
    [run] = run_rows(db_url)
    # One refresh, no mint; each request answered 401 is re-sent once (the full pass's first
    # probes go together, so up to three were in flight when the old token was refused).
    assert (run["token_refreshes"], run["token_mints"]) == (1, 0)
    assert 1 <= run["auth_retries"] <= 3
    # The rotated refresh token was stored: the next renewal works too.
    small_emulator.revoke_all_tokens()
    assert run_cli(["sync"], env, tmp_path).returncode == 0
    assert small_emulator.stats.tokens_by_grant["refresh_token"] == 2
    # A revoked login: a clear "log in again", exit 2.
    small_emulator.app.grants.revoke_refresh_tokens()
    small_emulator.revoke_all_tokens()
    result = run_cli(["sync"], env, tmp_path)
    assert result.returncode == 2
    assert "run `accs-sync login` again" in result.stderr


def test_a_login_callback_with_a_forged_state_is_refused(
    small_emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = clean_env(
        **small_emulator.credentials,
        IMS_AUTH_FLOW="authorization_code",
        SYNC_TOKEN_CACHE=str(tmp_path / "tokens.json"),
        SYNC_TOKEN_CACHE_KEY=new_key(),  # a refresh token is never stored in clear
    )
    proc, url = _start_login(env, tmp_path)
    try:
        redirect = requests.get(url, timeout=10, allow_redirects=False).headers["Location"]
        forged = redirect.replace("state=", "state=forged")
        assert requests.get(forged, timeout=10).status_code == 400
        assert requests.get(redirect, timeout=10).status_code == 200  # the real one still works
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "wrong state" in err


def test_a_denied_login_exits_2(small_emulator: EmulatorServer, tmp_path: Path) -> None:
    small_emulator.faults.authorize_deny = True
    env = clean_env(
        **small_emulator.credentials,
        SYNC_TOKEN_CACHE=str(tmp_path / "t.json"),
        SYNC_TOKEN_CACHE_KEY=new_key(),
    )
    proc, url = _start_login(env, tmp_path)
    try:
        requests.get(url, timeout=10)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2
    assert "access_denied" in err and "accs-sync login" in err


def test_status_shows_the_auth_audit(
    small_emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    env = clean_env(**small_emulator.credentials, DATABASE_URL=db_url, SYNC_PAGE_SIZE="50")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    assert run_cli(["sync"], env, tmp_path).returncode == 0
    status = run_cli(["status"], env, tmp_path)
    assert status.returncode == 0, status.stderr
    assert "auth: token mints 1" in status.stdout
    assert os.path.exists(tmp_path / "xdg" / "accs-sync" / "tokens.json")


def test_a_damaged_token_cache_is_reported_and_replaced_not_fatal(
    small_emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "tokens.json"
    cache.write_text('{"entries": {"x": "eyJ-half-written')  # e.g. a disk that filled up
    env = {**small_emulator.credentials, "DATABASE_URL": db_url, "SYNC_TOKEN_CACHE": str(cache)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert main(["sync"]) == 0
    assert "is not valid JSON" in caplog.text and "eyJ-half-written" not in caplog.text
    assert product_count(db_url) == 120
    assert small_emulator.stats.tokens_issued == 1
    assert main(["sync"]) == 0  # the replaced cache works
    assert small_emulator.stats.tokens_issued == 1


def test_ims_outages_and_rate_limits_are_waited_out(
    small_emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    small_emulator.faults.ims_error_5xx_next = 2  # HTML 503 pages from IMS
    small_emulator.faults.ims_rate_limit_next = 1
    small_emulator.faults.retry_after = 11
    for key, value in {**small_emulator.credentials, "DATABASE_URL": db_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    clock = FakeClock()
    with build_app(load_settings(), clock=clock) as app:
        stats = app.run("sync")
    assert stats.status == "success", stats.error
    assert product_count(db_url) == 120
    assert 11 in clock.sleeps and len(clock.sleeps) == 3  # Retry-After exactly, plus backoff
    assert small_emulator.stats.tokens_issued == 1


@pytest.mark.parametrize(
    ("fault", "expected", "code"),
    [
        ("ims_invalid_scope_next", "IMS refused the scope commerce.accs", 2),
        ("ims_html_next", "IMS answered with an HTML page (status 200)", 1),
        ("ims_invalid_client_next", "rejected the client id or secret (invalid_client)", 2),
    ],
)
def test_ims_refusals_are_explained_by_the_cli(
    small_emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    expected: str,
    code: int,
) -> None:
    setattr(small_emulator.faults, fault, 1)
    for key, value in {**small_emulator.credentials, "DATABASE_URL": db_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    assert main(["sync"]) == code
    assert expected in capsys.readouterr().err
    [run] = run_rows(db_url)
    assert run["status"] == "failed" and expected in run["error"]

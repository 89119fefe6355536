"""Issue 18 end to end, as a security reviewer tries it: no token readable at rest without the
key, a login that can be revoked (and is then refused), a cached server-to-server token that
can be forgotten, and every step a row of the auth audit that ``status`` shows."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from test_auth_e2e import _start_login, product_count, run_rows
from test_cli_process import clean_env, run_cli

from sync.api.cache_crypto import new_key, parse_key
from sync.app import build_app
from sync.emulator import Catalog, EmulatorServer
from sync.settings import load_settings

pytestmark = pytest.mark.integration
#: The database only keeps the run log and the audit: SQLite is enough.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Catalog.generate(60, seed=5)) as server:
        yield server


def issued(server: EmulatorServer) -> list[str]:
    """Every access and refresh token the emulator handed out."""
    return server.app.tokens.issued() + server.app.grants.refresh_tokens()


def assert_no_token_in(data: str | bytes, server: EmulatorServer) -> None:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    tokens = issued(server)
    assert tokens, "the emulator issued nothing: the check would prove nothing"
    leaked = [t[:12] for t in tokens if t in text]
    assert not leaked, f"tokens in clear: {leaked}"


def login(env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc, url = _start_login(env, cwd)
    try:
        requests.get(url, timeout=10)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


@sqlite_only
def test_the_cache_holds_no_token_in_clear_and_mints_are_audited(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache" / "tokens.json"
    key = new_key()
    env = clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_TOKEN_CACHE=str(cache),
        SYNC_TOKEN_CACHE_KEY=key,
    )
    result = run_cli(["sync", "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert product_count(db_url) == 60
    assert_no_token_in(cache.read_bytes(), emulator)
    assert json.loads(cache.read_bytes())["version"] == 2
    assert key not in result.stdout + result.stderr
    assert_no_token_in(result.stdout + result.stderr, emulator)  # --json output and logs
    status = run_cli(["status", "--json"], env, tmp_path)
    assert_no_token_in(status.stdout, emulator)
    events = json.loads(status.stdout)["auth_events"]
    assert [(e["event"], e["detail"], e["run_id"]) for e in events] == [
        ("mint", "client_credentials", 1)
    ]
    text = run_cli(["status"], env, tmp_path).stdout
    assert "mint" in text and "client_credentials (run #1)" in text
    # Another key: the cache is unreadable, said without its content, replaced; the run works.
    other = {**env, "SYNC_TOKEN_CACHE_KEY": new_key()}
    again = run_cli(["sync"], other, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "another key" in again.stderr
    assert_no_token_in(again.stderr, emulator)
    assert emulator.stats.tokens_issued == 2


@sqlite_only
def test_a_key_file_made_by_token_key_is_used(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    made = run_cli(["token", "key"], clean_env(), tmp_path)
    assert made.returncode == 0, made.stderr
    key_file = tmp_path / "cache-key"
    key_file.write_text(made.stdout)
    parse_key(key_file.read_text(), "file")  # the printed key is a valid one
    cache = tmp_path / "tokens.json"
    env = clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_TOKEN_CACHE=str(cache),
        SYNC_TOKEN_CACHE_KEY_FILE=str(key_file),
    )
    assert run_cli(["sync"], env, tmp_path).returncode == 0
    assert_no_token_in(cache.read_bytes(), emulator)
    assert run_cli(["sync"], env, tmp_path).returncode == 0
    assert emulator.stats.tokens_issued == 1  # the second run read the encrypted cache


def test_login_without_a_key_explains_how_to_set_one_and_exits_2(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = clean_env(
        **emulator.credentials,
        IMS_AUTH_FLOW="authorization_code",
        SYNC_TOKEN_CACHE=str(tmp_path / "tokens.json"),
    )
    result = run_cli(["login", "--port", "0", "--timeout", "5"], env, tmp_path)
    assert result.returncode == 2
    assert "SYNC_TOKEN_CACHE_KEY" in result.stderr and "accs-sync token key" in result.stderr
    assert "/ims/authorize/v2" not in result.stdout  # nobody was asked to sign in for nothing
    assert not (tmp_path / "tokens.json").exists()


@sqlite_only
def test_logout_revokes_at_ims_and_a_later_run_asks_to_log_in_again(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    cache = tmp_path / "tokens.json"
    env = clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_PAGE_SIZE="50",
        IMS_AUTH_FLOW="authorization_code",
        SYNC_TOKEN_CACHE=str(cache),
        SYNC_TOKEN_CACHE_KEY=new_key(),
    )
    code, _out, err = login(env, tmp_path)
    assert code == 0, err
    [refresh] = emulator.app.grants.refresh_tokens()
    [access] = emulator.app.tokens.issued()
    assert_no_token_in(cache.read_bytes(), emulator)
    assert run_cli(["sync"], env, tmp_path).returncode == 0  # the login works

    result = run_cli(["logout"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "revoked" in result.stdout
    assert_no_token_in(result.stdout + result.stderr, emulator)
    assert emulator.stats.requests["revoke"] == 2
    assert emulator.app.tokens.check(access) == "revoked"
    refused = requests.post(
        emulator.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": emulator.credentials["IMS_CLIENT_ID"],
            "client_secret": emulator.credentials["IMS_CLIENT_SECRET"],
        },
        timeout=10,
    )
    assert refused.json()["error"] == "invalid_grant"

    later = run_cli(["sync"], env, tmp_path)
    assert later.returncode == 2
    assert "accs-sync login" in later.stderr
    assert len(run_rows(db_url)) == 2  # the refused run is recorded, nothing else changed
    again = run_cli(["logout"], env, tmp_path)
    assert again.returncode == 0 and "no stored login" in again.stdout

    status = run_cli(["status", "--json"], env, tmp_path)
    events = [(e["event"], e["detail"]) for e in json.loads(status.stdout)["auth_events"]]
    assert ("login", "refresh token stored (encrypted)") in events
    assert ("revocation", "refresh_token") in events
    assert ("revocation", "access_token") in events
    assert ("logout", "refresh and access tokens revoked at IMS, deleted from the cache") in (
        events
    )
    assert_no_token_in(status.stdout, emulator)


def test_a_failed_revocation_keeps_the_login_to_try_again(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = clean_env(
        **emulator.credentials,
        IMS_AUTH_FLOW="authorization_code",
        SYNC_TOKEN_CACHE=str(tmp_path / "tokens.json"),
        SYNC_TOKEN_CACHE_KEY=new_key(),
        SYNC_MAX_ATTEMPTS="1",
    )
    assert login(env, tmp_path)[0] == 0
    emulator.faults.ims_revoke_error_next = 1
    failed = run_cli(["logout"], env, tmp_path)
    assert failed.returncode == 1
    assert "logout" in failed.stderr and "again" in failed.stderr
    [refresh] = emulator.app.grants.refresh_tokens()
    assert run_cli(["logout"], env, tmp_path).returncode == 0
    assert emulator.app.grants.use_refresh(refresh, emulator.credentials["IMS_CLIENT_ID"]) is None


@sqlite_only
def test_token_forget_deletes_the_server_to_server_token_and_says_to_rotate(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    cache = tmp_path / "tokens.json"
    env = clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_TOKEN_CACHE=str(cache),
        SYNC_TOKEN_CACHE_KEY=new_key(),
    )
    assert run_cli(["sync"], env, tmp_path).returncode == 0
    result = run_cli(["token", "forget"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "rotat" in result.stdout and "secret" in result.stdout
    assert run_cli(["sync"], env, tmp_path).returncode == 0
    assert emulator.stats.tokens_issued == 2  # the forgotten token was not used again
    status = json.loads(run_cli(["status", "--json"], env, tmp_path).stdout)
    assert "token_forget" in [e["event"] for e in status["auth_events"]]


@sqlite_only
def test_every_run_of_one_process_warns_about_a_cache_others_can_read(
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The daemon is one process: a cache opened up while it runs is warned about at its next
    run, and at every run after, not once at start-up."""
    cache = tmp_path / "cache" / "tokens.json"
    env = {**emulator.credentials, "DATABASE_URL": db_url, "SYNC_TOKEN_CACHE": str(cache)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SYNC_TOKEN_CACHE_KEY", new_key())
    monkeypatch.chdir(tmp_path)
    with build_app(load_settings()) as app, caplog.at_level(logging.WARNING):
        assert app.run("sync").status == "success"
        assert "chmod" not in caplog.text
        cache.chmod(0o644)  # e.g. restored from a backup by hand
        for _ in range(2):
            assert app.run("sync").status == "success"
    warnings = [r.getMessage() for r in caplog.records if f"chmod 600 {cache}" in r.getMessage()]
    assert len(warnings) == 2
    assert "encrypted, but others may copy it" in warnings[0]

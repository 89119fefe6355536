"""No secret or access token in any output, even at DEBUG and on failures."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from sync.api import login as login_module
from sync.api.cache_crypto import new_key
from sync.app import build_app
from sync.cli import main
from sync.db.engine import make_engine
from sync.emulator import EmulatorServer
from sync.settings import load_settings


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_debug_sync_with_refresh_and_failure_never_prints_secrets(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    calls = {"n": 0}

    def revoke_once(record: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            emulator.revoke_all_tokens()

    emulator.faults.on_request.append(revoke_once)
    assert main(["sync", "--log-level", "DEBUG"]) == 0
    emulator.faults.error_5xx_next = 1
    emulator.faults.invalid_json_next = 1
    assert main(["backfill", "--log-level", "DEBUG"]) == 0
    # A failing run: a wrong secret.
    secret = sync_env["IMS_CLIENT_SECRET"]
    emulator.revoke_all_tokens()
    assert (
        main(["sync", "--log-level", "DEBUG", "--database-url", db_url]) == 0
    )  # cached token refreshed
    captured = capsys.readouterr()
    output = captured.out + captured.err + caplog.text
    tokens = emulator.app.tokens.issued()
    assert len(tokens) >= 3
    assert "Bearer" not in output or "Bearer ***" in output
    for value in [secret, *tokens]:
        assert value not in output
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            dump = " ".join(
                str(row)
                for table in ("products", "sync_runs", "sync_state")
                for row in conn.execute(sa.text(f"SELECT * FROM {table}"))  # noqa: S608
            )
    finally:
        engine.dispose()
    for value in [secret, *tokens]:
        assert value not in dump


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_wrong_secret_is_explained_without_echoing_it(
    sync_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("IMS_CLIENT_SECRET", "p8e-WRONG-secret-value")
    code = main(["sync", "--log-level", "DEBUG"])
    captured = capsys.readouterr()
    assert code != 0
    assert "invalid_client" in captured.err and "IMS_CLIENT_SECRET" in captured.err
    assert "p8e-WRONG-secret-value" not in captured.out + captured.err + caplog.text


def test_debug_runs_with_login_refresh_and_secret_fallback_never_show_a_credential(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 3: the whole user flow at DEBUG, on every database, leaks nothing anywhere."""
    caplog.set_level(logging.DEBUG)
    old = sync_env["IMS_CLIENT_SECRET"]
    new = "p8e-NEXT-rotated-secret-789"
    monkeypatch.setenv("IMS_CLIENT_SECRET_NEXT", new)
    monkeypatch.setenv("IMS_AUTH_FLOW", "authorization_code")
    monkeypatch.setenv("SYNC_TOKEN_CACHE", str(tmp_path / "tokens.json"))
    cache_key = new_key()  # issue 18: the cache is encrypted, and the key is a secret too
    monkeypatch.setenv("SYNC_TOKEN_CACHE_KEY", cache_key)
    emulator.accept_secrets(old, new)  # the overlap of a rotation

    # `accs-sync login`, with the "browser" following the printed URL.
    real_authorize_url = login_module.authorize_url

    def browse(*args: Any, **kwargs: Any) -> str:
        url = real_authorize_url(*args, **kwargs)
        threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 10}).start()
        return url

    monkeypatch.setattr(login_module, "authorize_url", browse)
    assert main(["login", "--port", "0", "--timeout", "30", "--log-level", "DEBUG"]) == 0

    # The old secret is deleted in the console and the login's access token dies: the worker
    # renews with the refresh token, through IMS_CLIENT_SECRET_NEXT.
    emulator.accept_secrets(new)
    emulator.revoke_all_tokens()
    assert main(["sync", "--log-level", "DEBUG"]) == 0
    emulator.faults.error_5xx_next = 1
    assert main(["backfill", "--log-level", "DEBUG"]) == 0
    cached = (tmp_path / "tokens.json").read_bytes()  # at rest: encrypted
    # Issue 18: logout revokes at IMS (through the next secret) and a forgotten token is gone.
    assert main(["logout", "--log-level", "DEBUG"]) == 0
    assert main(["token", "forget", "--log-level", "DEBUG"]) == 0
    # A failing run: the login was revoked.
    emulator.revoke_all_tokens()
    assert main(["sync", "--log-level", "DEBUG"]) == 2
    assert main(["status", "--runs", "10"]) == 1  # the last run failed
    assert main(["status", "--json"]) == 1

    assert emulator.stats.tokens_by_grant["refresh_token"] == 1
    captured = capsys.readouterr()
    assert "accs-sync login" in captured.err
    assert "auth events" in captured.out and '"auth_events"' in captured.out
    settings = load_settings()
    with build_app(settings, migrate=False) as app:
        reprs = " ".join(repr(x) for x in (settings, app, app.tokens, app.tokens.store))
    output = captured.out + captured.err + caplog.text + reprs
    output += " ".join(str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    credentials = [
        old,
        new,
        cache_key,
        *emulator.app.tokens.issued(),
        *emulator.app.grants.refresh_tokens(),
    ]
    assert len(credentials) >= 7
    for value in credentials:
        assert value not in output
        assert value.encode() not in cached
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            dump = " ".join(
                str(row)
                for table in sa.inspect(conn).get_table_names()
                for row in conn.execute(sa.text(f"SELECT * FROM {table}"))  # noqa: S608
            )
            runs = conn.execute(
                sa.text(
                    "SELECT token_refreshes, secret_fallbacks, status FROM sync_runs ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    for value in credentials:
        assert value not in dump
    assert runs[0][0] == 1 and runs[0][1] == 1  # the audit saw the refresh and the fallback
    for event in ("login", "mint", "secret_fallback", "revocation", "logout"):
        assert f"'{event}'" in dump  # a row of sync_auth_events each
    assert runs[-1][2] == "failed"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_check_at_debug_never_prints_a_secret_or_a_token(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`accs-sync check` quotes what IMS, ACCS and the database said: never a credential."""
    caplog.set_level(logging.DEBUG)
    secret = sync_env["IMS_CLIENT_SECRET"]
    assert main(["check", "--log-level", "DEBUG"]) == 0  # mints
    emulator.revoke_all_tokens()
    assert main(["check", "--json", "--log-level", "DEBUG"]) == 0  # cached, refused, re-minted
    monkeypatch.setenv("DATABASE_URL", "postgresql://accs:db-pass-W0rd-secret@127.0.0.1:1/m")
    monkeypatch.setenv("IMS_CLIENT_SECRET", "p8e-WRONG-secret-value")
    monkeypatch.setenv("SYNC_TOKEN_CACHE", "none")
    assert main(["check", "--log-level", "DEBUG"]) == 2
    captured = capsys.readouterr()
    output = captured.out + captured.err + caplog.text
    tokens = emulator.app.tokens.issued()
    assert len(tokens) == 3  # the second check's test mint (proving the secret) included
    assert "invalid_client" in output and "accs:***@127.0.0.1" in output
    for value in [secret, "p8e-WRONG-secret-value", "db-pass-W0rd-secret", *tokens]:
        assert value not in output

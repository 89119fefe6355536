"""No secret or access token in any output, even at DEBUG and on failures."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.engine import make_engine
from sync.emulator import EmulatorServer


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

"""The auth audit's events (issue 18): logins, logouts, revocations, forgotten tokens, secret
fallbacks and mints are rows of ``sync_auth_events`` that ``status`` shows; never a secret."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sync.api.audit import AuthAudit
from sync.db.auth_events import recent_auth_events, record_auth_events
from sync.db.engine import make_engine
from sync.db.migrate import ensure_schema
from sync.status import read_status, status_json, status_text

AT = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def test_events_are_kept_until_drained_with_their_time_and_detail() -> None:
    audit = AuthAudit()
    audit.event("mint", "client_credentials", AT)
    audit.event("secret_fallback", "IMS_CLIENT_SECRET_NEXT after IMS_CLIENT_SECRET", AT)
    drained = audit.drain()
    assert [(e.event, e.detail) for e in drained] == [
        ("mint", "client_credentials"),
        ("secret_fallback", "IMS_CLIENT_SECRET_NEXT after IMS_CLIENT_SECRET"),
    ]
    assert drained[0].at == AT
    assert audit.drain() == []


def test_events_are_rows_that_status_shows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    try:
        ensure_schema(engine)
        audit = AuthAudit()
        audit.event("login", "refresh token stored (encrypted)", AT)
        audit.event("revocation", "refresh_token", AT)
        audit.event("logout", "refresh and access tokens revoked at IMS", AT)
        record_auth_events(engine, audit.drain())
        rows = recent_auth_events(engine, 10)
        assert [r.event for r in rows] == ["logout", "revocation", "login"]  # newest first
        assert rows[0].at == AT.replace(tzinfo=None) and rows[0].run_id is None
        report = read_status(make_engine(url, read_only=True), url)  # as `status` opens it
        text = status_text(report)
        assert "auth events (newest first):" in text
        assert "logout" in text and "refresh and access tokens revoked at IMS" in text
        shown = status_json(report)["auth_events"]
        assert shown[0] == {
            "at": "2026-12-05T10:00:00Z",
            "event": "logout",
            "detail": "refresh and access tokens revoked at IMS",
            "run_id": None,
        }
    finally:
        engine.dispose()


def test_a_hostile_detail_cannot_send_escape_codes_to_the_terminal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    try:
        ensure_schema(engine)
        audit = AuthAudit()
        audit.event("login\x1b[2J", "x\n#9 sync success", AT)
        record_auth_events(engine, audit.drain(), run_id=None)
        text = status_text(read_status(make_engine(url, read_only=True), url))
        assert "\x1b" not in text and "x\n#9" not in text
    finally:
        engine.dispose()

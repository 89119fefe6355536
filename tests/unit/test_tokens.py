"""The IMS side a run starts first (``sync.tokens``): what its listener hears before the metrics
exist reaches them, and a token request that hangs does not hold up an exit."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from sync import tokens as tokens_module
from sync.api.auth import AuthAudit
from sync.tokens import Pending, Tokens


def test_what_the_listener_heard_before_a_target_reaches_it_then_the_rest_goes_straight() -> None:
    heard: list[str] = []
    pending = Pending()
    audit = AuthAudit(on_count=pending)
    audit.count("token_mints")
    audit.failed_mint()
    assert heard == []
    pending.attach(heard.append)
    assert heard == ["token_mints", "token_mint_failures"]
    audit.count("auth_retries")
    assert heard == ["token_mints", "token_mint_failures", "auth_retries"]


class HangingProvider:
    """A token request IMS never answers (until released)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def warm_up(self) -> None:
        self.release.wait(30)


def test_closing_waits_for_a_hanging_token_request_only_a_little(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tokens_module, "CLOSE_WAIT", 0.2)
    provider = HangingProvider()
    warming = threading.Thread(target=provider.warm_up, name="accs-sync-token", daemon=True)
    warming.start()
    started = Tokens(requests.Session(), provider, AuthAudit(), {}, warming=warming)  # type: ignore[arg-type]
    closed = threading.Event()
    closer = threading.Thread(target=lambda: (started.close(), closed.set()), daemon=True)
    began = time.monotonic()
    closer.start()
    try:
        assert closed.wait(5), "close() waited for the hanging request"
        assert time.monotonic() - began < 5
    finally:
        provider.release.set()
        warming.join(5)
        closer.join(5)

"""The loopback listener of ``accs-sync login``: state checked, denial and timeout explained."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sync.api.login import LoginListener, authorize_url
from sync.errors import ConfigError, LoginRequired


def test_the_authorize_url_carries_what_ims_needs() -> None:
    url = authorize_url(
        "https://ims-na1.adobelogin.com/ims/authorize/v2",
        "cid",
        "http://127.0.0.1:8765/callback",
        ["openid", "AdobeID"],
        "st",
    )
    parts = urlsplit(url)
    assert parts.path == "/ims/authorize/v2"
    assert parse_qs(parts.query) == {
        "client_id": ["cid"],
        "redirect_uri": ["http://127.0.0.1:8765/callback"],
        "scope": ["openid,AdobeID"],
        "response_type": ["code"],
        "state": ["st"],
    }


def test_only_a_callback_with_our_state_is_accepted() -> None:
    with LoginListener(0) as listener:
        base = listener.redirect_uri
        assert requests.get(f"{base}?code=stolen&state=other", timeout=5).status_code == 400
        assert requests.get(f"{base}?code=c1", timeout=5).status_code == 400  # no state at all
        ok = requests.get(f"{base}?code=c1&state={listener.state}", timeout=5)
        assert ok.status_code == 200
        assert listener.wait(5) == "c1"


def test_a_denied_login_says_so() -> None:
    with LoginListener(0) as listener:
        requests.get(
            f"{listener.redirect_uri}?error=access_denied&state={listener.state}", timeout=5
        )
        with pytest.raises(LoginRequired, match="access_denied") as info:
            listener.wait(5)
    assert info.value.exit_code == 2


def test_waiting_ends_with_a_clear_error() -> None:
    with LoginListener(0) as listener, pytest.raises(LoginRequired, match="IMS_LOGIN_TIMEOUT"):
        listener.wait(0.05)


def test_a_busy_port_is_a_config_error() -> None:
    with LoginListener(0) as first:
        port = int(first.redirect_uri.split(":")[2].split("/")[0])
        with pytest.raises(ConfigError, match="IMS_REDIRECT_PORT"):
            LoginListener(port)

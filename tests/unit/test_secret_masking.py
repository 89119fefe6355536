"""The log secret filter (issue 14): percent-encoded secrets and the token URL's query values are
masked at DEBUG (urllib3's own lines included), and the filter is safe across threads."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from sync.app import build_ims_session, build_token_provider, register_secrets
from sync.clock import FakeClock
from sync.redact import REDACTED, SecretFilter, redact_url
from sync.settings import load_settings
from tests.local_http import LocalServer, json_reply, no_settings_env

CLIENT_SECRET = "p8e-Client/Secret+Value=42 x"
GATEWAY_KEY = "Gw+Key/9f8e7d6c=="


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_settings_env(monkeypatch, tmp_path)


def test_secrets_in_the_token_urls_query_are_masked_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = json_reply(200, {"access_token": "tok-debug-123456", "expires_in": 86399})
    with LocalServer(lambda seen: answer) as ims:
        query = f"client_secret={quote_plus(CLIENT_SECRET)}&gw={quote(GATEWAY_KEY, safe='')}"
        settings = load_settings(
            ims_client_id="client-abc",
            ims_client_secret=CLIENT_SECRET,
            ims_org_id="ORG123@AdobeOrg",
            api_endpoint="https://na1.api.commerce.adobe.com/TENANT",
            ims_token_url=f"{ims.url}/ims/token/v3?{query}",
            sync_token_cache="none",
        )
        secrets = SecretFilter()
        register_secrets(settings, secrets)
        caplog.handler.addFilter(secrets)
        caplog.set_level(logging.DEBUG)
        # An earlier test's setup_logging may have left urllib3 at WARNING, as a run does.
        caplog.set_level(logging.DEBUG, logger="urllib3")
        with build_ims_session(settings) as session:
            build_token_provider(settings, session, FakeClock(), secrets).get_token()
        assert ims.requests  # the token request went out, with its query
    urllib3_lines = [r for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/ims/token/v3" in r.getMessage() for r in urllib3_lines)
    text = caplog.text
    for value in (CLIENT_SECRET, GATEWAY_KEY):
        for form in {value, quote(value, safe=""), quote_plus(value), quote(value)}:
            assert form not in text, form
    assert "Client" not in text and "9f8e7d6c" not in text


@pytest.mark.parametrize(
    "form", [quote, quote_plus, lambda s: quote(s, safe="")], ids=["quote", "plus", "all"]
)
def test_percent_encoded_forms_of_a_registered_secret_are_masked(form: object) -> None:
    secrets = SecretFilter()
    secrets.add(CLIENT_SECRET)
    encoded = form(CLIENT_SECRET)  # type: ignore[operator]
    assert secrets.scrub(f"POST /token?client_secret={encoded} 200") == (
        f"POST /token?client_secret={REDACTED} 200"
    )


def test_adding_secrets_while_other_threads_log_never_raises() -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show at once
    try:
        errors = _stress()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


def _stress() -> list[BaseException]:
    secrets = SecretFilter()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def add(n: int) -> None:
        start.wait()
        try:
            for i in range(1000):
                secrets.add(f"secret-{n}-{i:05d}")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    def scrub() -> None:
        start.wait()
        try:
            for _ in range(300):
                secrets.scrub("a line with secret-1-00001 and nothing else")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=scrub) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert secrets.scrub("secret-3-00999") == REDACTED
    return errors


def test_redacted_query_values_read_as_the_mask_not_percent_encoded() -> None:
    url = redact_url("https://ims.example/ims/token/v3?api_key=abc123456&sig=zz99zz99&v=3")
    assert url == "https://ims.example/ims/token/v3?api_key=***&sig=***&v=3"

"""IMS client-credentials tokens and the 401 refresh hook, against ``responses``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses
from pydantic import SecretStr

from sync.api.auth import (
    AuthAudit,
    BearerAuth,
    ImsClientCredentials,
    refresh_margin,
)
from sync.api.classify import response_json
from sync.api.ims import ClientSecret, TokenAnswer
from sync.api.retry import RetryPolicy
from sync.api.token_store import MemoryTokenStore, TokenStore
from sync.api.user_tokens import ImsRefreshTokens
from sync.clock import FakeClock
from sync.errors import (
    AuthError,
    ConfigError,
    CredentialsRejected,
    FatalApiError,
    LoginRequired,
    PermissionDenied,
    RetriableApiError,
)
from sync.settings import DEFAULT_SCOPES

TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
API = "https://na1.api.commerce.adobe.com/TENANT/V1/products"
SECRET = "p8e-SuperSecretValue-123"


def provider(clock: FakeClock | None = None) -> ImsClientCredentials:
    clock = clock or FakeClock()
    return ImsClientCredentials(
        session=requests.Session(),
        token_url=TOKEN_URL,
        client_id="client-abc",
        client_secret=SecretStr(SECRET),
        scopes=DEFAULT_SCOPES.split(","),
        clock=clock,
    )


def token_answer(rsps: responses.RequestsMock, *values: str, expires_in: int = 86399) -> None:
    for value in values:
        rsps.post(
            TOKEN_URL,
            json={"access_token": value, "token_type": "bearer", "expires_in": expires_in},
        )


@responses.activate
def test_mint_sends_the_documented_form_and_caches_the_token() -> None:
    token_answer(responses.mock, "tok-1")
    ims = provider()
    assert ims.get_token() == "tok-1"
    assert ims.get_token() == "tok-1"
    assert len(responses.calls) == 1
    form = parse_qs(responses.calls[0].request.body)
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["client-abc"],
        "client_secret": [SECRET],
        "scope": [DEFAULT_SCOPES],
    }
    assert "commerce.accs" in form["scope"][0].split(",")


@responses.activate
def test_token_is_renewed_ahead_of_expiry_not_after() -> None:
    token_answer(responses.mock, "tok-1", "tok-2")
    clock = FakeClock()
    ims = provider(clock)
    assert ims.get_token() == "tok-1"
    margin = refresh_margin(86399)
    assert margin == pytest.approx(8639.9)  # 10% of a day beats 5 minutes
    clock.advance(86399 - margin - 1)
    assert ims.get_token() == "tok-1"
    clock.advance(2)
    assert ims.get_token() == "tok-2"
    assert ims.mints == 2


def test_refresh_margin_is_five_minutes_or_ten_percent_but_at_most_half() -> None:
    assert refresh_margin(3600) == 360
    assert refresh_margin(1200) == 300
    assert refresh_margin(60) == 30


@responses.activate
def test_expires_in_given_in_milliseconds_is_understood() -> None:
    token_answer(responses.mock, "tok-ms", expires_in=86_399_000)
    clock = FakeClock()
    ims = provider(clock)
    ims.get_token()
    clock.advance(86_399 - refresh_margin(86_399) + 1)
    token_answer(responses.mock, "tok-next")
    assert ims.get_token() == "tok-next"


@responses.activate
def test_sixteen_threads_racing_cause_one_mint() -> None:
    token_answer(responses.mock, "tok-shared")
    ims = provider()
    barrier = threading.Barrier(16)
    seen: list[str] = []

    def worker() -> None:
        barrier.wait()
        seen.append(ims.get_token())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert seen == ["tok-shared"] * 16
    assert len(responses.calls) == 1


@responses.activate
def test_a_warm_up_mints_the_token_the_first_request_then_uses() -> None:
    """Start-up asks for the token on a thread of its own while the database is checked; the
    first request finds it, and IMS is asked once."""
    token_answer(responses.mock, "tok-early", "tok-unwanted")
    ims = provider()
    ims.warm_up()
    assert len(responses.calls) == 1
    assert ims.get_token() == "tok-early"
    ims.warm_up()  # a token is at hand: nothing to do
    assert len(responses.calls) == 1 and ims.mints == 1


@responses.activate
def test_a_failed_warm_up_is_the_first_callers_error_and_asks_ims_no_more() -> None:
    """The first request gets the warm-up's failure (its retry policy decides what next), as if
    it had minted itself: a warm-up never adds an attempt."""
    responses.post(TOKEN_URL, status=503, body="<html>busy</html>")
    token_answer(responses.mock, "tok-after-503")
    clock = FakeClock()
    ims = provider(clock)
    ims.warm_up()
    assert len(responses.calls) == 1
    with pytest.raises(RetriableApiError):
        ims.get_token()
    assert len(responses.calls) == 1  # the warm-up's answer, not a second mint
    assert RetryPolicy(clock=clock).call(ims.get_token) == "tok-after-503"
    assert len(responses.calls) == 2


@responses.activate
def test_a_warm_up_after_a_caller_tried_asks_ims_no_more() -> None:
    responses.post(TOKEN_URL, status=503, body="<html>busy</html>")
    ims = provider()
    with pytest.raises(RetriableApiError):
        ims.get_token()
    ims.warm_up()  # late: the caller's own attempt counts, nothing is added
    assert len(responses.calls) == 1


@responses.activate
def test_invalid_client_is_explained_and_not_retried() -> None:
    responses.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_client", "error_description": "invalid client_secret parameter"},
    )
    with pytest.raises(AuthError) as info:
        provider().get_token()
    assert "IMS_CLIENT_SECRET" in info.value.message
    assert SECRET not in info.value.message
    assert len(responses.calls) == 1


@responses.activate
def test_ims_server_errors_are_retried() -> None:
    responses.post(TOKEN_URL, status=503, body="<html>busy</html>")
    token_answer(responses.mock, "tok-after-503")
    clock = FakeClock()
    ims = provider(clock)
    # Minting itself does not retry: the request's retry policy does, one layer only.
    assert RetryPolicy(clock=clock).call(ims.get_token) == "tok-after-503"
    assert len(clock.sleeps) == 1


@responses.activate
def test_ims_failing_for_good_surfaces_a_retriable_error_after_bounded_attempts() -> None:
    for _ in range(4):
        responses.post(TOKEN_URL, status=502)
    clock = FakeClock()
    with pytest.raises(RetriableApiError):
        RetryPolicy(clock=clock, max_attempts=4).call(provider(clock).get_token)
    assert len(responses.calls) == 4


@responses.activate
def test_a_401_refreshes_the_token_and_retries_once() -> None:
    token_answer(responses.mock, "tok-old", "tok-new")
    unauthorized = {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_Catalog::products"},
    }
    responses.get(API, status=401, json=unauthorized)
    responses.get(API, json={"items": [], "search_criteria": {}, "total_count": 0})
    ims = provider()
    session = requests.Session()
    session.auth = BearerAuth(ims, origin=API)
    response = session.get(API, timeout=5)
    assert response.status_code == 200
    api_calls = [c for c in responses.calls if c.request.url.startswith(API)]
    assert [c.request.headers["Authorization"] for c in api_calls] == [
        "Bearer tok-old",
        "Bearer tok-new",
    ]
    assert ims.mints == 2


@responses.activate
def test_a_second_401_with_magentos_authorization_message_is_an_acl_refusal() -> None:
    """Magento answers an ACL refusal with 401 (ErrorProcessor::maskException): once a fresh
    token gets it too, it is a permission refusal naming the ACL, not bad credentials."""
    token_answer(responses.mock, "tok-old", "tok-new")
    body = {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_InventoryApi::source"},
    }
    responses.get(API, status=401, json=body)
    responses.get(API, status=401, json=body)
    ims = provider()
    session = requests.Session()
    session.auth = BearerAuth(ims, origin=API)
    response = session.get(API, timeout=5)
    with pytest.raises(PermissionDenied) as info:
        response_json(response)
    assert info.value.acl == "Magento_InventoryApi::source" and info.value.status == 401
    message = info.value.message
    assert "Magento_InventoryApi::source" in message and "IMS_CLIENT_SECRET" not in message
    assert "tok-" not in message
    # One fresh token and one re-send, no more.
    assert len([c for c in responses.calls if c.request.url.startswith(API)]) == 2
    assert ims.mints == 2


@responses.activate
def test_a_second_401_without_it_fails_with_what_to_check() -> None:
    token_answer(responses.mock, "tok-old", "tok-new")
    body = {"error_code": "401013", "message": "Oauth token is not valid"}
    responses.get(API, status=401, json=body)
    responses.get(API, status=401, json=body)
    session = requests.Session()
    session.auth = BearerAuth(provider(), origin=API)
    response = session.get(API, timeout=5)
    with pytest.raises(AuthError) as info:
        response_json(response)
    message = info.value.message
    assert not isinstance(info.value, PermissionDenied)
    assert "Oauth token is not valid" in message
    assert "commerce.accs" in message and "IMS_CLIENT_ID" in message
    assert "tok-" not in message
    assert len([c for c in responses.calls if c.request.url.startswith(API)]) == 2


@responses.activate
def test_a_403_points_at_the_org_id() -> None:
    responses.get(API, status=403, json={"message": "Forbidden"})
    with pytest.raises(PermissionDenied, match="IMS_ORG_ID"):
        response_json(requests.get(API, timeout=5))


def test_reprs_never_show_the_secret_or_token() -> None:
    ims = provider()
    assert SECRET not in repr(ims)
    assert SECRET not in repr(BearerAuth(ims, origin=API))


# -- issue 3: explained IMS failures, shared store, secrets, refresh tokens ------------------


def store_provider(
    store: TokenStore, clock: FakeClock | None = None, secrets: list[ClientSecret] | None = None
) -> ImsClientCredentials:
    return ImsClientCredentials(
        session=requests.Session(),
        token_url=TOKEN_URL,
        client_id="client-abc",
        client_secret=secrets or [ClientSecret("IMS_CLIENT_SECRET", value=SecretStr(SECRET))],
        scopes=DEFAULT_SCOPES.split(","),
        clock=clock or FakeClock(),
        store=store,
    )


@responses.activate
def test_invalid_client_is_a_configuration_error_with_exit_code_2() -> None:
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_client"})
    with pytest.raises(CredentialsRejected) as info:
        provider().get_token()
    assert info.value.exit_code == 2
    assert "rejected the client id or secret" in info.value.message


@responses.activate
def test_invalid_scope_names_the_scope_the_credential_lacks() -> None:
    responses.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_scope", "error_description": "invalid scope: commerce.accs"},
    )
    with pytest.raises(AuthError) as info:
        provider().get_token()
    assert "commerce.accs" in info.value.message and "lacks it" in info.value.message
    assert not isinstance(info.value, CredentialsRejected)


@pytest.mark.parametrize("status", [200, 403])
@responses.activate
def test_an_html_page_from_a_proxy_is_reported_as_such(status: int) -> None:
    responses.post(
        TOKEN_URL, status=status, body="<!DOCTYPE html><html>login</html>", content_type="text/html"
    )
    with pytest.raises(FatalApiError) as info:
        provider().get_token()
    assert f"IMS answered with an HTML page (status {status})" in info.value.message


@responses.activate
def test_ims_429_honours_retry_after_through_the_retry_policy() -> None:
    responses.post(TOKEN_URL, status=429, headers={"Retry-After": "17"}, json={"error": "x"})
    token_answer(responses.mock, "tok-after-429")
    clock = FakeClock()
    assert RetryPolicy(clock=clock).call(provider(clock).get_token) == "tok-after-429"
    assert clock.sleeps == [17]


@responses.activate
def test_ims_network_errors_are_retried_with_backoff() -> None:
    responses.post(TOKEN_URL, body=requests.ConnectionError("refused"))
    responses.post(TOKEN_URL, body=requests.ConnectionError("refused"))
    token_answer(responses.mock, "tok-after-outage")
    clock = FakeClock()
    assert RetryPolicy(clock=clock).call(provider(clock).get_token) == "tok-after-outage"
    assert len(clock.sleeps) == 2 and all(s > 0 for s in clock.sleeps)


@responses.activate
def test_a_second_provider_reuses_the_stored_token_instead_of_minting() -> None:
    token_answer(responses.mock, "tok-shared")
    store = MemoryTokenStore()
    assert store_provider(store).get_token() == "tok-shared"
    other = store_provider(store)  # another process, same cache
    assert other.get_token() == "tok-shared"
    assert other.mints == 0 and len(responses.calls) == 1


@responses.activate
def test_a_401_on_an_old_token_does_not_drop_a_fresh_one_from_the_store() -> None:
    token_answer(responses.mock, "tok-1", "tok-2")
    store = MemoryTokenStore()
    first, second = store_provider(store), store_provider(store)
    assert first.get_token() == "tok-1"
    assert second.get_token() == "tok-1"
    first.invalidate("tok-1")  # ACCS refused tok-1: dropped everywhere
    assert first.get_token() == "tok-2"
    second.invalidate("tok-1")  # a late 401 in the other process on the old token
    assert second.get_token() == "tok-2"  # the fresh one survived: no third mint
    assert len(responses.calls) == 2


@responses.activate
def test_the_next_secret_takes_over_and_is_preferred_afterwards(
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_client"})
    token_answer(responses.mock, "tok-next-1", "tok-next-2")
    clock = FakeClock()
    ims = store_provider(
        MemoryTokenStore(),
        clock,
        [
            ClientSecret("IMS_CLIENT_SECRET", value=SecretStr(SECRET)),
            ClientSecret("IMS_CLIENT_SECRET_NEXT", value=SecretStr("p8e-NEXT-value-456")),
        ],
    )
    with caplog.at_level(logging.INFO):
        assert ims.get_token() == "tok-next-1"
    sent = [parse_qs(c.request.body)["client_secret"][0] for c in responses.calls]
    assert sent == [SECRET, "p8e-NEXT-value-456"]
    assert "IMS accepted IMS_CLIENT_SECRET_NEXT after rejecting IMS_CLIENT_SECRET" in caplog.text
    assert SECRET not in caplog.text and "p8e-NEXT-value-456" not in caplog.text
    assert ims.audit.snapshot()["secret_fallbacks"] == 1
    clock.advance(86400)
    assert ims.get_token() == "tok-next-2"
    assert parse_qs(responses.calls[-1].request.body)["client_secret"] == ["p8e-NEXT-value-456"]


@responses.activate
def test_both_secrets_rejected_names_both() -> None:
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_client"})
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_client"})
    ims = store_provider(
        MemoryTokenStore(),
        secrets=[
            ClientSecret("IMS_CLIENT_SECRET", value=SecretStr(SECRET)),
            ClientSecret("IMS_CLIENT_SECRET_NEXT", value=SecretStr("p8e-NEXT-value-456")),
        ],
    )
    with pytest.raises(CredentialsRejected, match="IMS_CLIENT_SECRET and IMS_CLIENT_SECRET_NEXT"):
        ims.get_token()


@responses.activate
def test_a_secret_file_is_read_at_each_mint(tmp_path: Path) -> None:
    token_answer(responses.mock, "tok-1", "tok-2")
    secret_file = tmp_path / "secret"
    secret_file.write_text("p8e-first-value\n")
    clock = FakeClock()
    ims = store_provider(MemoryTokenStore(), clock, [ClientSecret("FILE", path=secret_file)])
    ims.get_token()
    secret_file.write_text("p8e-second-value")
    clock.advance(86400)
    ims.get_token()
    sent = [parse_qs(c.request.body)["client_secret"][0] for c in responses.calls]
    assert sent == ["p8e-first-value", "p8e-second-value"]


def test_a_missing_or_empty_secret_file_is_a_clear_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the secret file"):
        ClientSecret("IMS_CLIENT_SECRET_FILE", path=tmp_path / "missing").read()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        ClientSecret("IMS_CLIENT_SECRET_FILE", path=tmp_path / "empty").read()


def refresh_provider(store: TokenStore) -> ImsRefreshTokens:
    return ImsRefreshTokens(
        session=requests.Session(),
        token_url=TOKEN_URL,
        client_id="client-abc",
        client_secret=SecretStr(SECRET),
        scopes=DEFAULT_SCOPES.split(","),
        clock=FakeClock(),
        store=store,
    )


def test_the_user_flow_without_a_login_says_to_log_in() -> None:
    with pytest.raises(LoginRequired, match="run `accs-sync login` first") as info:
        refresh_provider(MemoryTokenStore()).get_token()
    assert info.value.exit_code == 2


@responses.activate
def test_refresh_tokens_are_used_and_rotated() -> None:
    store = MemoryTokenStore()
    ims = refresh_provider(store)
    ims.store_login(TokenAnswer("tok-login", 86399, "rt-1"))
    assert ims.get_token() == "tok-login"
    responses.post(
        TOKEN_URL,
        json={"access_token": "tok-2", "expires_in": 86399, "refresh_token": "rt-2"},
    )
    ims.invalidate("tok-login")
    assert ims.get_token() == "tok-2"
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["rt-1"]
    stored = store.load(ims._key)
    assert stored is not None and stored.refresh_token == "rt-2"
    assert ims.audit.snapshot() == {
        "token_mints": 1,
        "token_refreshes": 1,
        "auth_retries": 0,
        "secret_fallbacks": 0,
    }


@responses.activate
def test_an_expired_refresh_token_asks_to_log_in_again_and_is_dropped() -> None:
    store = MemoryTokenStore()
    ims = refresh_provider(store)
    ims.store_login(TokenAnswer("tok-login", 86399, "rt-old"))
    responses.post(
        TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "expired"}
    )
    ims.invalidate("tok-login")
    with pytest.raises(LoginRequired, match="run `accs-sync login` again"):
        ims.get_token()
    stored = store.load(ims._key)
    assert stored is not None and stored.refresh_token is None


@responses.activate
def test_a_401_re_send_is_counted() -> None:
    token_answer(responses.mock, "tok-old", "tok-new")
    responses.get(API, status=401, json={"message": "no"})
    responses.get(API, json={"items": [], "search_criteria": {}, "total_count": 0})
    audit = AuthAudit()
    session = requests.Session()
    session.auth = BearerAuth(provider(), origin=API, audit=audit)
    assert session.get(API, timeout=5).status_code == 200
    assert audit.snapshot()["auth_retries"] == 1

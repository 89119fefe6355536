"""``ImsRefreshTokens.logout`` against ``responses``: what is sent to ``/ims/revoke``, in which
order, with which client authentication, and what is left when IMS does not answer."""

from __future__ import annotations

import base64
from datetime import datetime
from urllib.parse import parse_qs

import pytest
import requests
import responses
from pydantic import SecretStr

from sync.api.audit import AuthAudit
from sync.api.ims import ClientSecret
from sync.api.retry import RetryPolicy
from sync.api.token_store import MemoryTokenStore, StoredToken, cache_key
from sync.api.user_tokens import ImsRefreshTokens
from sync.clock import FakeClock
from sync.errors import CredentialsRejected, RetriableApiError
from sync.settings import DEFAULT_SCOPES

TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
REVOKE_URL = "https://ims-na1.adobelogin.com/ims/revoke"
SCOPES = DEFAULT_SCOPES.split(",")
KEY = cache_key(TOKEN_URL, "client-abc", SCOPES, "authorization_code")


def provider(
    store: MemoryTokenStore, clock: FakeClock, secrets: list[ClientSecret] | None = None
) -> ImsRefreshTokens:
    return ImsRefreshTokens(
        session=requests.Session(),
        token_url=TOKEN_URL,
        client_id="client-abc",
        client_secret=secrets or SecretStr("s3cret-one"),
        scopes=SCOPES,
        clock=clock,
        store=store,
        audit=AuthAudit(),
    )


def logged_in(clock: FakeClock, expires_in: float = 3600) -> MemoryTokenStore:
    store = MemoryTokenStore()
    now = clock.now().timestamp()
    store.save(
        KEY,
        StoredToken(
            access_token="eyJ-access",
            refresh_at=now + expires_in / 2,
            expires_at=now + expires_in,
            refresh_token="eyJ-refresh",
        ),
    )
    return store


def sent(call: responses.Call) -> tuple[dict[str, list[str]], str]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    scheme, _, value = call.request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    return parse_qs(text), base64.b64decode(value).decode()


@responses.activate
def test_logout_revokes_the_refresh_token_first_then_the_access_token() -> None:
    responses.add(responses.POST, REVOKE_URL, status=200)
    clock = FakeClock()
    store = logged_in(clock)
    ims = provider(store, clock)
    assert ims.logout(REVOKE_URL, RetryPolicy(clock=clock)) == ["refresh_token", "access_token"]
    forms = [sent(c) for c in responses.calls]
    assert [(f["token"], f["token_type"], f["client_id"]) for f, _ in forms] == [
        (["eyJ-refresh"], ["refresh_token"], ["client-abc"]),
        (["eyJ-access"], ["access_token"], ["client-abc"]),
    ]
    assert {basic for _, basic in forms} == {"client-abc:s3cret-one"}
    assert store.load(KEY) is None
    events = [(e.event, e.detail) for e in ims.audit.drain()]
    assert events == [
        ("revocation", "refresh_token"),
        ("revocation", "access_token"),
        ("logout", "refresh and access tokens revoked at IMS, deleted from the cache"),
    ]


@responses.activate
def test_an_expired_access_token_is_not_sent_and_no_login_is_nothing_to_do() -> None:
    responses.add(responses.POST, REVOKE_URL, status=200)
    clock = FakeClock()
    store = logged_in(clock, expires_in=60)
    clock.advance(61)
    ims = provider(store, clock)
    assert ims.logout(REVOKE_URL, RetryPolicy(clock=clock)) == ["refresh_token"]
    assert len(responses.calls) == 1
    assert ims.logout(REVOKE_URL, RetryPolicy(clock=clock)) == []
    assert len(responses.calls) == 1


@responses.activate
def test_a_rejected_secret_falls_back_to_the_next_one() -> None:
    responses.add(responses.POST, REVOKE_URL, status=401, json={"error": "invalid_client"})
    responses.add(responses.POST, REVOKE_URL, status=200)
    responses.add(responses.POST, REVOKE_URL, status=200)
    clock = FakeClock()
    secrets = [
        ClientSecret("IMS_CLIENT_SECRET", value=SecretStr("old-secret")),
        ClientSecret("IMS_CLIENT_SECRET_NEXT", value=SecretStr("new-secret")),
    ]
    ims = provider(logged_in(clock), clock, secrets)
    assert ims.logout(REVOKE_URL, RetryPolicy(clock=clock)) == ["refresh_token", "access_token"]
    assert [sent(c)[1] for c in responses.calls] == [
        "client-abc:old-secret",
        "client-abc:new-secret",
        "client-abc:new-secret",  # the one that worked goes first from then on
    ]


@responses.activate
def test_a_refused_client_is_credentials_rejected_and_nothing_is_deleted() -> None:
    responses.add(responses.POST, REVOKE_URL, status=401, json={"error": "invalid_client"})
    clock = FakeClock()
    store = logged_in(clock)
    with pytest.raises(CredentialsRejected):
        provider(store, clock).logout(REVOKE_URL, RetryPolicy(clock=clock))
    assert store.load(KEY) is not None


@responses.activate
def test_ims_down_is_retried_then_leaves_the_login_in_place() -> None:
    responses.add(responses.POST, REVOKE_URL, status=503)
    clock = FakeClock(datetime.fromisoformat("2026-01-01T00:00:00+00:00"))
    store = logged_in(clock)
    with pytest.raises(RetriableApiError):
        provider(store, clock).logout(REVOKE_URL, RetryPolicy(max_attempts=3, clock=clock))
    assert len(responses.calls) == 3 and len(clock.sleeps) == 2
    stored = store.load(KEY)
    assert stored is not None and stored.refresh_token == "eyJ-refresh"  # run it again


@responses.activate
def test_any_other_refusal_is_explained_with_its_code() -> None:
    responses.add(
        responses.POST,
        REVOKE_URL,
        status=400,
        json={"error": "invalid_request", "error_description": "token_type\x1b[2J"},
    )
    clock = FakeClock()
    with pytest.raises(Exception, match="refused to revoke the refresh_token") as info:
        provider(logged_in(clock), clock).logout(REVOKE_URL, RetryPolicy(clock=clock))
    assert "invalid_request" in str(info.value) and "\x1b" not in str(info.value)

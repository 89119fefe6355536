"""IMS client-credentials tokens and the 401 refresh hook, against ``responses``."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs

import pytest
import requests
import responses
from pydantic import SecretStr

from sync.api.auth import BearerAuth, ImsClientCredentials, refresh_margin
from sync.api.classify import response_json
from sync.api.retry import RetryPolicy
from sync.clock import FakeClock
from sync.errors import AuthError, PermissionDenied, RetriableApiError
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
    session.auth = BearerAuth(ims)
    response = session.get(API, timeout=5)
    assert response.status_code == 200
    api_calls = [c for c in responses.calls if c.request.url.startswith(API)]
    assert [c.request.headers["Authorization"] for c in api_calls] == [
        "Bearer tok-old",
        "Bearer tok-new",
    ]
    assert ims.mints == 2


@responses.activate
def test_a_second_401_fails_with_what_to_check() -> None:
    token_answer(responses.mock, "tok-old", "tok-new")
    body = {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_Catalog::products"},
    }
    responses.get(API, status=401, json=body)
    responses.get(API, status=401, json=body)
    session = requests.Session()
    session.auth = BearerAuth(provider())
    response = session.get(API, timeout=5)
    with pytest.raises(AuthError) as info:
        response_json(response)
    message = info.value.message
    assert "Magento_Catalog::products" in message
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
    assert SECRET not in repr(BearerAuth(ims))

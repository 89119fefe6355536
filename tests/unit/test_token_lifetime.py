"""An IMS ``expires_in`` that is not a sane lifetime never turns every request into a mint
(issue 14): NaN, Infinity, zero and negative values are a clear InvalidResponse; an absurdly
long one is capped at a day."""

from __future__ import annotations

import math

import pytest
import requests
import responses
from pydantic import SecretStr

from sync.api.auth import ImsClientCredentials
from sync.api.ims import MAX_TOKEN_LIFETIME
from sync.clock import FakeClock
from sync.errors import InvalidResponse
from sync.settings import DEFAULT_SCOPES

TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"


def provider(clock: FakeClock) -> ImsClientCredentials:
    return ImsClientCredentials(
        session=requests.Session(),
        token_url=TOKEN_URL,
        client_id="client-abc",
        client_secret=SecretStr("p8e-lifetime-secret"),
        scopes=DEFAULT_SCOPES.split(","),
        clock=clock,
    )


def answer_with(expires_in: str) -> responses.BaseResponse:
    return responses.post(
        TOKEN_URL,
        body=f'{{"access_token": "tok-lifetime-1", "expires_in": {expires_in}}}',
        content_type="application/json",
    )


@responses.activate
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "0", "-5", "1e400"])
def test_a_lifetime_that_is_not_a_positive_finite_number_is_a_clear_error(value: str) -> None:
    mints = answer_with(value)
    tokens = provider(FakeClock())
    with pytest.raises(InvalidResponse, match="expires_in"):
        tokens.get_token()
    assert mints.call_count == 1


@responses.activate
@pytest.mark.parametrize("value", ["1e300", "9" * 400, "86399"])
def test_94_requests_take_one_mint_even_with_an_absurd_lifetime(value: str) -> None:
    mints = answer_with(value)
    clock = FakeClock()
    tokens = provider(clock)
    for _ in range(94):
        assert tokens.get_token() == "tok-lifetime-1"
        clock.advance(1.0)
    assert mints.call_count == 1
    assert tokens.mints == 1


@responses.activate
def test_an_absurd_lifetime_is_capped_so_the_token_is_renewed_within_a_day() -> None:
    answer_with("1e300")
    clock = FakeClock()
    tokens = provider(clock)
    tokens.get_token()
    answer_with("86399")
    clock.advance(MAX_TOKEN_LIFETIME)
    tokens.get_token()
    assert tokens.mints == 2
    assert math.isfinite(MAX_TOKEN_LIFETIME) and MAX_TOKEN_LIFETIME <= 86400

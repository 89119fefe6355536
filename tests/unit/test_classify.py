"""How ACCS answers map onto the error taxonomy."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
import responses

from sync.api.classify import magento_message, parse_retry_after, response_json
from sync.errors import (
    FatalApiError,
    InvalidResponse,
    PageSizeLimited,
    RateLimited,
    RetriableApiError,
)

URL = "https://na1.api.commerce.adobe.com/T/V1/products"


def answer(**kwargs: object) -> requests.Response:
    with responses.RequestsMock() as rsps:
        rsps.get(URL, **kwargs)  # type: ignore[arg-type]
        return requests.get(URL, timeout=5)


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Mon, 23 Nov 2026 12:00:30 GMT", now) == 30
    assert parse_retry_after("Mon, 23 Nov 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_429_carries_retry_after() -> None:
    with pytest.raises(RateLimited) as info:
        response_json(
            answer(status=429, json={"message": "Too many requests"}, headers={"Retry-After": "4"})
        )
    assert info.value.retry_after == 4


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retriable(status: int) -> None:
    with pytest.raises(RetriableApiError):
        response_json(answer(status=status, body="<html><body>Bad gateway</body></html>"))


def test_page_size_limit_is_recognised_with_its_number() -> None:
    body = {"message": "Maximum SearchCriteria pageSize is %1", "parameters": ["300"]}
    with pytest.raises(PageSizeLimited) as info:
        response_json(answer(status=400, json=body))
    assert info.value.limit == 300


def test_other_400s_are_fatal_with_magentos_message_rendered() -> None:
    body = {"message": "Invalid attribute name: %1", "parameters": ["foo"]}
    with pytest.raises(FatalApiError, match="Invalid attribute name: foo"):
        response_json(answer(status=400, json=body))


def test_a_2xx_that_is_not_json_is_a_retriable_invalid_response() -> None:
    with pytest.raises(InvalidResponse, match="not JSON"):
        response_json(answer(status=200, body='{"items": [{"sku": "tru'))
    with pytest.raises(InvalidResponse, match="HTML page"):
        response_json(answer(status=200, body="<!DOCTYPE html><html></html>"))


def test_a_2xx_body_decodes_to_the_values_sent() -> None:
    """Whatever decoder reads it, a product keeps every value: PHP escapes, integers past 64
    bits, floats in every notation, non-ASCII both escaped and raw."""
    body = (
        '{"items":[{"id":1,"sku":"A\\/B","name":"Caf\\u00e9 \\ud83d\\ude00 über",'
        '"price":34.99,"weight":1e-05,"qty":1.5E+2,"big":123456789012345678901234567890,'
        '"neg":-9223372036854775809,"zero":-0.0,"label":null}],"total_count":1}'
    )
    got = response_json(answer(status=200, body=body.encode("utf-8")))
    item = got["items"][0]
    assert item["sku"] == "A/B" and item["name"] == "Café 😀 über"
    assert item["big"] == 123456789012345678901234567890 and isinstance(item["big"], int)
    assert item["neg"] == -9223372036854775809 and isinstance(item["neg"], int)
    assert (item["price"], item["weight"], item["qty"]) == (34.99, 1e-05, 150.0)
    assert got == json.loads(body)
    odd = response_json(answer(status=200, body=b'{"items":[{"x":NaN}],"total_count":1}'))
    assert odd["items"][0]["x"] != odd["items"][0]["x"]  # json reads NaN; so do we


def test_magento_message_handles_ims_style_bodies() -> None:
    assert (
        magento_message({"error": "invalid_scope", "error_description": "x"}) == "invalid_scope: x"
    )
    assert magento_message("nope") is None


def test_errors_that_would_repeat_forever_are_fatal_not_retried() -> None:
    from sync.api.classify import raise_for_network

    bad_header = requests.exceptions.InvalidHeader("Invalid leading whitespace in header value")
    assert isinstance(raise_for_network(bad_header, URL, setting="API_ENDPOINT"), FatalApiError)
    assert "IMS_ORG_ID" in raise_for_network(bad_header, URL, setting="API_ENDPOINT").message
    tls = raise_for_network(
        requests.exceptions.SSLError("certificate verify failed"), URL, setting="API_ENDPOINT"
    )
    assert isinstance(tls, FatalApiError) and "REQUESTS_CA_BUNDLE" in tls.message
    refused = raise_for_network(
        requests.exceptions.ConnectionError("refused"), URL, setting="API_ENDPOINT"
    )
    assert isinstance(refused, RetriableApiError) and not isinstance(refused, FatalApiError)


def classify_in_store(status: int, message: str, store: str) -> Exception:
    with responses.RequestsMock() as rsps:
        rsps.get(URL, status=status, json={"message": message, "parameters": ["x@AdobeOrg"]})
        response = requests.get(URL, headers={"Store": store}, timeout=5)
    with pytest.raises(Exception) as info:
        response_json(response)
    return info.value


@pytest.mark.parametrize("status", [400, 404])
def test_an_unknown_store_view_is_configuration_naming_the_code(status: int) -> None:
    from sync.errors import StoreUnknown

    said = "The store that was requested wasn't found. Verify the store and try again."
    error = classify_in_store(status, said, "nope")
    assert isinstance(error, StoreUnknown) and error.exit_code == 2
    assert error.store_code == "nope" and "'nope'" in error.message
    assert "SYNC_STORE_CODES" in error.message and "http" not in error.message


def test_a_refused_organisation_is_configuration_naming_ims_org_id() -> None:
    from sync.errors import OrgRejected

    said = 'The IMS organization "%1" is not authorized to access this instance.'
    error = classify_in_store(403, said, "default")
    assert isinstance(error, OrgRejected) and error.exit_code == 2
    assert "IMS_ORG_ID" in error.message and "x@AdobeOrg" in error.message

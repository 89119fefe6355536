"""The ACCS client against ``responses``: headers, criteria on the wire, retries."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from pydantic import SecretStr

from sync.api.auth import BearerAuth, ImsClientCredentials
from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.products import ProductsClient
from sync.api.retry import RetryPolicy
from sync.api.session import USER_AGENT, build_session
from sync.clock import FakeClock
from sync.errors import FatalApiError, InvalidResponse, RetriableApiError

TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
ENDPOINT = "https://na1.api.commerce.adobe.com/TENANT"
PRODUCTS = f"{ENDPOINT}/V1/products"
EMPTY = {"items": [], "search_criteria": {}, "total_count": 0}


def client(clock: FakeClock) -> ProductsClient:
    retry = RetryPolicy(clock=clock, max_attempts=4)
    session = build_session(headers={"x-api-key": "client-abc", "x-gw-ims-org-id": "ORG@AdobeOrg"})
    session.auth = BearerAuth(
        ImsClientCredentials(
            build_session(),
            TOKEN_URL,
            "client-abc",
            SecretStr("s3cret-xyz"),
            ["commerce.accs"],
            clock,
        ),
        origin=ENDPOINT,
    )
    return ProductsClient(session, ENDPOINT, retry)


@pytest.fixture
def rsps() -> responses.RequestsMock:
    with responses.RequestsMock() as mock:
        mock.post(
            TOKEN_URL, json={"access_token": "tok-1", "token_type": "bearer", "expires_in": 86399}
        )
        yield mock


def test_every_call_carries_the_documented_headers_and_criteria(
    rsps: responses.RequestsMock,
) -> None:
    rsps.get(
        PRODUCTS, json={"items": [{"id": 1, "sku": "A"}], "search_criteria": {}, "total_count": 1}
    )
    criteria = SearchCriteria(
        groups=((Filter("entity_id", "0", "gt"),),),
        sorts=(Sort("entity_id", "ASC"),),
        page_size=300,
    )
    page = client(FakeClock()).search(criteria, "fr")
    assert page.items == [{"id": 1, "sku": "A"}] and page.total_count == 1
    assert page.requested == 300 and page.is_short  # the walk knows what it asked for
    request = rsps.calls[-1].request
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert request.headers["x-api-key"] == "client-abc"
    assert request.headers["x-gw-ims-org-id"] == "ORG@AdobeOrg"
    assert request.headers["Store"] == "fr"
    assert request.headers["User-Agent"] == USER_AGENT and "accs-sync" in USER_AGENT
    sent = dict(parse_qsl(urlsplit(request.url).query))
    assert sent["searchCriteria[sortOrders][0][direction]"] == "ASC"
    assert sent["searchCriteria[pageSize]"] == "300"
    assert sent["searchCriteria[currentPage]"] == "1"


def test_503_and_a_truncated_body_are_retried(rsps: responses.RequestsMock) -> None:
    rsps.get(PRODUCTS, status=503, json={"message": "Service Unavailable"})
    rsps.get(PRODUCTS, body='{"items": [{"id": 1, "sk')
    rsps.get(
        PRODUCTS, status=429, headers={"Retry-After": "2"}, json={"message": "Too many requests"}
    )
    rsps.get(PRODUCTS, json=EMPTY)
    clock = FakeClock()
    page = client(clock).search(SearchCriteria(), "default")
    assert page.items == []
    assert len(clock.sleeps) == 3 and clock.sleeps[-1] == 2


def test_a_body_that_never_becomes_valid_fails_after_bounded_attempts(
    rsps: responses.RequestsMock,
) -> None:
    for _ in range(4):
        rsps.get(PRODUCTS, body="<html>gateway</html>")
    with pytest.raises(InvalidResponse):
        client(FakeClock()).search(SearchCriteria(), "default")


def test_bad_requests_fail_at_once(rsps: responses.RequestsMock) -> None:
    rsps.get(
        PRODUCTS, status=400, json={"message": "Invalid attribute name: %1", "parameters": ["foo"]}
    )
    clock = FakeClock()
    with pytest.raises(FatalApiError, match="foo"):
        client(clock).search(SearchCriteria(), "default")
    assert clock.sleeps == []


def test_newest_updated_at_asks_for_one_item_sorted_descending(
    rsps: responses.RequestsMock,
) -> None:
    rsps.get(
        PRODUCTS,
        json={
            "items": [{"id": 9, "sku": "Z", "updated_at": "2026-02-03 04:05:06"}],
            "search_criteria": {},
            "total_count": 99,
        },
    )
    assert client(FakeClock()).newest_updated_at("default") == "2026-02-03 04:05:06"
    sent = dict(parse_qsl(urlsplit(rsps.calls[-1].request.url).query))
    assert sent["searchCriteria[sortOrders][0][field]"] == "updated_at"
    assert sent["searchCriteria[sortOrders][0][direction]"] == "DESC"
    assert sent["searchCriteria[pageSize]"] == "1"


def test_ims_down_is_retried_by_the_one_policy_not_squared() -> None:
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, status=503)
        clock = FakeClock()
        with pytest.raises(RetriableApiError):
            client(clock).search(SearchCriteria(), "default")
        token_posts = [c for c in mock.calls if c.request.url == TOKEN_URL]
        assert len(token_posts) == 4  # max_attempts, not max_attempts squared
        assert len(clock.sleeps) == 3


@pytest.mark.parametrize("path", ["/V1/categories/list", "/V1/inventory/source-items"])
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "is not a JSON object"),
        ({"items": {}, "total_count": 0}, "has 'items' that is not a list"),
        ({"items": []}, "has no valid 'total_count'"),
    ],
)
def test_a_bad_answer_of_another_endpoint_names_that_endpoint(
    rsps: responses.RequestsMock, path: str, body: object, problem: str
) -> None:
    rsps.get(f"{ENDPOINT}{path}", json=body)
    with pytest.raises(InvalidResponse) as raised:
        client(FakeClock()).list(path, SearchCriteria(page_size=10), "default")
    assert f"ACCS {path} answer {problem}" in str(raised.value)
    assert "/V1/products" not in str(raised.value)

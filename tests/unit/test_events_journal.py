"""The I/O Events journal client against ``responses``: headers, positions, 204, gaps, the
retry and auth policies, and hostile answers (which never yield a moved position)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from pydantic import SecretStr

from sync.api.auth import BearerAuth, ImsClientCredentials
from sync.api.retry import RetryPolicy
from sync.api.session import build_session
from sync.clock import FakeClock
from sync.errors import AuthError, FatalApiError, InvalidResponse, RedirectRefused
from sync.events.journal import JournalClient, JournalGap, build_journal_session

TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
JOURNAL = "https://events-va6.adobe.io/events/organizations/o1/integrations/i1/r1"
PRODUCT_SAVE = "com.adobe.commerce.observer.catalog_product_save_commit_after"


def event(position: str, eid: str, value: object, kind: str = PRODUCT_SAVE) -> dict[str, object]:
    return {
        "position": position,
        "event": {
            "specversion": "1.0",
            "id": eid,
            "source": "urn:uuid:x",
            "type": kind,
            "datacontenttype": "application/json",
            "time": "2026-12-05T10:00:00.123Z",
            "data": {"key": "k", "value": value, "_metadata": {"storeId": "1"}},
        },
    }


def page(*events: dict[str, object]) -> dict[str, object]:
    last = events[-1]["position"] if events else None
    return {"events": list(events), "_page": {"last": last, "count": len(events)}}


def client(clock: FakeClock, max_bytes: int = 2_000_000) -> JournalClient:
    tokens = ImsClientCredentials(
        build_session(), TOKEN_URL, "client-abc", SecretStr("s3cret"), ["commerce.accs"], clock
    )
    session = build_journal_session(
        client_id="client-abc",
        org_id="ORG@AdobeOrg",
        connect_timeout=5,
        read_timeout=30,
        max_response_bytes=max_bytes,
    )
    session.auth = BearerAuth(tokens, origin=JOURNAL)
    return JournalClient(session, JOURNAL, RetryPolicy(clock=clock, max_attempts=4), clock=clock)


@pytest.fixture
def rsps() -> responses.RequestsMock:
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 86399})
        yield mock


def test_a_page_is_read_with_the_documented_headers_and_position(
    rsps: responses.RequestsMock,
) -> None:
    rsps.get(
        JOURNAL,
        json=page(
            event("p1", "e1", {"entity_id": "42", "sku": "MJ01"}),
            event(
                "p2",
                "e2",
                {"product_id": "7"},
                "com.adobe.commerce.observer.cataloginventory_stock_item_save_commit_after",
            ),
        ),
    )
    got = client(FakeClock()).read("p0", 50)
    sent = rsps.calls[-1].request
    assert sent.headers["Authorization"] == "Bearer tok-1"
    assert sent.headers["x-api-key"] == "client-abc"
    assert sent.headers["x-ims-org-id"] == "ORG@AdobeOrg"
    assert dict(parse_qsl(urlsplit(sent.url).query)) == {"since": "p0", "limit": "50"}
    assert got.position == "p2"
    assert [(e.id, e.name, e.value) for e in got.events] == [
        ("e1", "observer.catalog_product_save_commit_after", {"entity_id": "42", "sku": "MJ01"}),
        ("e2", "observer.cataloginventory_stock_item_save_commit_after", {"product_id": "7"}),
    ]
    assert got.events[0].store_id == "1"
    assert got.events[0].time is not None and got.events[0].time.microsecond == 123000
    assert got.retry_after is None


def test_the_first_read_has_no_since(rsps: responses.RequestsMock) -> None:
    rsps.get(JOURNAL, json=page(event("p1", "e1", {"sku": "A"})))
    client(FakeClock()).read(None, 10)
    assert dict(parse_qsl(urlsplit(rsps.calls[-1].request.url).query)) == {"limit": "10"}


@pytest.mark.parametrize(("header", "wait"), [("10", 10.0), ("86400", 60.0), (None, 10.0)])
def test_204_keeps_the_position_and_says_how_long_to_wait(
    rsps: responses.RequestsMock, header: str | None, wait: float
) -> None:
    rsps.get(JOURNAL, status=204, headers={"retry-after": header} if header else {})
    got = client(FakeClock()).read("p9", 10)
    assert got.events == [] and got.position == "p9" and got.retry_after == wait


@pytest.mark.parametrize("status", [410, 400])
def test_an_expired_or_refused_position_is_a_gap(rsps: responses.RequestsMock, status: int) -> None:
    rsps.get(JOURNAL, status=status, json={"message": "gone"})
    with pytest.raises(JournalGap) as caught:
        client(FakeClock()).read("old", 10)
    assert caught.value.status == status and str(status) in caught.value.message


def test_401_refreshes_the_token_once_through_the_auth_hook(
    rsps: responses.RequestsMock,
) -> None:
    rsps.get(JOURNAL, status=401, json={"error": "expired"})
    rsps.get(JOURNAL, json=page(event("p1", "e1", {"sku": "A"})))
    got = client(FakeClock()).read(None, 10)
    assert got.position == "p1"
    assert len([c for c in rsps.calls if c.request.url == TOKEN_URL]) == 2


def test_401_twice_is_an_auth_error_naming_the_journal(rsps: responses.RequestsMock) -> None:
    rsps.get(JOURNAL, status=401, json={"error": "no"})
    with pytest.raises(AuthError, match="IO_EVENTS"):
        client(FakeClock()).read(None, 10)


def test_429_and_5xx_go_through_the_retry_policy(rsps: responses.RequestsMock) -> None:
    rsps.get(JOURNAL, status=429, headers={"Retry-After": "7"})
    rsps.get(JOURNAL, status=503)
    rsps.get(JOURNAL, json=page(event("p1", "e1", {"sku": "A"})))
    clock = FakeClock()
    assert client(clock).read(None, 10).position == "p1"
    assert clock.sleeps[0] == 7.0 and len(clock.sleeps) == 2


def test_a_connection_reset_is_retried(rsps: responses.RequestsMock) -> None:
    rsps.get(JOURNAL, body=requests.exceptions.ConnectionError("reset by peer"))
    rsps.get(JOURNAL, json=page(event("p1", "e1", {"sku": "A"})))
    assert client(FakeClock()).read(None, 10).position == "p1"


@pytest.mark.parametrize(
    "body",
    [
        b"<html>oops</html>",
        b"[]",
        b'{"_page": {"last": "p1"}}',
        b'{"events": [{"event": {}}], "_page": {"last": "p1"}}',
        b'{"events": [{"position": 5, "event": {}}]}',
        b'{"events": "x"}',
    ],
)
def test_a_hostile_page_is_an_error_never_a_position(
    rsps: responses.RequestsMock, body: bytes
) -> None:
    rsps.get(JOURNAL, body=body, content_type="application/json")
    with pytest.raises(InvalidResponse, match="journal"):
        client(FakeClock()).read("p0", 10)


def test_a_redirect_is_refused_and_names_the_setting(rsps: responses.RequestsMock) -> None:
    rsps.get(JOURNAL, status=302, headers={"Location": "https://evil.example/"})
    with pytest.raises(RedirectRefused, match="IO_EVENTS_JOURNAL_URL"):
        client(FakeClock()).read(None, 10)


def test_a_huge_body_is_refused(rsps: responses.RequestsMock) -> None:
    rsps.get(JOURNAL, body=b"x" * 5000, content_type="application/json")
    with pytest.raises(FatalApiError, match="too large"):
        client(FakeClock(), max_bytes=4096).read(None, 10)


def test_odd_events_are_skipped_but_the_page_position_still_moves(
    rsps: responses.RequestsMock,
) -> None:
    rsps.get(
        JOURNAL,
        json=page(
            event("p1", "e1", "not an object"),
            {"position": "p2", "event": "junk"},
            event("p3", "e3", {"sku": "A"}, "com.adobe.other.thing"),
            event("p4", "e4", {"entity_id": "9"}),
        ),
    )
    got = client(FakeClock()).read(None, 10)
    assert got.position == "p4"
    assert [e.id for e in got.events] == ["e4"]
    assert got.skipped == 3


def test_latest_asks_for_the_end(rsps: responses.RequestsMock) -> None:
    rsps.get(JOURNAL, status=204, headers={"retry-after": "10"})
    client(FakeClock()).latest()
    assert dict(parse_qsl(urlsplit(rsps.calls[-1].request.url).query)) == {"latest": "true"}

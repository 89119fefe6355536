"""A request that gets no HTTP answer says why (refused, name not found) and names the URL
setting; a wrong URL (an endpoint that never answered in this process) is reported within
about 20 s instead of the full retry budget, while an endpoint that answered before keeps the
patient retries an outage deserves. Waits go through a fake clock: nothing really sleeps."""

from __future__ import annotations

import socket

import pytest
import requests
from pydantic import SecretStr

from sync.api.auth import ImsClientCredentials
from sync.api.criteria import SearchCriteria
from sync.api.products import ProductsClient
from sync.api.retry import RetryPolicy
from sync.clock import FakeClock
from sync.errors import AccsSyncError, RetriableApiError
from tests.local_http import LocalServer, json_reply

#: Name resolution of the reserved .invalid TLD fails locally, without any network.
UNRESOLVABLE = "http://accs-sync-typo.invalid/tenant"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def search(endpoint: str, clock: FakeClock) -> AccsSyncError:
    client = ProductsClient(requests.Session(), endpoint, RetryPolicy(clock=clock))
    with pytest.raises(AccsSyncError) as info:
        client.search(SearchCriteria(page_size=1), "default")
    return info.value


@pytest.mark.parametrize(
    ("endpoint", "said"),
    [
        (f"http://127.0.0.1:{closed_port()}/tenant", "connection refused"),
        (UNRESOLVABLE, "not found"),
    ],
    ids=["refused", "dns"],
)
def test_a_wrong_api_endpoint_is_named_and_given_up_on_within_20_seconds(
    endpoint: str, said: str
) -> None:
    clock = FakeClock()
    error = search(endpoint, clock)
    assert isinstance(error, RetriableApiError)  # an exit 1, as an outage: it may be one
    assert said in error.message and "API_ENDPOINT" in error.message
    assert "searchCriteria" not in error.message
    assert len(clock.sleeps) >= 2  # still retried a little: a service may be starting
    assert sum(clock.sleeps) <= 20.0


def test_an_endpoint_that_answered_before_keeps_the_patient_retries() -> None:
    clock = FakeClock()
    session = requests.Session()
    with LocalServer(lambda seen: json_reply(200, {"items": [], "total_count": 0})) as server:
        client = ProductsClient(session, f"{server.url}/tenant", RetryPolicy(clock=clock))
        client.search(SearchCriteria(page_size=1), "default")
    # The server is gone now: connections to its port are refused, as in a restart.
    session.close()  # no kept-alive connection to the old server
    with pytest.raises(RetriableApiError) as info:
        client.search(SearchCriteria(page_size=1), "default")
    assert "connection refused" in info.value.message
    assert sum(clock.sleeps) > 100.0  # today's budget: 8 attempts, 1 s doubling to 60 s


def test_an_unreachable_ims_names_ims_token_url_and_is_given_up_on_within_20_seconds() -> None:
    clock = FakeClock()
    provider = ImsClientCredentials(
        requests.Session(),
        f"http://127.0.0.1:{closed_port()}/ims/token/v3",
        "client",
        SecretStr("secret"),
        ["openid"],
        clock,
    )
    with pytest.raises(RetriableApiError) as info:
        RetryPolicy(clock=clock).call(provider.get_token)
    assert "connection refused" in info.value.message and "IMS_TOKEN_URL" in info.value.message
    assert sum(clock.sleeps) <= 20.0


def test_a_timeout_on_first_contact_keeps_the_patient_retries() -> None:
    """A slow or overloaded endpoint is not a wrong URL: only refused and DNS give up early."""
    from sync.errors import Unreachable

    clock = FakeClock()

    def slow() -> None:
        raise Unreachable("no answer in time", "timeout", "API_ENDPOINT", first_contact=True)

    with pytest.raises(Unreachable):
        RetryPolicy(clock=clock).call(slow)
    assert sum(clock.sleeps) > 100.0

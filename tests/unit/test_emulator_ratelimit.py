"""The emulator's requests-per-second limit: a token bucket over ACCS calls, on a fake clock."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from sync.clock import FakeClock
from sync.emulator import REQUIRED_SCOPES, Catalog, EmulatorApp, Faults, Response
from sync.emulator.ratelimit import TokenBucket, retry_after_seconds

LIST = "/t1/V1/products"
QUERY = urlencode({"searchCriteria[pageSize]": "1"})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> EmulatorApp:
    return EmulatorApp(
        Catalog.generate(5, seed=1),
        tenant="t1",
        client_id="cid",
        client_secret="s3cret",
        org_id="ORG@AdobeOrg",
        faults=Faults(),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )


def get(app: EmulatorApp, token: str) -> Response:
    headers = {
        "Authorization": f"Bearer {token}",
        "x-api-key": "cid",
        "x-gw-ims-org-id": "ORG@AdobeOrg",
    }
    return app.handle("GET", LIST, headers, QUERY)


def statuses(app: EmulatorApp, token: str, n: int) -> list[int]:
    return [get(app, token).status for _ in range(n)]


def test_bucket_allows_a_burst_then_says_how_long_until_the_next_token(
    clock: FakeClock,
) -> None:
    bucket = TokenBucket(4, burst=3, monotonic=clock.monotonic)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.25)
    clock.advance(0.125)
    assert bucket.take() == pytest.approx(0.125)  # half a token back already
    clock.advance(0.125)
    assert bucket.take() == 0.0
    clock.advance(60)
    assert [bucket.take() for _ in range(4)][-1] == pytest.approx(0.25)  # refills to burst only


def test_bucket_burst_defaults_to_the_rate_and_is_at_least_one() -> None:
    assert TokenBucket(10).burst == 10
    assert TokenBucket(0.3).burst == 1
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1, burst=0)


@pytest.mark.parametrize(
    ("wait", "header"), [(0.01, 1), (1.0, 1), (1.5, 2), (2.0 + 1e-12, 2), (3.0001, 4)]
)
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: int) -> None:
    assert retry_after_seconds(wait) == header


def test_over_the_limit_is_a_429_with_the_seconds_until_a_token(
    app: EmulatorApp, clock: FakeClock
) -> None:
    token = app.issue_token()
    app.faults.rate_limit_rps = 0.25  # one request every 4 s, burst 1
    assert statuses(app, token, 1) == [200]
    limited = get(app, token)
    assert limited.status == 429
    assert dict(limited.headers)["Retry-After"] == "4"
    # The same answer as the scripted rate-limit fault.
    app.faults.rate_limit_next = 1
    scripted = get(app, token)
    assert (scripted.status, scripted.body) == (429, limited.body)
    clock.advance(3.5)
    assert dict(get(app, token).headers)["Retry-After"] == "1"  # 0.5 s left, rounded up
    clock.advance(0.5)
    assert statuses(app, token, 2) == [200, 429]
    assert app.stats.rate_limited == 4


def test_a_burst_passes_then_the_rate_holds(app: EmulatorApp, clock: FakeClock) -> None:
    token = app.issue_token()
    app.faults.rate_limit_rps = 10
    app.faults.rate_limit_burst = 3
    assert statuses(app, token, 4) == [200, 200, 200, 429]
    served = 0
    for _ in range(50):  # 5 s at 10 requests per second
        clock.advance(0.1)
        served += statuses(app, token, 2).count(200)
    assert served == 50


def test_ims_token_requests_take_no_tokens(app: EmulatorApp) -> None:
    app.faults.rate_limit_rps = 1
    form = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": "cid",
            "client_secret": "s3cret",
            "scope": ",".join(REQUIRED_SCOPES),
        }
    ).encode()
    minted = [app.handle("POST", "/ims/token/v3", {}, "", form) for _ in range(5)]
    assert [r.status for r in minted] == [200] * 5
    assert statuses(app, app.issue_token(), 2) == [200, 429]


def test_requests_the_gateway_refuses_first_take_no_tokens(app: EmulatorApp) -> None:
    app.faults.rate_limit_rps = 1
    wrong_key = {"x-api-key": "nope", "x-gw-ims-org-id": "ORG@AdobeOrg"}
    assert app.handle("GET", LIST, wrong_key, QUERY).status == 403
    assert statuses(app, app.issue_token(), 2) == [200, 429]


def test_changing_the_limit_at_run_time_takes_effect(app: EmulatorApp, clock: FakeClock) -> None:
    token = app.issue_token()
    app.faults.rate_limit_rps = 1
    assert statuses(app, token, 2) == [200, 429]
    app.faults.rate_limit_rps = 5  # a new, full bucket
    assert statuses(app, token, 6) == [200] * 5 + [429]
    app.faults.rate_limit_burst = 2
    assert statuses(app, token, 3) == [200, 200, 429]
    app.faults.reset()  # off again
    assert statuses(app, token, 20) == [200] * 20

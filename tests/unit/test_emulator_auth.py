"""The emulator's IMS token endpoint, ACCS's gateway and token checks, and injected faults."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from sync.clock import FakeClock
from sync.emulator import REQUIRED_SCOPES, Catalog, EmulatorApp, Faults, RequestRecord

TENANT = "t1"
LIST = f"/{TENANT}/V1/products"
QUERY = urlencode({"searchCriteria[pageSize]": "2"})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def app(clock: FakeClock) -> EmulatorApp:
    catalog = Catalog.generate(20, seed=1, stores=["default", "fr"], clock=clock.now)
    return EmulatorApp(
        catalog,
        tenant=TENANT,
        client_id="cid",
        client_secret="s3cret",
        org_id="ORG@AdobeOrg",
        faults=Faults(),
    )


def token_form(**overrides: str) -> bytes:
    form = {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "s3cret",
        "scope": ",".join(REQUIRED_SCOPES),
    }
    form.update(overrides)
    return urlencode(form).encode()


def mint(app: EmulatorApp, **overrides: str) -> tuple[int, Any]:
    response = app.handle(
        "POST",
        "/ims/token/v3",
        {"Content-Type": "application/x-www-form-urlencoded"},
        "",
        token_form(**overrides),
    )
    return response.status, response.json()


def headers(token: str, **extra: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "x-api-key": "cid",
        "x-gw-ims-org-id": "ORG@AdobeOrg",
        **extra,
    }


def get(
    app: EmulatorApp, hdrs: dict[str, str], path: str = LIST
) -> tuple[int, Any, dict[str, str]]:
    response = app.handle("GET", path, hdrs, QUERY)
    return response.status, response.json(), dict(response.headers)


UNAUTHORIZED = {
    "message": "The consumer isn't authorized to access %resources.",
    "parameters": {"resources": "Magento_Catalog::products"},
}


def test_token_endpoint_issues_a_bearer_token_that_ACCS_accepts(app: EmulatorApp) -> None:
    status, body = mint(app)
    assert status == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    status, listing, _ = get(app, headers(body["access_token"]))
    assert status == 200
    assert len(listing["items"]) == 2
    assert app.stats.tokens_issued == 1


@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        ({"client_id": "other"}, "invalid_client", "invalid client_id parameter"),
        ({"client_secret": "wrong"}, "invalid_client", "invalid client_secret parameter"),
        ({"grant_type": "password"}, "unsupported_grant_type", None),
        ({"scope": "openid,AdobeID"}, "invalid_scope", "commerce.accs"),
        ({"scope": ",".join([*REQUIRED_SCOPES, "bogus.scope"])}, "invalid_scope", "bogus.scope"),
    ],
)
def test_token_endpoint_errors(
    app: EmulatorApp, overrides: dict[str, str], error: str, description: str | None
) -> None:
    status, body = mint(app, **overrides)
    assert status == 400
    assert body["error"] == error
    if description is not None:
        assert description in body["error_description"]
    assert app.stats.tokens_issued == 0


def test_missing_unknown_expired_and_revoked_tokens_get_magentos_401(
    app: EmulatorApp, clock: FakeClock
) -> None:
    assert get(app, {"x-api-key": "cid", "x-gw-ims-org-id": "ORG@AdobeOrg"})[:2] == (
        401,
        UNAUTHORIZED,
    )
    assert get(app, headers("not-a-token"))[:2] == (401, UNAUTHORIZED)

    app.faults.token_lifetime = 60
    short = mint(app)[1]
    assert short["expires_in"] == 60
    assert get(app, headers(short["access_token"]))[0] == 200
    clock.advance(60)  # the emulator's clock, not the wall clock, expires tokens
    assert get(app, headers(short["access_token"]))[:2] == (401, UNAUTHORIZED)

    fresh = mint(app)[1]["access_token"]
    assert app.tokens.revoke(fresh)
    assert get(app, headers(fresh))[0] == 401
    other = mint(app)[1]["access_token"]
    app.tokens.revoke_all()
    assert get(app, headers(other))[0] == 401
    assert app.stats.unauthorized == 5


def test_gateway_rejects_a_wrong_api_key_or_org_with_403(app: EmulatorApp) -> None:
    token = app.issue_token()
    status, body, _ = get(app, headers(token, **{"x-api-key": "someone-else"}))
    assert (status, body) == (403, {"error_code": "403003", "message": "Api Key is invalid"})
    status, body, _ = get(app, headers(token, **{"x-gw-ims-org-id": "OTHER@AdobeOrg"}))
    assert status == 403
    assert "message" in body


def test_unknown_store_is_400_and_a_store_view_applies_its_names(app: EmulatorApp) -> None:
    token = app.issue_token()
    status, body, _ = get(app, headers(token, Store="xx"))
    assert status == 400
    assert body == {
        "message": "The store that was requested wasn't found. Verify the store and try again."
    }
    renamed = [p for p in app.catalog if p.value("name", "fr") != p.name]
    assert renamed, "the generator translates some names for non-default stores"
    sku = renamed[0].sku
    response = app.handle("GET", f"/{TENANT}/V1/products/{sku}", headers(token, Store="fr"))
    assert response.status == 200
    assert response.json()["name"] == renamed[0].value("name", "fr") != renamed[0].name
    default = app.handle("GET", f"/{TENANT}/V1/products/{sku}", headers(token))
    assert default.json()["name"] == renamed[0].name


def test_single_product_by_url_encoded_sku_and_404(app: EmulatorApp) -> None:
    app.catalog.create("WEIRD/SKU 1", name="Slash")
    token = app.issue_token()
    ok = app.handle("GET", f"/{TENANT}/V1/products/WEIRD%2FSKU%201", headers(token))
    assert (ok.status, ok.json()["name"]) == (200, "Slash")
    missing = app.handle("GET", f"/{TENANT}/V1/products/NOPE", headers(token))
    assert missing.status == 404
    assert missing.json() == {
        "message": "The product that was requested doesn't exist. Verify the product and try again."
    }
    assert app.handle("GET", "/other-tenant/V1/products", headers(token), QUERY).status == 404


def test_rate_limit_answers_429_with_retry_after(app: EmulatorApp) -> None:
    token = app.issue_token()
    app.faults.rate_limit_next = 1
    app.faults.retry_after = 7
    status, body, hdrs = get(app, headers(token))
    assert (status, body, hdrs["Retry-After"]) == (429, {"message": "Too many requests"}, "7")
    assert get(app, headers(token))[0] == 200
    app.faults.rate_limit_every = 3
    statuses = [get(app, headers(token))[0] for _ in range(6)]
    assert statuses.count(429) == 2
    assert app.stats.rate_limited == 3


def test_5xx_invalid_json_and_disconnect_faults(app: EmulatorApp) -> None:
    token = app.issue_token()
    app.faults.error_5xx_next = 1
    assert app.handle("GET", LIST, headers(token), QUERY).status == 503
    app.faults.error_5xx_status = 500
    app.faults.error_5xx_next = 1
    internal = app.handle("GET", LIST, headers(token), QUERY)
    assert internal.status == 500
    assert internal.json()["message"].startswith("Internal Error.")
    app.faults.invalid_json_next = 1
    garbled = app.handle("GET", LIST, headers(token), QUERY)
    assert garbled.status == 200
    with pytest.raises(ValueError):
        garbled.json()
    app.faults.disconnect_next = 1
    assert app.handle("GET", LIST, headers(token), QUERY).disconnect
    assert app.handle("GET", LIST, headers(token), QUERY).status == 200
    assert app.stats.server_errors == 2


def test_ims_faults(app: EmulatorApp) -> None:
    app.faults.ims_rate_limit_next = 1
    app.faults.ims_error_5xx_next = 1
    assert mint(app)[0] == 429
    response = app.handle("POST", "/ims/token/v3", {}, "", token_form())
    assert response.status == 503
    assert mint(app)[0] == 200


def test_request_hooks_see_each_request_and_can_change_the_catalog(app: EmulatorApp) -> None:
    token = app.issue_token()
    seen: list[RequestRecord] = []

    def hook(record: RequestRecord) -> None:
        seen.append(record)
        if len(seen) == 1:
            app.catalog.create("ADDED-BETWEEN-PAGES")

    app.faults.on_request.append(hook)
    get(app, headers(token, Store="fr"))
    assert "ADDED-BETWEEN-PAGES" in app.catalog
    assert seen[0].params()["searchCriteria[pageSize]"] == "2"
    assert seen[0].store == "fr"
    assert app.stats.list_requests()[-1].status == 200
    app.faults.reset()
    assert app.faults.on_request == []


def test_token_requests_are_recorded_without_their_secrets(app: EmulatorApp) -> None:
    app.handle("POST", "/ims/token/v3", {}, "client_secret=s3cret", token_form())
    record = app.stats.recent[-1]
    assert record.kind == "token"
    assert "s3cret" not in repr(record)


# -- issue 3: rotation, error modes, authorization-code and refresh-token grants ---------------


def test_several_secrets_can_be_accepted_during_a_rotation(app: EmulatorApp) -> None:
    app.client_secrets[:] = ["s3cret", "n3w-secret"]
    assert mint(app)[0] == 200
    assert mint(app, client_secret="n3w-secret")[0] == 200
    app.client_secrets[:] = ["n3w-secret"]
    status, body = mint(app)
    assert (status, body["error"]) == (400, "invalid_client")


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        ("ims_invalid_client_next", 400, "invalid_client"),
        ("ims_invalid_scope_next", 400, "invalid_scope"),
    ],
)
def test_ims_error_modes(app: EmulatorApp, fault: str, status: int, error: str) -> None:
    setattr(app.faults, fault, 1)
    code, body = mint(app)
    assert (code, body["error"]) == (status, error)
    assert mint(app)[0] == 200  # one request only


def test_ims_html_page_mode(app: EmulatorApp) -> None:
    app.faults.ims_html_next = 1
    app.faults.ims_html_status = 502
    response = app.handle("POST", "/ims/token/v3", {}, "", token_form())
    assert response.status == 502
    assert dict(response.headers)["Content-Type"].startswith("text/html")
    assert response.body.startswith(b"<!DOCTYPE html>")


def authorize(app: EmulatorApp, **overrides: str) -> dict[str, str]:
    params = {
        "client_id": "cid",
        "redirect_uri": "http://127.0.0.1:5555/callback",
        "scope": "openid,AdobeID",
        "response_type": "code",
        "state": "st-123",
    }
    params.update(overrides)
    response = app.handle("GET", "/ims/authorize/v2", {}, urlencode(params))
    assert response.status == 302, response.body
    location = dict(response.headers)["Location"]
    assert location.startswith(params["redirect_uri"] + "?")
    return dict(parse_qsl(location.split("?", 1)[1]))


def basic(client_id: str = "cid", secret: str = "s3cret") -> dict[str, str]:
    value = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def exchange(app: EmulatorApp, code: str, auth: dict[str, str] | None = None) -> tuple[int, Any]:
    form = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:5555/callback",
        }
    ).encode()
    response = app.handle("POST", "/ims/token/v3", auth or basic(), "", form)
    return response.status, response.json()


def refresh(app: EmulatorApp, token: str) -> tuple[int, Any]:
    form = urlencode(
        {
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": "cid",
            "client_secret": "s3cret",
        }
    ).encode()
    response = app.handle("POST", "/ims/token/v3", {}, "", form)
    return response.status, response.json()


def test_authorization_code_grant_with_basic_auth_and_rotating_refresh_tokens(
    app: EmulatorApp, clock: FakeClock
) -> None:
    answer = authorize(app)
    assert answer["state"] == "st-123" and answer["code"]
    status, body = exchange(app, answer["code"])
    assert status == 200 and body["refresh_token"] and body["access_token"]
    assert exchange(app, answer["code"])[1]["error"] == "invalid_grant"  # single use
    status, renewed = refresh(app, body["refresh_token"])
    assert status == 200 and renewed["refresh_token"] != body["refresh_token"]
    assert refresh(app, body["refresh_token"])[1]["error"] == "invalid_grant"  # rotated
    assert app.stats.tokens_by_grant == {"authorization_code": 1, "refresh_token": 1}
    app.faults.refresh_token_lifetime = 60
    fresh = refresh(app, renewed["refresh_token"])[1]["refresh_token"]
    clock.advance(61)
    assert refresh(app, fresh)[1]["error"] == "invalid_grant"  # expired


def test_the_code_exchange_requires_http_basic_and_the_right_secret(app: EmulatorApp) -> None:
    code = authorize(app)["code"]
    assert exchange(app, code, basic(secret="wrong"))[1]["error"] == "invalid_client"
    assert exchange(app, code, {"X": "no auth"})[0] == 401


def test_authorize_can_deny_and_refuses_foreign_redirects(app: EmulatorApp) -> None:
    app.faults.authorize_deny = True
    assert authorize(app) == {"state": "st-123", "error": "access_denied"}
    response = app.handle(
        "GET",
        "/ims/authorize/v2",
        {},
        urlencode({"client_id": "cid", "redirect_uri": "https://evil.example/cb"}),
    )
    assert response.status == 400


def revoke(
    app: EmulatorApp, token: str, kind: str, auth: dict[str, str] | None = None
) -> tuple[int, bytes]:
    form = urlencode({"token": token, "token_type": kind, "client_id": "cid"}).encode()
    response = app.handle("POST", "/ims/revoke", auth if auth is not None else basic(), "", form)
    return response.status, response.body


def test_a_revoked_refresh_token_is_refused_and_a_revoked_access_token_too(
    app: EmulatorApp,
) -> None:
    body = exchange(app, authorize(app)["code"])[1]
    assert revoke(app, body["refresh_token"], "refresh_token")[0] == 200
    assert refresh(app, body["refresh_token"])[1]["error"] == "invalid_grant"
    assert get(app, headers(body["access_token"]))[0] == 200  # until it is revoked itself
    assert revoke(app, body["access_token"], "access_token")[0] == 200
    assert get(app, headers(body["access_token"]))[0] == 401
    # RFC 7009: an unknown (or already revoked) token is not an error, nothing is revealed.
    assert revoke(app, "eyJ-never-issued", "access_token")[0] == 200
    assert app.stats.requests["revoke"] == 3


def test_revocation_authenticates_the_client_and_needs_a_token(app: EmulatorApp) -> None:
    body = exchange(app, authorize(app)["code"])[1]
    status, answer = revoke(app, body["refresh_token"], "refresh_token", basic(secret="wrong"))
    assert status == 400 and b"invalid_client" in answer
    assert revoke(app, body["refresh_token"], "refresh_token", {})[0] == 401
    assert refresh(app, body["refresh_token"])[0] == 200  # nothing was revoked
    assert revoke(app, "", "access_token")[0] == 400
    assert revoke(app, "x", "id_token")[0] == 400
    app.faults.ims_revoke_error_next = 1
    assert revoke(app, "x", "access_token")[0] == 503

"""The emulator's I/O Management API: a credential's client secrets (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from sync.clock import FakeClock
from sync.emulator import REQUIRED_SCOPES, Catalog, EmulatorApp, Faults
from sync.emulator.console import MANAGEMENT_SCOPES

ORG = "ORG@AdobeOrg"
CRED = "cred-1"
SECRETS = f"/console/organizations/{ORG}/credentials/{CRED}/secrets"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def app(clock: FakeClock) -> EmulatorApp:
    catalog = Catalog.generate(5, seed=1, clock=clock.now)
    return EmulatorApp(
        catalog,
        tenant="t1",
        client_id="cid",
        client_secret="s3cret",
        org_id=ORG,
        credential_id=CRED,
        faults=Faults(),
        clock=clock.now,
    )


def mint(app: EmulatorApp, secret: str = "s3cret", management: bool = True) -> tuple[int, Any]:
    scopes = list(REQUIRED_SCOPES) + (list(MANAGEMENT_SCOPES) if management else [])
    form = {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": secret,
        "scope": ",".join(scopes),
    }
    response = app.handle("POST", "/ims/token/v3", {}, "", urlencode(form).encode())
    return response.status, response.json()


def call(app: EmulatorApp, method: str, path: str, token: str, key: str = "cid") -> Any:
    headers = {"Authorization": f"Bearer {token}", "x-api-key": key}
    return app.handle(method, path, headers)


def token(app: EmulatorApp, secret: str = "s3cret") -> str:
    status, body = mint(app, secret)
    assert status == 200, body
    return str(body["access_token"])


def listed(app: EmulatorApp, bearer: str) -> list[dict[str, Any]]:
    response = call(app, "GET", SECRETS, bearer)
    assert response.status == 200, response.json()
    secrets: list[dict[str, Any]] = response.json()["client_secrets"]
    return secrets


def test_lists_creates_and_deletes_secrets_with_the_two_secret_limit(
    app: EmulatorApp, clock: FakeClock
) -> None:
    bearer = token(app)
    first = listed(app, bearer)
    assert len(first) == 1 and "s3cret" not in str(first)
    assert first[0]["secret_usages"][0]["last_used_at"].startswith("2026-01-01T00:00:00")
    clock.advance(3600)
    created = call(app, "POST", SECRETS, bearer)
    assert created.status == 200
    new = created.json()
    assert new["client_secret"] in app.client_secrets and new["uuid"]
    # The new secret mints at once; its first use shows.
    assert mint(app, new["client_secret"], management=False)[0] == 200
    secrets = {s["uuid"]: s for s in listed(app, bearer)}
    assert secrets[new["uuid"]]["secret_usages"][0]["last_used_at"].startswith("2026-01-01T01")
    third = call(app, "POST", SECRETS, bearer)
    assert third.status == 409 and "two" in third.json()["message"]
    assert call(app, "DELETE", f"{SECRETS}/{first[0]['uuid']}", bearer).status == 204
    assert app.client_secrets == [new["client_secret"]]
    assert mint(app)[1]["error"] == "invalid_client"
    # The last secret cannot go; an unknown one is a 404.
    assert call(app, "DELETE", f"{SECRETS}/{new['uuid']}", bearer).status == 400
    assert call(app, "DELETE", f"{SECRETS}/nope", bearer).status == 404


def test_a_never_used_secret_has_no_usages(app: EmulatorApp) -> None:
    bearer = token(app)
    call(app, "POST", SECRETS, bearer)
    fresh = [s for s in listed(app, bearer) if not s["secret_usages"]]
    assert len(fresh) == 1


@pytest.mark.parametrize(
    ("method", "management", "key", "path", "status"),
    [
        ("GET", False, "cid", SECRETS, 403),  # a REST token lacks the management scopes
        ("POST", False, "cid", SECRETS, 403),
        ("GET", True, "other", SECRETS, 403),  # wrong x-api-key
        ("GET", True, "cid", SECRETS.replace(CRED, "cred-2"), 404),
        ("GET", True, "cid", SECRETS.replace(ORG, "OTHER@AdobeOrg"), 403),
    ],
)
def test_the_same_auth_rules(
    app: EmulatorApp, method: str, management: bool, key: str, path: str, status: int
) -> None:
    _, body = mint(app, management=management)
    assert call(app, method, path, body["access_token"], key=key).status == status
    assert len(app.client_secrets) == 1


def test_an_unknown_or_missing_token_is_401(app: EmulatorApp) -> None:
    assert call(app, "GET", SECRETS, "eyJnope").status == 401
    assert app.handle("GET", SECRETS, {"x-api-key": "cid"}).status == 401


def test_management_scopes_are_accepted_by_the_token_endpoint_only_with_the_required_ones(
    app: EmulatorApp,
) -> None:
    assert mint(app, management=True)[0] == 200
    form = {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "s3cret"}
    form["scope"] = ",".join(MANAGEMENT_SCOPES)
    response = app.handle("POST", "/ims/token/v3", {}, "", urlencode(form).encode())
    assert response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("step", ["list", "create", "delete"])
def test_faults_on_each_step(app: EmulatorApp, step: str) -> None:
    bearer = token(app)
    created = call(app, "POST", SECRETS, bearer).json()
    setattr(app.faults, f"console_{step}_error_next", 1)
    method, path = {
        "list": ("GET", SECRETS),
        "create": ("POST", SECRETS),
        "delete": ("DELETE", f"{SECRETS}/{created['uuid']}"),
    }[step]
    assert call(app, method, path, bearer).status == 503
    assert len(app.client_secrets) == 2  # nothing changed


def test_a_new_secret_can_be_refused_by_ims_for_a_while(app: EmulatorApp) -> None:
    bearer = token(app)
    app.faults.console_new_secret_rejected = 1
    new = call(app, "POST", SECRETS, bearer).json()["client_secret"]
    assert mint(app, new)[1]["error"] == "invalid_client"
    assert mint(app)[0] == 200  # the old one is unaffected
    assert mint(app, new)[0] == 200


def test_console_requests_are_recorded_without_secrets(app: EmulatorApp) -> None:
    bearer = token(app)
    new = call(app, "POST", SECRETS, bearer).json()["client_secret"]
    assert new not in repr(list(app.stats.recent))
    assert app.stats.requests["console"] == 1

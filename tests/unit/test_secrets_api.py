"""The I/O Management API client (issue 18): request shapes and hostile answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses

from sync.api.secrets_api import SecretsApi, management_scopes, parse_time
from sync.errors import (
    AuthError,
    FatalApiError,
    InvalidResponse,
    PermissionDenied,
    RateLimited,
    RetriableApiError,
)

BASE = "https://api.adobe.io"
URL = f"{BASE}/console/organizations/ORG@AdobeOrg/credentials/cred-1/secrets"
NEW = "p8e-VERY-SECRET-VALUE"


@pytest.fixture
def api() -> SecretsApi:
    session = requests.Session()
    session.headers["x-api-key"] = "cid"
    return SecretsApi(session, BASE + "/", "ORG@AdobeOrg", "cred-1")


@responses.activate
def test_lists_oldest_first_with_last_use(api: SecretsApi) -> None:
    responses.get(
        URL,
        json={
            "client_id": "cid",
            "client_secrets": [
                {"uuid": "b", "created": "2026-02-01T00:00:00.000Z", "secret_usages": []},
                {
                    "uuid": "a",
                    "created": "2026-01-01T00:00:00Z",
                    "secret_usages": [
                        {"last_used_at": "2026-03-01T10:00:00Z"},
                        {"last_used_at": 1772359200000},  # epoch ms, 2026-03-01T10:00:00Z
                        {"last_used_at": "garbage"},
                    ],
                },
            ],
        },
    )
    first, second = api.list()
    assert (first.uuid, second.uuid) == ("a", "b")
    assert first.last_used == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert second.last_used is None and second.idle_since() == second.created
    assert responses.calls[0].request.headers["x-api-key"] == "cid"


@responses.activate
def test_creates_and_hides_the_value(api: SecretsApi) -> None:
    responses.post(URL, json={"uuid": "u-1", "client_secret": NEW, "created": "2026-01-01T00:00Z"})
    created = api.create()
    assert created.value.get_secret_value() == NEW and NEW not in repr(created)
    responses.delete(f"{URL}/u-1", status=204)
    api.delete("u-1")
    assert responses.calls[-1].request.method == "DELETE"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"uuid": "u-1"}, "without its value"),
        ({"client_secret": NEW}, "uuid"),
        ({"uuid": "../../x", "client_secret": NEW}, "uuid"),
        ({"uuid": "u-1", "client_secret": NEW + "\n"}, "control"),
        ([NEW], "no object"),
    ],
)
@responses.activate
def test_a_hostile_creation_answer_never_shows_the_secret(
    api: SecretsApi, body: Any, says: str
) -> None:
    responses.post(URL, json=body)
    with pytest.raises(InvalidResponse) as info:
        api.create()
    assert says in info.value.message and NEW not in info.value.message


@responses.activate
def test_a_creation_answer_that_is_not_json_is_not_quoted(api: SecretsApi) -> None:
    responses.post(URL, body=f"<html>{NEW}</html>", status=200)
    with pytest.raises(InvalidResponse) as info:
        api.create()
    assert NEW not in info.value.message


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"client_secrets": "x"},
        {"client_secrets": [{"uuid": "a"}]},
        {"client_secrets": [{"uuid": "a", "created": "2026-01-01"}] * 2},
        {"client_secrets": [{"uuid": str(n), "created": "2026-01-01"} for n in range(50)]},
        {"client_secrets": [{"uuid": "a", "created": "2026-01-01", "secret_usages": 3}]},
    ],
)
@responses.activate
def test_a_hostile_listing_is_invalid(api: SecretsApi, body: Any) -> None:
    responses.get(URL, json=body)
    with pytest.raises(InvalidResponse):
        api.list()


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (401, AuthError, "I/O Management API"),
        (403, PermissionDenied, "Developer Console"),
        (404, FatalApiError, "IMS_CREDENTIAL_ID"),
        (409, FatalApiError, "at most two"),
        (503, RetriableApiError, "try again later"),
        (429, RateLimited, "try again later"),
    ],
)
@responses.activate
def test_refusals_say_what_to_do(
    api: SecretsApi, status: int, error: type[Exception], says: str
) -> None:
    responses.post(
        URL,
        status=status,
        json={"error_code": "x1", "message": "at most two\x1b[31m secrets"},
        headers={"Retry-After": "3"},
    )
    with pytest.raises(error) as info:
        api.create()
    message = str(info.value)
    assert says in message and "\x1b" not in message


def test_management_scopes_are_added_once() -> None:
    assert management_scopes(["openid", "read_client_secret"]) == [
        "openid",
        "read_client_secret",
        "manage_client_secrets",
    ]


@pytest.mark.parametrize("value", [None, True, "", "yesterday", "x" * 100, -5, [1]])
def test_unusable_times_are_none(value: Any) -> None:
    assert parse_time(value) is None

"""``accs-sync check``'s logic: what each answer means, the exit code, the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses
from pydantic import SecretStr

from sync.api.auth import ImsClientCredentials
from sync.api.cache_crypto import new_key, parse_key
from sync.api.classify import response_json
from sync.api.paging import Page
from sync.api.products import ProductsClient
from sync.api.retry import RetryPolicy
from sync.api.token_store import FileTokenStore, MemoryTokenStore, StoredToken, TokenStore
from sync.clock import FakeClock
from sync.doctor import Finding, render_json, render_text, verdict
from sync.doctor.local import database_findings, token_cache_finding
from sync.doctor.remote import StoreProbe, accs_findings, check_token, probe_stores
from sync.errors import (
    AccsSyncError,
    AuthError,
    PageSizeLimited,
    PermissionDenied,
    RetriableApiError,
)
from sync.settings import DEFAULT_SCOPES

TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
SCOPES = DEFAULT_SCOPES.split(",")
API = "https://na1.api.commerce.adobe.com/TENANT"
NO_STORE = "The store that was requested wasn't found. Verify the store and try again."


def classified(status: int, message: str, store: str = "default") -> AccsSyncError:
    """The error :mod:`sync.api.classify` makes of ACCS's answer ``{"message": message}``."""
    url = f"{API}/V1/products?searchCriteria[pageSize]=1"
    with responses.RequestsMock() as rsps:
        rsps.get(url, status=status, json={"message": message})
        response = requests.get(url, headers={"Store": store}, timeout=5)
    with pytest.raises(AccsSyncError) as info:
        response_json(response)
    return info.value


def by_name(findings: list[Finding]) -> dict[str, Finding]:
    return {f.name: f for f in findings}


def statuses(findings: list[Finding]) -> dict[str, str]:
    return {f.name: f.status for f in findings}


# -- verdict and output ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("found", "code"),
    [
        ([("ok", "config"), ("warn", "service"), ("skip", "config")], 0),
        ([("ok", "config"), ("fail", "service"), ("skip", "config")], 1),
        ([("fail", "service"), ("fail", "config")], 2),
        ([("warn", "config"), ("fail", "config")], 2),
        ([], 0),
    ],
)
def test_verdict_config_beats_service_and_warnings_never_fail(
    found: list[tuple[str, str]], code: int
) -> None:
    findings = [Finding(f"n{i}", s, c, "d") for i, (s, c) in enumerate(found)]  # type: ignore[arg-type]
    assert verdict(findings) == code


def test_text_is_one_aligned_line_per_finding_then_the_summary() -> None:
    findings = [
        Finding("token", "ok", "service", "minted in 0.1s"),
        Finding("credentials", "fail", "config", "IMS rejected the client id or secret"),
        Finding("store default", "skip", "config", "not asked: no token"),
        Finding("schema", "warn", "service", "not migrated yet"),
    ]
    lines = render_text(findings).splitlines()
    assert lines[0] == "ok    token          minted in 0.1s"
    assert lines[1] == "FAIL  credentials    IMS rejected the client id or secret"
    assert lines[2].startswith("skip  store default  ")
    assert lines[3].startswith("warn  schema ")
    assert lines[4] == (
        "check: 1 ok, 1 warning, 1 failed, 1 skipped; exit 2: the configuration needs fixing: "
        "see FAIL above"
    )
    document = json.loads(json.dumps(render_json(findings)))
    assert document["exit_code"] == 2
    assert document["findings"][1] == {
        "name": "credentials",
        "status": "fail",
        "category": "config",
        "detail": "IMS rejected the client id or secret",
    }
    assert document["summary"] == lines[4]


# -- the token -------------------------------------------------------------------------------


def provider(
    store: TokenStore | None = None, clock: FakeClock | None = None
) -> ImsClientCredentials:
    return ImsClientCredentials(
        session=requests.Session(),
        token_url=TOKEN_URL,
        client_id="client-abc",
        client_secret=SecretStr("p8e-SuperSecretValue-123"),
        scopes=SCOPES,
        clock=clock or FakeClock(),
        store=store,
    )


def token_check(
    ims: ImsClientCredentials, clock: FakeClock, cache: Path | None
) -> tuple[list[Finding], bool]:
    retry = RetryPolicy(max_attempts=2, max_total_wait=5, clock=clock)
    return check_token(
        ims, retry, clock, token_url=TOKEN_URL, client_id="client-abc", scopes=SCOPES, cache=cache
    )


@responses.activate
def test_a_minted_token_then_the_cached_one(tmp_path: Path) -> None:
    responses.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 86399})
    clock, cache = FakeClock(), tmp_path / "tokens.json"
    found, have = token_check(provider(FileTokenStore(cache), clock), clock, cache)
    assert have and set(statuses(found).values()) == {"ok"}
    assert by_name(found)["token"].detail.startswith("minted in ")
    assert str(cache) in by_name(found)["token"].detail
    assert "client-abc" in by_name(found)["credentials"].detail

    clock.advance(600)  # a second process, ten minutes later
    found, have = token_check(provider(FileTokenStore(cache), clock), clock, cache)
    assert have and len(responses.calls) == 1
    assert by_name(found)["token"].detail == f"from the cache {cache}, expires in 1430m"
    assert "from the cache" in by_name(found)["credentials"].detail


@pytest.mark.parametrize(
    ("answer", "failing", "category"),
    [
        ({"status": 401, "json": {"error": "invalid_client"}}, "credentials", "config"),
        (
            {
                "status": 400,
                "json": {
                    "error": "invalid_scope",
                    "error_description": "invalid scope: commerce.accs",
                },
            },
            "scopes",
            "config",
        ),
        ({"status": 400, "json": {"error": "unauthorized_client"}}, "credentials", "config"),
        ({"status": 503, "body": "busy"}, "token", "service"),
    ],
)
@responses.activate
def test_what_ims_refused_is_the_one_failing_line(
    answer: dict[str, object], failing: str, category: str
) -> None:
    responses.post(TOKEN_URL, **answer)  # type: ignore[arg-type]
    clock = FakeClock()
    found, have = token_check(provider(MemoryTokenStore(), clock), clock, None)
    assert not have
    assert [f.name for f in found] == ["token", "credentials", "scopes"]
    failed = [f for f in found if f.status == "fail"]
    assert [(f.name, f.category) for f in failed] == [(failing, category)]
    assert "p8e-SuperSecretValue-123" not in str(found)
    if failing == "scopes":
        assert "commerce.accs" in failed[0].detail
        assert by_name(found)["credentials"].status == "ok"
    if failing == "token":
        assert len(responses.calls) == 2  # the short retry policy: two attempts, then report


# -- ACCS answers ----------------------------------------------------------------------------


def page(total: int, n: int) -> Page:
    return Page(items=[{"id": i} for i in range(1, n + 1)], total_count=total, requested=100)


def accs(*probes: StoreProbe) -> list[Finding]:
    return accs_findings(probes, api_endpoint=API, org_id="ORG@AdobeOrg", page_size=100)


def test_a_good_store_reports_endpoint_org_store_page_size_and_count() -> None:
    found = accs(StoreProbe("default", page=page(750, 100)))
    assert statuses(found) == {
        "endpoint": "ok",
        "org id": "ok",
        "store default": "ok",
        "page size default": "ok",
        "total_count default": "ok",
    }
    assert by_name(found)["total_count default"].detail == "750 products"
    assert "ORG@AdobeOrg" in by_name(found)["org id"].detail


def test_an_unknown_store_fails_as_configuration_and_the_good_one_still_counts() -> None:
    found = accs(
        StoreProbe("default", page=page(750, 100)),
        StoreProbe("nope", error=classified(400, NO_STORE, "nope")),
    )
    assert by_name(found)["store nope"].status == "fail"
    assert by_name(found)["store nope"].category == "config"
    assert "SYNC_STORE_CODES" in by_name(found)["store nope"].detail
    assert "?" not in by_name(found)["store nope"].detail  # Magento's words, not the URL
    assert by_name(found)["total_count default"].detail == "750 products"
    assert "page size nope" not in by_name(found)
    assert verdict(found) == 2


def test_unreachable_acss_is_one_service_failure_and_the_stores_are_skipped() -> None:
    error = RetriableApiError("network error talking to x: ConnectionError")
    found = accs(StoreProbe("default", error=error), StoreProbe("fr", error=error))
    assert statuses(found) == {
        "endpoint": "fail",
        "org id": "skip",
        "store default": "skip",
        "store fr": "skip",
    }
    assert by_name(found)["endpoint"].detail == error.message
    assert verdict(found) == 1


def test_a_refused_org_id_is_reported_once_as_configuration() -> None:
    error = PermissionDenied("ACCS denied access (403: ...). Check IMS_ORG_ID", status=403)
    found = accs(StoreProbe("default", error=error), StoreProbe("fr", error=error))
    assert statuses(found) == {
        "endpoint": "ok",
        "org id": "fail",
        "store default": "skip",
        "store fr": "skip",
    }
    assert verdict(found) == 2


def test_a_wrong_tenant_path_is_an_endpoint_configuration_failure() -> None:
    error = classified(404, "Request does not match any route.")
    found = accs(StoreProbe("default", error=error))
    assert by_name(found)["endpoint"].status == "fail"
    assert "API_ENDPOINT" in by_name(found)["endpoint"].detail
    assert verdict(found) == 2


def test_a_store_failing_on_its_own_is_its_own_line() -> None:
    found = accs(
        StoreProbe("default", page=page(750, 100)),
        StoreProbe("fr", error=RetriableApiError("ACCS server error 503: x", status=503)),
        StoreProbe("de", error=AuthError("ACCS refused the access token twice", status=401)),
    )
    assert (by_name(found)["store fr"].status, by_name(found)["store fr"].category) == (
        "fail",
        "service",
    )
    assert by_name(found)["store de"].category == "config"
    assert by_name(found)["endpoint"].status == "ok"


def test_page_size_caps_are_warnings() -> None:
    found = accs(
        StoreProbe("default", page=page(750, 50), cap=50),
        StoreProbe("fr", page=page(750, 20)),  # shortened without a word
        StoreProbe("de", page=page(7, 7)),  # a small store: a short page is all there is
    )
    capped = by_name(found)["page size default"]
    assert capped.status == "warn" and "runs will use 50 automatically" in capped.detail
    assert by_name(found)["page size fr"].status == "warn"
    assert by_name(found)["page size de"].status == "ok"
    assert verdict(found) == 0


def test_a_page_size_error_that_cannot_be_adapted_to_fails_the_store() -> None:
    error = PageSizeLimited("ACCS: Maximum SearchCriteria pageSize is 300", limit=300)
    found = accs(StoreProbe("default", page=page(1, 1)), StoreProbe("fr", error=error))
    assert by_name(found)["store fr"].status == "fail"


@responses.activate
def test_after_a_network_error_the_other_stores_are_not_asked() -> None:
    responses.get(f"{API}/V1/products", body=requests.ConnectionError("refused"))
    clock = FakeClock()
    client = ProductsClient(requests.Session(), API, RetryPolicy(max_attempts=2, clock=clock))
    probes = probe_stores(client, ["default", "fr", "de"], 100)
    assert [p.store_code for p in probes] == ["default", "fr", "de"]
    assert len(responses.calls) == 2  # the first store's two attempts, nothing more
    assert statuses(accs(*probes))["endpoint"] == "fail"


# -- local checks ----------------------------------------------------------------------------


def test_token_cache_permissions(tmp_path: Path) -> None:
    directory = tmp_path / "accs-sync"
    directory.mkdir(mode=0o700)
    path = directory / "tokens.json"
    assert token_cache_finding(path).status == "ok"  # not created yet
    path.write_text("{}")
    path.chmod(0o600)
    assert token_cache_finding(path).status == "ok"
    path.chmod(0o644)
    directory.chmod(0o755)
    found = token_cache_finding(path)
    assert found.status == "warn" and verdict([found]) == 0
    assert f"chmod 600 {path}" in found.detail and f"chmod 700 {directory}" in found.detail
    memory = token_cache_finding(None)
    assert memory.status == "ok" and "in memory only" in memory.detail


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    file = tmp_path / "sub" / "mirror.db"
    found = database_findings(f"sqlite:///{file}", connect_timeout=1)
    assert statuses(found) == {"database": "ok", "schema": "warn"}
    assert "run accs-sync migrate" in by_name(found)["schema"].detail
    assert not file.parent.exists()


def test_a_bad_database_url_is_configuration() -> None:
    found = database_findings("oracle://x/y", connect_timeout=1)
    assert by_name(found)["database"].status == "fail"
    assert by_name(found)["database"].category == "config"
    assert verdict(found) == 2


def test_the_token_cache_finding_says_whether_it_is_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "tokens.json"
    plain = token_cache_finding(path)
    assert plain.status == "ok" and "not encrypted" in plain.detail
    assert "SYNC_TOKEN_CACHE_KEY" in plain.detail
    sealed = token_cache_finding(
        path, key=parse_key(new_key(), "SYNC_TOKEN_CACHE_KEY_FILE (/run/k)")
    )
    assert sealed.status == "ok"
    assert "encrypted with the key of SYNC_TOKEN_CACHE_KEY_FILE (/run/k)" in sealed.detail
    # A user login keeps a refresh token, which is never stored without a key.
    login = token_cache_finding(path, login=True)
    assert login.status == "warn" and login.category == "config"
    assert "accs-sync token key" in login.detail
    assert token_cache_finding(path, key=parse_key(new_key(), "k"), login=True).status == "ok"


def test_the_token_cache_finding_says_when_the_key_cannot_open_it(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "tokens.json"
    written = parse_key(new_key(), "SYNC_TOKEN_CACHE_KEY")
    FileTokenStore(path, key=written).save("k", StoredToken(access_token="eyJ-x"))
    assert token_cache_finding(path, key=written).status == "ok"
    other = parse_key(new_key(), "SYNC_TOKEN_CACHE_KEY")
    found = token_cache_finding(path, key=other)
    assert found.status == "warn" and "another key" in found.detail
    assert "the next run replaces it" in found.detail
    keyless = token_cache_finding(path)
    assert keyless.status == "warn" and "SYNC_TOKEN_CACHE_KEY" in keyless.detail

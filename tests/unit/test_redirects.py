"""Credentials never follow a redirect (issue 14): every IMS and ACCS request refuses 3xx, and
the 401 re-send happens only for the configured ACCS origin. Real loopback servers: two ports
are two hosts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses

from sync.api.auth import BearerAuth, origin_of
from sync.api.criteria import SearchCriteria
from sync.api.retry import RetryPolicy
from sync.app import build_app, build_ims_session, build_token_provider
from sync.clock import FakeClock
from sync.errors import RedirectRefused
from sync.redact import SecretFilter
from sync.settings import Settings, load_settings
from tests.local_http import LocalServer, Reply, Seen, json_reply, no_settings_env, redirect

SECRET = "p8e-Redirect-Secret-Value-42"
TOKEN_PATH = "/ims/token/v3"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_settings_env(monkeypatch, tmp_path)


def settings_for(tmp_path: Path, **changes: str) -> Settings:
    values = {
        "ims_client_id": "client-abc",
        "ims_client_secret": SECRET,
        "ims_org_id": "ORG123@AdobeOrg",
        "api_endpoint": "https://na1.api.commerce.adobe.com/TENANT",
        "database_url": f"sqlite:///{tmp_path / 'mirror.db'}",
        "sync_token_cache": "none",
        "sync_max_attempts": "3",
        **changes,
    }
    return load_settings(**values)


def token(seen: Seen) -> Reply:
    return json_reply(200, {"access_token": f"tok-{os.urandom(4).hex()}", "expires_in": 86399})


def unauthorized(seen: Seen) -> Reply:
    return json_reply(401, {"message": "The consumer isn't authorized to access %1."})


def retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=3, clock=FakeClock())


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirected_token_request_never_posts_the_secret_elsewhere(
    tmp_path: Path, status: int
) -> None:
    with (
        LocalServer(token) as elsewhere,
        LocalServer(redirect(status, elsewhere.url + TOKEN_PATH)) as ims,
    ):
        settings = settings_for(tmp_path, ims_token_url=ims.url + TOKEN_PATH)
        with build_ims_session(settings) as session:
            provider = build_token_provider(settings, session, FakeClock(), SecretFilter())
            with pytest.raises(RedirectRefused) as info:
                retry().call(provider.get_token)
        assert elsewhere.requests == []  # nothing, let alone the form with client_secret
        assert len(ims.requests) == 1  # and no retry of a redirect
    error = info.value
    assert error.exit_code == 2
    assert "IMS_TOKEN_URL" in error.message
    assert f"127.0.0.1:{elsewhere.port}" in error.message
    assert SECRET not in error.message


@responses.activate
def test_an_https_token_url_redirected_to_plain_http_is_refused(tmp_path: Path) -> None:
    url = "https://ims-na1.adobelogin.com/ims/token/v3"
    responses.post(url, status=308, headers={"Location": "http://evil.example:8080/steal?x=1"})
    stolen = responses.post("http://evil.example:8080/steal", json={"access_token": "t"})
    settings = settings_for(tmp_path, ims_token_url=url)
    with build_ims_session(settings) as session:
        provider = build_token_provider(settings, session, FakeClock(), SecretFilter())
        with pytest.raises(RedirectRefused, match=r"IMS_TOKEN_URL.*evil\.example:8080"):
            retry().call(provider.get_token)
    assert stolen.call_count == 0
    assert len(responses.calls) == 1


@pytest.fixture
def token_server() -> Iterator[LocalServer]:
    with LocalServer(token) as server:
        yield server


def test_an_accs_redirect_to_a_host_answering_401_gets_no_token_and_no_headers(
    tmp_path: Path, token_server: LocalServer
) -> None:
    with (
        LocalServer(unauthorized) as elsewhere,
        LocalServer(
            redirect(302, elsewhere.url + "/V1/products?searchCriteria[pageSize]=1")
        ) as accs,
    ):
        settings = settings_for(
            tmp_path, api_endpoint=accs.url + "/TENANT", ims_token_url=token_server.url + TOKEN_PATH
        )
        with build_app(settings) as app:
            with pytest.raises(RedirectRefused) as info:
                app.client.search(SearchCriteria(page_size=1), "default")
        assert elsewhere.requests == []
        assert len(accs.requests) == 1  # not retried
    assert len(token_server.requests) == 1  # the token for the configured host only
    error = info.value
    assert error.exit_code == 2
    assert "API_ENDPOINT" in error.message and f"127.0.0.1:{elsewhere.port}" in error.message


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_every_redirect_status_is_refused_before_anything_is_sent_on(
    tmp_path: Path, token_server: LocalServer, status: int
) -> None:
    with (
        LocalServer(unauthorized) as elsewhere,
        LocalServer(redirect(status, elsewhere.url + "/V1/products")) as accs,
    ):
        settings = settings_for(
            tmp_path, api_endpoint=accs.url + "/TENANT", ims_token_url=token_server.url + TOKEN_PATH
        )
        with build_app(settings) as app, pytest.raises(RedirectRefused):
            app.client.search(SearchCriteria(page_size=1), "default")
        assert elsewhere.requests == []


def get_with_bearer(
    tmp_path: Path, accs: LocalServer, token_server: LocalServer, base: str
) -> requests.Response:
    """GET ``<base>/TENANT/V1/products`` through a BearerAuth for ``accs``'s origin."""
    settings = settings_for(
        tmp_path, api_endpoint=accs.url + "/TENANT", ims_token_url=token_server.url + TOKEN_PATH
    )
    with build_ims_session(settings) as ims_session, requests.Session() as session:
        provider = build_token_provider(settings, ims_session, FakeClock(), SecretFilter())
        session.auth = BearerAuth(provider, origin=settings.api_endpoint)
        return session.get(base + "/TENANT/V1/products")


def test_a_401_from_another_origin_is_returned_untouched_without_a_token(
    tmp_path: Path, token_server: LocalServer
) -> None:
    """Only the configured ACCS origin (scheme, host and port) gets a token, or a re-send."""
    with LocalServer(unauthorized) as elsewhere, LocalServer(unauthorized) as accs:
        answer = get_with_bearer(tmp_path, accs, token_server, elsewhere.url)
        assert answer.status_code == 401
        assert [s for s in elsewhere.requests if "authorization" in s.headers] == []
        assert len(elsewhere.requests) == 1  # no re-send
    assert token_server.requests == []  # no token minted for it


def test_the_configured_origin_still_gets_its_one_401_re_send(
    tmp_path: Path, token_server: LocalServer
) -> None:
    with LocalServer(unauthorized) as accs:
        answer = get_with_bearer(tmp_path, accs, token_server, accs.url)
        assert answer.status_code == 401
        sent = [s.headers.get("authorization", "") for s in accs.requests]
        assert len(sent) == 2 and all(v.startswith("Bearer tok-") for v in sent)
        assert sent[0] != sent[1]
    assert len(token_server.requests) == 2


def test_a_redirect_answering_the_401_re_send_is_refused_too(
    tmp_path: Path, token_server: LocalServer
) -> None:
    with LocalServer(unauthorized) as elsewhere:
        answers = iter([unauthorized, redirect(307, elsewhere.url + "/V1/products")])
        with LocalServer(lambda seen: next(answers)(seen)) as accs:
            settings = settings_for(
                tmp_path,
                api_endpoint=accs.url + "/TENANT",
                ims_token_url=token_server.url + TOKEN_PATH,
            )
            with build_app(settings) as app, pytest.raises(RedirectRefused, match="API_ENDPOINT"):
                app.client.search(SearchCriteria(page_size=1), "default")
            assert len(accs.requests) == 2  # the request and its one re-send
        assert elsewhere.requests == []


def test_an_origin_is_scheme_host_and_port_with_default_ports_spelled_out() -> None:
    configured = origin_of("https://NA1.api.commerce.adobe.com/TENANT")
    assert origin_of("https://na1.api.commerce.adobe.com:443/TENANT/V1/products") == configured
    for other in (
        "http://na1.api.commerce.adobe.com/TENANT",
        "https://na1.api.commerce.adobe.com:8443/TENANT",
        "https://na1.api.commerce.adobe.com.evil.example/TENANT",
    ):
        assert origin_of(other) != configured

"""``accs_sync_token_mint_failures_total``: every failed attempt to obtain a token from IMS
(a rejected secret, IMS down), so an alert sees a credential problem before the runs fail."""

from __future__ import annotations

import pytest
import requests
import responses
from prometheus_client import generate_latest
from pydantic import SecretStr

from sync.api.auth import AuthAudit, ImsClientCredentials
from sync.clock import FakeClock
from sync.errors import AccsSyncError
from sync.metrics import Metrics
from sync.settings import DEFAULT_SCOPES

TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"


def value(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name)


@responses.activate
@pytest.mark.parametrize(
    ("status", "body"),
    [(400, {"error": "invalid_client"}), (503, {"error": "server_error"})],
)
def test_a_failed_mint_is_counted_and_a_good_one_is_not(status: int, body: dict[str, str]) -> None:
    metrics = Metrics()
    assert value(metrics, "accs_sync_token_mint_failures_total") == 0.0  # exists from the start
    provider = ImsClientCredentials(
        session=requests.Session(),
        token_url=TOKEN_URL,
        client_id="client-abc",
        client_secret=SecretStr("p8e-secret"),
        scopes=DEFAULT_SCOPES.split(","),
        clock=FakeClock(),
        audit=AuthAudit(on_count=metrics.auth),
    )
    responses.post(TOKEN_URL, status=status, json=body)
    with pytest.raises(AccsSyncError):
        provider.get_token()
    assert value(metrics, "accs_sync_token_mint_failures_total") == 1.0
    responses.replace(
        responses.POST, TOKEN_URL, json={"access_token": "eyJ-token", "expires_in": 86399}
    )
    assert provider.get_token() == "eyJ-token"
    assert value(metrics, "accs_sync_token_mint_failures_total") == 1.0
    assert value(metrics, "accs_sync_token_mints_total") == 1.0
    assert b"p8e-secret" not in generate_latest(metrics.registry)

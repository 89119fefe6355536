"""``accs-sync check`` fails exactly the setups that will fail: it proves the client secret by
minting (a cached token says nothing about the secret) without touching the token cache other
processes share, and a DNS typo or a redirecting IMS is configuration naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.emulator import EmulatorServer
from tests.integration.test_check import check_json
from tests.local_http import LocalServer, redirect

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


@pytest.fixture
def cache(
    sync_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Path:
    """A token cache holding a valid token, from a first check with the right secret."""
    path = tmp_path / "tokens.json"
    monkeypatch.setenv("SYNC_TOKEN_CACHE", str(path))
    code, found, _ = check_json(capsys)
    assert code == 0, found
    return path


def test_a_wrong_secret_fails_even_with_a_valid_cached_token_and_the_cache_is_untouched(
    cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (cache.read_bytes(), cache.stat().st_mtime_ns)

    monkeypatch.setenv("IMS_CLIENT_SECRET", "p8e-ROTATED-away-secret")
    code, found, _ = check_json(capsys)
    assert code == 2
    assert found["token"]["status"] == "ok"  # the cached token still works ...
    assert found["token"]["detail"].startswith("from the cache ")
    credentials = found["credentials"]  # ... but the next mint will not
    assert credentials["status"] == "fail" and credentials["category"] == "config"
    assert "IMS_CLIENT_SECRET" in credentials["detail"]
    assert found["store default"]["status"] == "ok"  # the other checks still ran
    assert (cache.read_bytes(), cache.stat().st_mtime_ns) == before


def test_a_good_secret_with_a_cached_token_is_proven_by_a_mint(
    cache: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = cache.read_bytes()
    code, found, _ = check_json(capsys)
    assert code == 0
    assert "IMS accepted" in found["credentials"]["detail"]
    assert emulator.stats.tokens_by_grant["client_credentials"] == 2
    assert cache.read_bytes() == before  # the proof token is not cached


@pytest.mark.parametrize(
    ("setting", "url", "finding"),
    [
        ("API_ENDPOINT", "https://accs-sync-typo.invalid/demo-tenant", "endpoint"),
        ("IMS_TOKEN_URL", "https://ims-typo.invalid/ims/token/v3", "token"),
    ],
)
def test_a_dns_typo_is_configuration_naming_the_setting(
    sync_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    url: str,
    finding: str,
) -> None:
    monkeypatch.setenv(setting, url)
    code, found, _ = check_json(capsys)
    assert code == 2
    failed = found[finding]
    assert failed["status"] == "fail" and failed["category"] == "config"
    assert setting in failed["detail"] and "not found" in failed["detail"]


def test_a_redirecting_ims_is_configuration(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with LocalServer(redirect(302, f"{emulator.base_url}/ims/token/v3")) as moved:
        monkeypatch.setenv("IMS_TOKEN_URL", f"{moved.url}/ims/token/v3")
        code, found, _ = check_json(capsys)
    assert code == 2
    assert found["token"]["status"] == "fail" and found["token"]["category"] == "config"
    assert "IMS_TOKEN_URL" in found["token"]["detail"]

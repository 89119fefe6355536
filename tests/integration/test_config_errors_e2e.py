"""Configuration mistakes inside a run are configuration: exit 2 and one short line naming
the setting to fix, never ACCS's raw answer with a long URL. An unknown store view code skips
that store view only: the others, and the other resources, are still mirrored (``partial``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.schema import products
from sync.emulator import Catalog, EmulatorServer
from tests.integration.test_acl_refusal import error_lines
from tests.integration.test_check import closed_port
from tests.integration.test_resources_e2e import (
    last_run_status,
    mirrored_categories,
    mirrored_stock,
    rows,
    upstream_categories,
    upstream_stock,
)

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """Two store views, default and fr."""
    with EmulatorServer(Catalog.generate(120, seed=3, stores=("default", "fr"))) as server:
        yield server


@pytest.fixture
def env(
    sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> dict[str, str]:
    monkeypatch.delenv("SYNC_RESOURCES", raising=False)  # every resource
    monkeypatch.setenv("SYNC_MAX_ATTEMPTS", "2")
    return sync_env


def mirrored_products(db_url: str, store: str) -> int:
    query = sa.select(sa.func.count()).select_from(products).where(products.c.store_code == store)
    return int(rows(db_url, query)[0][0])


def test_an_unknown_store_code_is_skipped_and_the_good_ones_mirrored(
    env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SYNC_STORE_CODES", "nosuch,default,fr")
    assert main(["sync", "--quiet"]) == 2
    [line] = error_lines(capsys)
    assert "SYNC_STORE_CODES" in line and "'nosuch'" in line
    assert "http" not in line and len(line) < 250
    assert last_run_status(db_url) == "partial"
    assert mirrored_products(db_url, "default") == 120
    assert mirrored_products(db_url, "fr") == 120
    for store in ("default", "fr"):
        assert mirrored_categories(db_url, store) == upstream_categories(emulator, store)
    assert mirrored_stock(db_url) == upstream_stock(emulator)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("API_ENDPOINT", "{base}/not-my-tenant"), ("IMS_ORG_ID", "0000000000000000@AdobeOrg")],
)
def test_a_wrong_tenant_or_org_exits_2_naming_the_setting(
    env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    value: str,
) -> None:
    monkeypatch.setenv(setting, value.format(base=emulator.base_url))
    assert main(["sync", "--quiet"]) == 2
    [line] = error_lines(capsys)  # one line, not one per resource
    assert setting in line and len(line) < 250
    assert "searchCriteria" not in line
    assert mirrored_products(db_url, "default") == 0


def test_a_scope_ims_refuses_exits_2_naming_ims_scopes(
    env: dict[str, str],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scopes = env["IMS_SCOPES"] if "IMS_SCOPES" in env else "openid,AdobeID"
    monkeypatch.setenv("IMS_SCOPES", f"{scopes},no.such.scope")
    assert main(["sync", "--quiet"]) == 2
    [line] = error_lines(capsys)
    assert "IMS_SCOPES" in line and "no.such.scope" in line


def test_a_refused_api_endpoint_says_so_and_names_the_setting(
    env: dict[str, str],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("API_ENDPOINT", f"http://127.0.0.1:{closed_port()}/demo-tenant")
    assert main(["sync", "--quiet"]) == 1  # it may be an outage: Kubernetes retries it
    [line] = error_lines(capsys)
    assert "connection refused" in line and "API_ENDPOINT" in line
    assert "searchCriteria" not in line and len(line) < 400

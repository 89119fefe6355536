"""A resource the credential may not read, refused the way Magento refuses it (401 with "The
consumer isn't authorized to access %resources."), or missing on this instance (404), leaves
the others mirrored: one line naming the resource, the run ``partial``, exit 1; ``check``
reports it per resource. (A refused source_items run: test_resources_e2e.)"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.schema import products
from sync.emulator import EmulatorServer
from tests.integration.test_resources_e2e import (
    last_run_status,
    mirrored_categories,
    mirrored_stock,
    rows,
    sync,
    upstream_categories,
    upstream_stock,
)

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


@pytest.fixture
def env(sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every resource (the default SYNC_RESOURCES)."""
    monkeypatch.delenv("SYNC_RESOURCES", raising=False)
    return sync_env


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    err = capsys.readouterr().err
    return [line for line in err.splitlines() if line.startswith("accs-sync: error:")]


def test_a_401_refusal_of_products_names_the_products_acl(
    env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.faults.forbidden = {"products"}
    assert sync() == 1
    [line] = error_lines(capsys)
    assert line.startswith("accs-sync: error: products: ACCS refused access (401)")
    assert "Magento_Catalog::products" in line
    assert last_run_status(db_url) == "partial"
    assert mirrored_categories(db_url) == upstream_categories(emulator)
    assert mirrored_stock(db_url) == upstream_stock(emulator)


def check(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, str]]]:
    code = main(["check", "--json"])
    document = json.loads(capsys.readouterr().out)
    return code, {f["name"]: f for f in document["findings"]}


def test_check_reports_an_acl_refusal_per_resource(
    env: dict[str, str],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["migrate"]) == 0
    capsys.readouterr()
    emulator.faults.forbidden = {"source_items"}
    code, found = check(capsys)
    assert code == 2
    assert found["resource categories"]["status"] == "ok"
    refused = found["resource source_items"]
    assert refused["status"] == "fail" and refused["category"] == "config"
    assert "Magento_InventoryApi::source" in refused["detail"]
    assert "SYNC_RESOURCES" in refused["detail"]
    assert found["credentials"]["status"] == "ok" and found["store default"]["status"] == "ok"
    # Products refused: the store probe names the ACL; the org id is not blamed.
    emulator.faults.forbidden = {"products"}
    code, found = check(capsys)
    assert code == 2
    assert found["org id"]["status"] == "ok"
    assert found["store default"]["status"] == "fail"
    assert "Magento_Catalog::products" in found["store default"]["detail"]
    assert found["resource source_items"]["status"] == "ok"
    # Left out of SYNC_RESOURCES: not asked.
    monkeypatch.setenv("SYNC_RESOURCES", "products,categories")
    emulator.faults.forbidden = {"source_items"}
    code, found = check(capsys)
    assert code == 0 and "resource source_items" not in found


def test_a_resource_missing_on_this_instance_is_skipped_like_a_refusal(
    env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.faults.missing = {"source_items"}  # an instance without the inventory API
    assert sync() == 1
    assert error_lines(capsys) == [
        "accs-sync: error: source_items: ACCS has no /V1/inventory/source-items on this "
        "instance (404); leave source_items out of SYNC_RESOURCES"
    ]
    assert last_run_status(db_url) == "partial"
    assert len(rows(db_url, sa.select(products.c.id))) == 750
    assert mirrored_categories(db_url) == upstream_categories(emulator)
    code, found = check(capsys)
    assert code == 2
    missing = found["resource source_items"]
    assert missing["status"] == "fail" and "404" in missing["detail"]
    assert "SYNC_RESOURCES" in missing["detail"]


def test_products_missing_is_a_fatal_error_naming_api_endpoint(
    env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.faults.missing = {"products"}  # e.g. a wrong tenant id in API_ENDPOINT
    assert sync() == 2  # configuration (issue 17): was 1
    [line] = error_lines(capsys)
    assert "404" in line and "API_ENDPOINT" in line
    assert last_run_status(db_url) == "failed"

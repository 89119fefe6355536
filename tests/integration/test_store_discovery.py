"""``SYNC_STORE_CODES=all`` against the emulator, into each supported database: each run mirrors
the store views ACCS lists when it starts; a new one is picked up by the next run, a removed
one is reported and its rows stay in the mirror untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.engine import make_engine
from sync.emulator import EmulatorServer
from tests.integration.mirror import runs

RESOURCES = "products,categories"


def rows_per_store(db_url: str) -> dict[str, tuple[int, int]]:
    """``{store_code: (products, of which deleted)}`` in the mirror."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text(
                    "SELECT store_code, COUNT(*), COUNT(deleted_at) FROM products "
                    "GROUP BY store_code"
                )
            ).all()
    finally:
        engine.dispose()
    return {code: (int(total), int(deleted)) for code, total, deleted in found}


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["sync", "--json", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_all_mirrors_every_listed_store_view_and_follows_changes_run_to_run(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SYNC_STORE_CODES", "all")
    monkeypatch.setenv("SYNC_RESOURCES", RESOURCES)
    catalog = emulator.catalog
    catalog.add_store_view("fr")
    catalog.add_store_view("es", is_active=False)  # listed, inactive: not mirrored

    code, first = run_json(capsys)
    assert code == 0, first
    assert [s["store_code"] for s in first["stores"]] == ["default", "fr"]
    assert rows_per_store(db_url) == {"default": (750, 0), "fr": (750, 0)}
    assert runs(db_url)[-1]["store_codes"] == "default,fr"
    asked = [r for r in emulator.stats.recent if r.kind == "store_views"]
    assert len(asked) == 1

    # A store view added between runs is mirrored by the next run (from scratch: a full pass).
    catalog.add_store_view("de")
    code, second = run_json(capsys)
    assert code == 0, second
    assert [s["store_code"] for s in second["stores"]] == ["default", "fr", "de"]
    assert {s["store_code"]: s["mode"] for s in second["stores"]}["de"] == "full"
    assert rows_per_store(db_url)["de"] == (750, 0)
    assert runs(db_url)[-1]["store_codes"] == "default,fr,de"
    assert second["stores_removed"] == []

    # A removed store view is reported, never tombstoned: its rows stay as they were.
    catalog.remove_store_view("fr")
    caplog.clear()
    code, third = run_json(capsys)
    assert code == 0, third
    assert [s["store_code"] for s in third["stores"]] == ["default", "de"]
    assert third["stores_removed"] == ["fr"]
    assert runs(db_url)[-1]["store_codes"] == "default,de"
    assert rows_per_store(db_url) == {"default": (750, 0), "fr": (750, 0), "de": (750, 0)}
    assert any(
        r.levelname == "WARNING" and "store view fr" in r.getMessage() for r in caplog.records
    )
    # ... and said in the summary people read.
    assert main(["sync"]) == 0
    assert "store fr: no longer listed by ACCS; its mirrored rows are kept" in (
        capsys.readouterr().out
    )
    # status shows the store views the last run resolved.
    assert main(["status"]) == 0
    assert "store views of the last run: default, de\n" in capsys.readouterr().out
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["store_codes"] == ["default", "de"]


@pytest.mark.parametrize("status", [401, 403])
def test_all_without_the_store_acl_fails_naming_it(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    monkeypatch.setenv("SYNC_STORE_CODES", "all")
    emulator.faults.forbidden = {"store_views"}
    emulator.faults.forbidden_status = status
    assert main(["sync"]) == 1
    err = capsys.readouterr().err
    assert "Magento_Backend::store" in err and "SYNC_STORE_CODES" in err
    assert emulator.stats.list_requests() == []  # no product was asked for
    [run] = runs(db_url)
    assert run["status"] == "failed" and run["store_codes"] == "all"
    assert "Magento_Backend::store" in run["error"]

"""``accs-sync status --json``: the same report as the text, as one JSON document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.cli import main
from sync.db.engine import redacted_url
from sync.db.migrate import head_revision


def test_status_json_carries_runs_counts_and_state(
    sync_env: dict[str, str], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync"]) == 0
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 0 and document["healthy"] is True
    assert document["schema"] == {
        "present": True,
        "revision": head_revision(),
        "head": head_revision(),
    }
    assert document["counts"] == [{"store_code": "default", "live": 750, "deleted": 0}]
    resources = document["resources"]
    [categories] = resources["categories"]
    [stock] = resources["source_items"]
    assert categories["store_code"] == "default" and categories["live"] > 0
    assert stock["store_code"] == "*" and stock["live"] > 750 and stock["deleted"] == 0
    [watermark] = [e for e in document["state"] if e["key"] == "watermark"]
    assert watermark["store_code"] == "default" and watermark["updated_at"].endswith("Z")
    assert set(watermark["value"]) == {"updated_at", "id"}
    [run] = document["runs"]
    assert run["kind"] == "sync"
    assert run["status"] == "success" and run["products_written"] == 750
    assert run["store_codes"] == ["default"] and run["token_mints"] == 1
    assert run["started_at"].endswith("Z") and run["finished_at"].endswith("Z")
    assert document["database"] == redacted_url(db_url)

    # The text is the same report.
    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert f"schema revision: {head_revision()}" in text
    assert f"#{run['id']:<5} {run['kind']:<9} success" in text
    assert f"  *{stock['live']:>25} live" in text.split("source items:")[1]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.empty_database
def test_status_json_on_an_empty_database(
    sync_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty file: status opens SQLite read-only and never creates a missing one.
    Path(sync_env["DATABASE_URL"].removeprefix("sqlite:///")).touch()
    assert main(["status", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["schema"]["present"] is False and document["healthy"] is False
    assert document["runs"] == [] and document["counts"] == [] and document["exit_code"] == 1

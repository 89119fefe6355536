"""A Magento error message with a newline and terminal escapes reaches neither the terminal,
the log records nor ``sync_runs.error`` raw."""

from __future__ import annotations

import logging

import pytest

from sync.cli import main
from sync.emulator import EmulatorServer, RequestRecord
from sync.emulator.criteria import MagentoError
from tests.integration.mirror import runs

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

FORGED = "bad\n2026-12-05 06:00:00,000 ERROR sync.pipeline: forged \x1b[31mred\x1b[0m"


def raw_controls(text: str) -> list[str]:
    return [ch for ch in text if ch in "\n\r\x1b" or ord(ch) < 32]


def test_a_forged_server_message_is_escaped_everywhere(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(record: RequestRecord) -> None:
        raise MagentoError(400, {"message": FORGED})

    emulator.faults.on_request.append(refuse)
    caplog.set_level(logging.DEBUG)
    assert main(["sync", "--resource", "products"]) == 1
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if line.startswith("accs-sync: error:")]
    assert "forged \\x1b[31mred" in line and "bad\\n2026" in line
    assert "\x1b" not in err and "ERROR sync.pipeline: forged" not in err.replace(line, "")
    for record in caplog.records:
        assert raw_controls(record.getMessage()) == [], record.getMessage()
    error = runs(db_url)[-1]["error"]
    assert "forged" in error and raw_controls(error) == []


def test_a_rejected_source_items_key_is_logged_escaped(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A resource's rejected item is named by its key, which comes from the wire: a source code
    with a line break must not forge a log line."""
    emulator.catalog.create("evil\n2026 ERROR forged", price=1)
    emulator.catalog.set_source_item("evil\n2026 ERROR forged", "eu_warehouse", float("nan"))
    caplog.set_level(logging.INFO)
    assert main(["sync", "--resource", "source_items"]) == 0
    named = [r.getMessage() for r in caplog.records if "rejected item" in r.getMessage()]
    assert named and all(raw_controls(message) == [] for message in named), named
    assert any("evil\\n2026" in message for message in named)

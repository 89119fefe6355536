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

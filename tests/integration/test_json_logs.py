"""JSON logs as a log collector gets them: a real ``accs-sync sync`` at DEBUG, through retries
and a token refresh, writes only JSON lines, with the run's context and no credential."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.emulator import EmulatorServer
from sync.emulator.faults import RequestRecord
from tests.integration.processes import clean_env, run_cli

REQUIRED = ("time", "level", "logger", "message", "thread")
CONTEXT = ("run_id", "kind", "store", "page")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def parse(stderr: str) -> list[dict[str, Any]]:
    lines = []
    for text in stderr.splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            pytest.fail(f"not a JSON line on stderr: {text!r}")
        assert isinstance(line, dict), text
        for name in REQUIRED:
            assert isinstance(line.get(name), str), (name, text)
        assert ISO_UTC.match(line["time"]), text
        assert line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), text
        lines.append(line)
    return lines


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_line_of_a_debug_run_with_retries_and_a_refresh_is_json_without_secrets(
    emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    env = clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_PAGE_SIZE="100",
        SYNC_CONCURRENCY="2",
        SYNC_LOG_LEVEL="DEBUG",
        SYNC_LOG_FORMAT="json",
    )
    faults = emulator.faults
    faults.error_5xx_next = 2  # two 503s ...
    faults.disconnect_next = 1  # ... and a connection closed without an answer: retries
    seen = {"n": 0}

    def revoke_mid_pass(record: RequestRecord) -> None:
        seen["n"] += 1
        if seen["n"] == 5:  # the token dies mid-pass: a 401, a new token, the request re-sent
            emulator.revoke_all_tokens()

    faults.on_request.append(revoke_mid_pass)
    full = run_cli(["sync"], env, tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    assert emulator.stats.unauthorized >= 1 and emulator.stats.tokens_issued >= 2

    # A second run is incremental: with SYNC_CONCURRENCY > 1 it reads the next page ahead on
    # another thread, which must log in the run's context too.
    faults.on_request.clear()
    faults.error_5xx_next = 1
    emulator.catalog.touch_many([item["sku"] for item in emulator.catalog.items()][:250])
    incremental = run_cli(["sync"], env, tmp_path)
    assert incremental.returncode == 0, incremental.stderr[-3000:]
    assert "incremental" in incremental.stdout

    lines = parse(full.stderr) + parse(incremental.stderr)
    assert len(lines) > 50  # DEBUG: every request, every page

    # Credentials: the client secret and every token the emulator issued, in no field.
    credentials = [emulator.credentials["IMS_CLIENT_SECRET"], *emulator.app.tokens.issued()]
    assert len(credentials) >= 3
    texts = [text for line in lines for text in strings(line)]
    for value in credentials:
        assert not [text for text in texts if value in text]
        assert value not in full.stdout + full.stderr + incremental.stdout + incremental.stderr
    assert not [text for text in texts if re.search(r"(?i)bearer\s+(?!\*\*\*)", text)]

    # The run's context: full lines on pages written, run/kind/store on the workers' lines.
    # (The IMS token is asked for at start-up, while the database is checked: before any run
    # exists, so its thread's lines carry no run.)
    assert [line for line in lines if all(name in line for name in CONTEXT)]
    kinds = {line["kind"] for line in lines if "kind" in line}
    assert kinds == {"sync"}
    for line in lines:
        if line["thread"] not in ("MainThread", "accs-sync-token"):
            assert all(name in line for name in ("run_id", "kind", "store")), line
    threads = {line["thread"] for line in lines}
    assert any(t.startswith("accs-sync-default-") for t in threads)  # full pass workers
    assert "accs-sync-default-ahead-0" in threads  # the incremental run's read-ahead

    retries = [
        line
        for line in lines
        if line["logger"] == "sync.api.retry" and "retrying in" in line["message"]
    ]
    assert len(retries) >= 3
    assert all("run_id" in line and line["store"] == "default" for line in retries)
    refresh = [
        line
        for line in lines
        if line["logger"] == "sync.api.auth" and line["message"].startswith("ACCS answered 401")
    ]
    assert refresh and all("run_id" in line for line in refresh)
    assert [line for line in lines if line["message"].startswith("minted an IMS access token")]

"""Log lines: today's text format, JSON lines with the run's context, no secret in any field."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sync.cli import main
from sync.clock import FakeClock
from sync.logcontext import current, log_context
from sync.logs import JsonFormatter, LogFormat, TextFormatter, remove_logging, setup_logging
from sync.pipeline import Pipeline
from sync.redact import SecretFilter
from tests.unit.test_pipeline import ScriptedCatalog, item

SECRET = "p8e-CLIENT-secret-value-123"
TOKEN = "eyJhbGciOi.access-token-value.sig"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

log = logging.getLogger("sync.test_logs")


@pytest.fixture
def secrets() -> SecretFilter:
    found = SecretFilter()
    found.add(SECRET)
    found.add(TOKEN)
    return found


@pytest.fixture
def installed() -> Iterator[None]:
    """Whatever a test's setup_logging changes (root level, library levels) is put back."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("urllib3", "apscheduler", "alembic")}
    root_level = root.level
    try:
        yield
    finally:
        remove_logging()
        root.setLevel(root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in text.splitlines()]


def record(msg: str = "hello %s", *args: Any, **attrs: Any) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {"name": "sync.pipeline", "levelno": 20, "levelname": "INFO", "msg": msg}
    )
    made.args = args or ("world",)
    for name, value in attrs.items():
        setattr(made, name, value)
    return made


# -- text -----------------------------------------------------------------------------------------


def test_text_without_context_is_exactly_the_format_of_before(secrets: SecretFilter) -> None:
    rec = record()
    before = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s").format(rec)
    assert TextFormatter(secrets).format(rec) == before
    assert before.endswith(" INFO sync.pipeline: hello world")


def test_text_with_context_names_the_run_briefly(secrets: SecretFilter) -> None:
    rec = record(run_id=12, kind="sync", store="default", page=3)
    assert (
        TextFormatter(secrets)
        .format(rec)
        .endswith(" INFO sync.pipeline: [run 12 sync default p3] hello world")
    )
    assert (
        TextFormatter(secrets)
        .format(record(run_id=7, kind="reconcile"))
        .endswith(": [run 7 reconcile] hello world")
    )


def test_text_lines_go_to_stderr_as_it_is_when_written(
    installed: None, secrets: SecretFilter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A progress bar swaps sys.stderr for a while; log lines must follow it."""
    setup_logging("INFO", "text", secrets)
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)
    log.info("token is %s", TOKEN)
    assert swapped.getvalue().endswith(" INFO sync.test_logs: token is ***\n")


# -- JSON -----------------------------------------------------------------------------------------


def test_json_line_has_the_required_fields(
    installed: None, secrets: SecretFilter, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("DEBUG", "json", secrets)
    log.debug("page %d of %s", 3, "default")
    [line] = json_lines(capsys.readouterr().err)
    assert list(line)[:4] == ["time", "level", "logger", "message"]
    assert line["level"] == "DEBUG" and line["logger"] == "sync.test_logs"
    assert line["message"] == "page 3 of default"
    assert line["thread"] == threading.current_thread().name
    assert ISO_UTC.match(line["time"])
    stamp = datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert not {"run_id", "kind", "store", "page", "exception"} & set(line)


def test_json_time_is_utc_with_milliseconds(secrets: SecretFilter) -> None:
    rec = record(created=1_767_225_600.25, msecs=250.0)  # 2026-01-01 00:00:00.250 UTC
    assert json.loads(JsonFormatter(secrets).format(rec))["time"] == "2026-01-01T00:00:00.250Z"


def test_json_carries_the_run_context(
    installed: None, secrets: SecretFilter, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("INFO", "json", secrets)
    with log_context(run_id=12, kind="sync"):
        log.info("starting")
        with log_context(store="default"), log_context(page=3):
            log.info("written")
        log.info("done")
    lines = json_lines(capsys.readouterr().err)
    assert [
        {k: v for k, v in line.items() if k in ("run_id", "kind", "store", "page")}
        for line in lines
    ] == [
        {"run_id": 12, "kind": "sync"},
        {"run_id": 12, "kind": "sync", "store": "default", "page": 3},
        {"run_id": 12, "kind": "sync"},
    ]


def test_json_exception_is_the_scrubbed_traceback(
    installed: None, secrets: SecretFilter, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("INFO", "json", secrets)
    try:
        raise RuntimeError(f"IMS said no to {SECRET} with Bearer {TOKEN}")
    except RuntimeError:
        log.exception("run failed")
    [line] = json_lines(capsys.readouterr().err)
    assert line["message"] == "run failed" and line["level"] == "ERROR"
    assert line["exception"].startswith("Traceback (most recent call last)")
    assert "RuntimeError: IMS said no to *** with Bearer ***" in line["exception"]


def test_json_scrubs_every_field(
    installed: None, secrets: SecretFilter, capsys: pytest.CaptureFixture[str]
) -> None:
    """Message, extra fields (keys, nested values, objects), traceback, thread name."""

    class Opaque:
        def __str__(self) -> str:
            return f"<client secret={SECRET}>"

    setup_logging("INFO", "json", secrets)

    def emit() -> None:
        try:
            raise ValueError(TOKEN)
        except ValueError:
            log.warning(
                "minted %s for %s",
                TOKEN,
                SECRET,
                exc_info=True,
                extra={
                    "header": f"Authorization: Bearer {TOKEN}",
                    "nested": {SECRET: [TOKEN, 1, 2.5, None, True]},
                    "opaque": Opaque(),
                },
            )

    thread = threading.Thread(target=emit, name=f"worker-{SECRET}")
    thread.start()
    thread.join(timeout=10)
    text = capsys.readouterr().err
    [line] = json_lines(text)
    assert SECRET not in text and TOKEN not in text
    assert line["message"] == "minted *** for ***"
    assert line["header"] == "Authorization: Bearer ***"
    assert line["nested"] == {"***": ["***", 1, 2.5, None, True]}
    assert line["opaque"] == "<client secret=***>"
    assert line["thread"] == "worker-***"
    assert "ValueError: ***" in line["exception"]


def test_json_scrubs_before_escaping(secrets: SecretFilter) -> None:
    """A secret with a character JSON escapes would survive a search of the encoded text."""
    odd = 'tok/en"with\\escapes-é'
    secrets.add(odd)
    text = JsonFormatter(secrets).format(record("got %s", odd, note=[odd]))
    assert json.loads(text)["message"] == "got ***"
    assert json.loads(text)["note"] == ["***"]


def test_json_turns_what_it_cannot_encode_into_text_and_never_raises(
    secrets: SecretFilter,
) -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    deep: list[Any] = []
    deep.append(deep)  # a cycle
    rec = record(
        "%d pages",  # wrong argument type: getMessage() raises
        "many",
        when=datetime(2026, 1, 1, tzinfo=UTC),
        ratio=float("nan"),
        path=Path("/tmp/x"),
        broken=Broken(),
        cycle=deep,
        raw=b"bytes " + SECRET.encode(),
    )
    line = json.loads(JsonFormatter(secrets).format(rec))
    assert line["message"] == "%d pages (arguments: ('many',))"
    assert line["when"] == "2026-01-01 00:00:00+00:00"
    assert line["ratio"] == "nan"
    assert line["path"] == "/tmp/x"
    assert line["broken"] == "<unprintable Broken>"
    assert isinstance(line["cycle"], list)
    assert SECRET not in line["raw"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_wrong_log_call_neither_raises_nor_shows_a_secret(
    installed: None, secrets: SecretFilter, capsys: pytest.CaptureFixture[str], fmt: LogFormat
) -> None:
    """Logging would raise at the caller (or print the arguments raw from the handler)."""
    before = list(logging.getLogger().handlers)
    setup_logging("INFO", fmt, secrets)
    [handler] = [h for h in logging.getLogger().handlers if h not in before]
    # Straight to our handler: pytest's own capture handler would fail the test first.
    handler.handle(record("%d pages with %s", f"token {TOKEN}"))
    err = capsys.readouterr().err
    assert "Logging error" not in err and TOKEN not in err
    assert "%d pages with %s (arguments: ('token ***',))" in err
    assert len(err.splitlines()) == 1


def test_standard_record_attributes_are_not_repeated_as_fields(secrets: SecretFilter) -> None:
    line = json.loads(JsonFormatter(secrets).format(record(sku="SKU-1", time="clash")))
    assert line["sku"] == "SKU-1" and line["extra_time"] == "clash"
    for standard in ("msg", "args", "levelno", "pathname", "lineno", "created", "processName"):
        assert standard not in line


def test_setup_replaces_its_own_handler_only(installed: None, secrets: SecretFilter) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    setup_logging("INFO", "text", secrets)
    setup_logging("INFO", "json", secrets)
    added = [h for h in root.handlers if h not in before]
    assert len(added) == 1 and isinstance(added[0].formatter, JsonFormatter)
    remove_logging()
    assert root.handlers == before


def test_database_commands_log_in_the_format_asked_for(
    installed: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("SYNC_LOG_FORMAT", raising=False)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["migrate", "--database-url", url, "--log-format", "json"]) == 0
    lines = json_lines(capsys.readouterr().err)
    assert any(line["logger"] == "sync.db.migrate" for line in lines)
    monkeypatch.setenv("SYNC_LOG_FORMAT", "json")
    assert main(["status", "--database-url", url, "--log-level", "DEBUG"]) == 0
    assert json_lines(capsys.readouterr().err)
    # The flag wins over the setting.
    assert (
        main(["status", "--database-url", url, "--log-level", "DEBUG", "--log-format", "text"]) == 0
    )
    assert " DEBUG sync.db.engine: " in capsys.readouterr().err
    monkeypatch.setenv("SYNC_LOG_FORMAT", "xml")
    assert main(["status", "--database-url", url]) == 2
    assert capsys.readouterr().err == "accs-sync: error: SYNC_LOG_FORMAT must be text or json\n"


# -- context -------------------------------------------------------------------------------------


def test_context_is_restored_on_exit_even_after_an_error() -> None:
    assert current() == {}
    with log_context(run_id=1, kind="sync"):
        with pytest.raises(KeyError), log_context(store="fr", page=2):
            assert current() == {"run_id": 1, "kind": "sync", "store": "fr", "page": 2}
            raise KeyError("boom")
        assert current() == {"run_id": 1, "kind": "sync"}
        with log_context(kind="reconcile"):
            assert current()["kind"] == "reconcile"
        assert current() == {"run_id": 1, "kind": "sync"}
    assert current() == {}


class LoggingCatalog(ScriptedCatalog):
    """Logs each fetch from the thread that fetches, as the HTTP client's retries do."""

    def search(self, criteria: Any, store_code: str) -> Any:
        log.info("fetching for %s", store_code)
        return super().search(criteria, store_code)

    def id_bounds(self, store_code: str) -> tuple[int | None, int | None]:
        return 1, len(self.items)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_run_sets_the_context_and_its_worker_threads_carry_it(
    installed: None,
    secrets: SecretFilter,
    engine: Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("DEBUG", "json", secrets)
    catalog = LoggingCatalog([item(n) for n in range(1, 11)])
    pipeline = Pipeline(engine, catalog, FakeClock(), ["default", "fr"], page_size=4, concurrency=2)
    stats = pipeline.run("backfill")
    assert stats.status == "success"
    assert current() == {}  # nothing left behind in the caller's context
    lines = json_lines(capsys.readouterr().err)
    fetches = [line for line in lines if line["message"].startswith("fetching")]
    assert fetches and all(line["thread"] != "MainThread" for line in fetches)
    for line in fetches:
        assert line["run_id"] == stats.run_id and line["kind"] == "backfill"
        assert line["message"] == f"fetching for {line['store']}"
    # "store default: page 2 wrote 4 products ...": the fields say the same as the text.
    pages = [line for line in lines if re.match(r"store \w+: page \d+ wrote", line["message"])]
    assert {line["store"] for line in pages} == {"default", "fr"}
    for line in pages:
        assert line["message"].startswith(f"store {line['store']}: page {line['page']} wrote")
    [summary] = [
        line for line in lines if line["message"].startswith(f"run {stats.run_id} success")
    ]
    assert (summary["run_id"], summary["kind"]) == (stats.run_id, "backfill")
    assert "store" not in summary and "page" not in summary

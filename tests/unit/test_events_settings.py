"""The event consumer's settings: off unless IO_EVENTS_JOURNAL_URL is set, an https journal
(plain http only on loopback, as for API_ENDPOINT), bounded batches, extra scopes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sync.errors import ConfigError
from sync.settings import load_settings

REQUIRED = {
    "IMS_CLIENT_ID": "client-abc",
    "IMS_CLIENT_SECRET": "p8e-very-secret",
    "IMS_ORG_ID": "ABCDEF0123456789@AdobeOrg",
    "API_ENDPOINT": "https://na1.api.commerce.adobe.com/TENANT123",
}
JOURNAL = "https://events-va6.adobe.io/events/organizations/o/integrations/i/r"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC", "IO_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    for key, value in REQUIRED.items():
        monkeypatch.setenv(key, value)


def test_off_by_default_with_safe_defaults() -> None:
    s = load_settings()
    assert s.io_events_journal_url is None
    assert s.sync_events_priority is True
    assert 1 <= s.sync_events_batch <= 1000
    assert s.sync_events_stale_seconds > 0
    assert s.sync_events_idle_seconds is None  # the journal's retry-after, whole
    assert s.sync_events_window_seconds == 0  # read on at once: the freshest
    assert "adobeio_api" not in s.scopes


def test_the_journal_url_and_extra_scopes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IO_EVENTS_JOURNAL_URL", f" {JOURNAL}/ ")
    monkeypatch.setenv("IO_EVENTS_SCOPES", "adobeio_api, commerce.accs")
    s = load_settings()
    assert s.io_events_journal_url == JOURNAL
    assert s.scopes.count("commerce.accs") == 1 and s.scopes[-1] == "adobeio_api"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://events.example.com/j", "https"),
        ("ftp://events.example.com/j", "https"),
        ("https://user:pw@events.example.com/j", "user name"),
        (f"{JOURNAL}?since=abc", "query"),
        ("https://events.exa\tmple.com/j", "control"),
    ],
)
def test_a_bad_journal_url_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, url: str, said: str
) -> None:
    monkeypatch.setenv("IO_EVENTS_JOURNAL_URL", url)
    with pytest.raises(ConfigError, match="IO_EVENTS_JOURNAL_URL") as caught:
        load_settings()
    assert said in caught.value.message
    assert "pw" not in caught.value.message


def test_plain_http_on_loopback_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IO_EVENTS_JOURNAL_URL", "http://127.0.0.1:8080/events/o/i/r")
    assert load_settings().io_events_journal_url == "http://127.0.0.1:8080/events/o/i/r"


@pytest.mark.parametrize("batch", ["0", "100000"])
def test_the_batch_is_bounded(monkeypatch: pytest.MonkeyPatch, batch: str) -> None:
    monkeypatch.setenv("SYNC_EVENTS_BATCH", batch)
    with pytest.raises(ConfigError, match="SYNC_EVENTS_BATCH"):
        load_settings()


@pytest.mark.parametrize("idle", ["0", "61", "nan"])
def test_the_idle_cap_is_bounded(monkeypatch: pytest.MonkeyPatch, idle: str) -> None:
    monkeypatch.setenv("SYNC_EVENTS_IDLE_SECONDS", idle)
    with pytest.raises(ConfigError, match="SYNC_EVENTS_IDLE_SECONDS"):
        load_settings()


@pytest.mark.parametrize("window", ["-1", "3601", "nan", "soon"])
def test_the_batch_window_is_bounded(monkeypatch: pytest.MonkeyPatch, window: str) -> None:
    monkeypatch.setenv("SYNC_EVENTS_WINDOW_SECONDS", window)
    with pytest.raises(ConfigError, match="SYNC_EVENTS_WINDOW_SECONDS"):
        load_settings()


def test_the_batch_window_is_read_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_EVENTS_WINDOW_SECONDS", "60")
    assert load_settings().sync_events_window_seconds == 60.0


def test_plain_http_to_another_host_only_with_the_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IO_EVENTS_JOURNAL_URL", "http://emulator:8080/events/o/i/r")
    with pytest.raises(ConfigError, match="IO_EVENTS_JOURNAL_URL must use https"):
        load_settings()
    monkeypatch.setenv("SYNC_ALLOW_INSECURE_HTTP", "true")
    assert load_settings().io_events_journal_url == "http://emulator:8080/events/o/i/r"

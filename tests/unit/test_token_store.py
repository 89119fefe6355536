"""The cross-process token cache: private, atomic, shared, and never fatal when damaged."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sync.api.cache_crypto import new_key, parse_key
from sync.api.token_store import (
    FileTokenStore,
    MemoryTokenStore,
    StoredToken,
    cache_key,
)

TOKEN = StoredToken(access_token="eyJ-access-1", refresh_at=2000.0, expires_at=2300.0)
KEY = parse_key(new_key(), "SYNC_TOKEN_CACHE_KEY")


def test_the_file_is_private_and_holds_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "tokens.json"
    store = FileTokenStore(path)
    store.save("k1", TOKEN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.load("k1") == TOKEN
    assert FileTokenStore(path).load("k1") == TOKEN  # another process's view
    assert list(tmp_path.joinpath("new-dir").glob("*.tmp")) == []  # replaced atomically


def test_keys_separate_credentials_and_reveal_nothing() -> None:
    a = cache_key("https://ims/t", "client", ["openid", "commerce.accs"], "client_credentials")
    assert a == cache_key(
        "https://ims/t", "client", ["commerce.accs", "openid"], "client_credentials"
    )
    assert a != cache_key(
        "https://ims/t", "other", ["openid", "commerce.accs"], "client_credentials"
    )
    assert a != cache_key("https://ims/t", "client", ["openid"], "client_credentials")
    assert a != cache_key(
        "https://ims/t", "client", ["openid", "commerce.accs"], "authorization_code"
    )
    assert "client" not in a


def test_compare_and_delete_keeps_a_token_another_process_just_stored(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json", key=KEY)  # it holds a refresh token
    store.save("k", StoredToken(access_token="new", refresh_at=1.0, refresh_token="rt-1"))
    assert store.drop_access_token("k", "old") is False  # a late 401 on an old token
    assert store.load("k").access_token == "new"  # type: ignore[union-attr]
    assert store.drop_access_token("k", "new") is True
    left = store.load("k")
    assert left is not None and left.access_token is None and left.refresh_token == "rt-1"
    assert store.drop_refresh_token("k", "rt-other") is False
    assert store.drop_refresh_token("k", "rt-1") is True


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"entries": 3}', b"\xff\xfe"])
def test_a_damaged_file_is_reported_without_content_and_replaced(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    store = FileTokenStore(path)
    with caplog.at_level(logging.WARNING):
        assert store.load("k") is None
    assert "minting a new token" in caplog.text
    assert "{not json" not in caplog.text  # the content is never echoed
    store.save("k", TOKEN)
    assert json.loads(path.read_text())["entries"]["k"]["access_token"] == TOKEN.access_token


def test_an_unreadable_file_is_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tokens.json"
    path.mkdir()  # reading a directory fails like a permission problem would
    with caplog.at_level(logging.WARNING):
        assert FileTokenStore(path).load("k") is None
    assert "cannot be read" in caplog.text


def test_the_repr_hides_tokens() -> None:
    text = repr(StoredToken(access_token="eyJ-secret-access", refresh_token="eyJ-secret-refresh"))
    assert "eyJ" not in text


def test_memory_store_has_the_same_semantics() -> None:
    store = MemoryTokenStore()
    store.save("k", TOKEN)
    assert store.drop_access_token("k", "other") is False
    assert store.drop_access_token("k", TOKEN.access_token or "") is True
    assert store.load("k") is not None and store.load("k").access_token is None  # type: ignore[union-attr]


_WORKER = """
import sys, time
from sync.api.token_store import FileTokenStore, StoredToken
store = FileTokenStore(sys.argv[1])
minted = 0
with store.locked():
    if store.load("k") is None:
        time.sleep(0.2)  # a slow mint: the others must wait, then find it
        store.save("k", StoredToken(access_token="tok-" + sys.argv[2], refresh_at=9e9))
        minted = 1
print(minted, store.load("k").access_token)
"""


def test_concurrent_processes_mint_once_under_the_file_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "tokens.json")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, path, str(n)], stdout=subprocess.PIPE, text=True
        )
        for n in range(4)
    ]
    results = [p.communicate(timeout=60)[0].split() for p in procs]
    assert sum(int(minted) for minted, _ in results) == 1
    assert len({token for _, token in results}) == 1


def test_saving_drops_entries_nobody_can_use_any_more(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json", key=KEY)  # it holds a refresh token
    store.save("expired", StoredToken(access_token="a", refresh_at=50.0, expires_at=100.0))
    store.save("login", StoredToken(access_token="b", expires_at=100.0, refresh_token="rt"))
    store.save("alive", StoredToken(access_token="c", refresh_at=400.0, expires_at=500.0))
    store.save("new", TOKEN, now=200.0)
    entries = store._read()
    assert set(entries) == {"login", "alive", "new"}  # a refresh token is kept: it outlives


def test_a_cache_others_can_read_is_a_warning_once_per_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    FileTokenStore(path).save("k", TOKEN)
    path.chmod(0o644)  # e.g. copied with cp, or written by hand
    store = FileTokenStore(path)
    with caplog.at_level(logging.WARNING, logger="sync.api.token_store"):
        assert store.load("k") == TOKEN  # still used
        store.load("k")
        with store.locked():
            store.load("k")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0] and f"chmod 600 {path}" in warnings[0]


def test_a_private_cache_is_used_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    FileTokenStore(path).save("k", TOKEN)
    with caplog.at_level(logging.WARNING, logger="sync.api.token_store"):
        assert FileTokenStore(path).load("k") == TOKEN
    assert caplog.records == []


def test_the_exposure_check_warns_each_time_it_is_asked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon asks at every run, so a cache someone opened up is never warned about once
    and then forgotten; a private one is silent."""
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    store.save("k", TOKEN)
    with caplog.at_level(logging.WARNING, logger="sync.api.token_store"):
        assert store.check_exposure() == []
        path.chmod(0o640)
        path.parent.chmod(0o755)
        try:
            first, second = store.check_exposure(), store.check_exposure()
        finally:
            path.parent.chmod(0o700)
    assert first == second and len(first) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all(f"chmod 600 {path}" in w for w in warnings)
    assert f"chmod 700 {tmp_path}" in warnings[0]

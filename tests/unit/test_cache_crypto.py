"""The token cache at rest (issue 18): encrypted with SYNC_TOKEN_CACHE_KEY, unreadable without
it, and a wrong key or a flipped byte is an empty cache, never an error or a leak."""

from __future__ import annotations

import base64
import json
import logging
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from sync.api.cache_crypto import CacheKey, new_key, parse_key, resolve_key
from sync.api.token_store import FileTokenStore, StoredToken
from sync.errors import ConfigError

ACCESS = "eyJ-access-token-IN-CLEAR-1"
REFRESH = "eyJ-refresh-token-IN-CLEAR-1"
LOGIN = StoredToken(
    access_token=ACCESS, refresh_at=2000.0, expires_at=2300.0, refresh_token=REFRESH
)


def key() -> CacheKey:
    return parse_key(new_key(), "SYNC_TOKEN_CACHE_KEY")


def no_token_in(data: bytes) -> bool:
    """Neither token, nor its base64 spelling, appears in ``data``."""
    needles = [t.encode() for t in (ACCESS, REFRESH)]
    needles += [base64.b64encode(n)[:20] for n in needles]
    needles += [base64.urlsafe_b64encode(n)[:20] for n in needles]
    return not any(n in data for n in needles)


def test_a_new_key_is_32_random_bytes_in_urlsafe_base64() -> None:
    text = new_key()
    assert len(base64.urlsafe_b64decode(text)) == 32
    assert text != new_key()
    assert parse_key(text + "\n", "SYNC_TOKEN_CACHE_KEY_FILE").key_id == parse_key(text, "x").key_id


@pytest.mark.parametrize(
    "text", ["", "not base64 at all!", base64.urlsafe_b64encode(b"short").decode()]
)
def test_a_malformed_key_is_a_config_error_that_does_not_echo_it(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_key(text, "SYNC_TOKEN_CACHE_KEY")
    assert info.value.setting == "SYNC_TOKEN_CACHE_KEY"
    assert "accs-sync token key" in info.value.message
    if text:
        assert text not in info.value.message


def test_the_key_repr_hides_the_key() -> None:
    text = new_key()
    shown = repr(parse_key(text, "SYNC_TOKEN_CACHE_KEY"))
    assert text not in shown and "SYNC_TOKEN_CACHE_KEY" in shown


def test_the_cache_holds_no_token_in_clear_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    k = key()
    FileTokenStore(path, key=k).save("login", LOGIN)
    raw = path.read_bytes()
    assert no_token_in(raw)
    assert json.loads(raw)["version"] == 2
    assert FileTokenStore(path, key=k).load("login") == LOGIN


def test_a_wrong_key_is_an_empty_cache_reported_without_content_then_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    FileTokenStore(path, key=key()).save("login", LOGIN)
    other = key()
    store = FileTokenStore(path, key=other)
    with caplog.at_level(logging.WARNING):
        assert store.load("login") is None
    assert "another key" in caplog.text
    assert no_token_in(caplog.text.encode())
    fresh = StoredToken(access_token="eyJ-fresh", refresh_at=1.0, expires_at=2.0)
    store.save("cc", fresh)
    assert FileTokenStore(path, key=other).load("cc") == fresh


@pytest.mark.parametrize("field", ["ciphertext", "nonce"])
def test_a_flipped_byte_is_an_empty_cache(
    tmp_path: Path, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    k = key()
    FileTokenStore(path, key=k).save("login", LOGIN)
    data = json.loads(path.read_bytes())
    blob = bytearray(base64.urlsafe_b64decode(data[field]))
    blob[len(blob) // 2] ^= 0x01
    data[field] = base64.urlsafe_b64encode(bytes(blob)).decode()
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        assert FileTokenStore(path, key=k).load("login") is None
    assert "integrity" in caplog.text


def test_any_flipped_byte_of_the_file_is_an_empty_cache_never_an_error(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    k = key()
    FileTokenStore(path, key=k).save("login", LOGIN)
    original = path.read_bytes()
    for index in range(0, len(original), 7):
        damaged = bytearray(original)
        damaged[index] ^= 0x01
        path.write_bytes(bytes(damaged))
        assert FileTokenStore(path, key=k).load("login") is None, index


def test_an_encrypted_cache_without_a_key_is_empty_and_says_which_setting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    FileTokenStore(path, key=key()).save("login", LOGIN)
    with caplog.at_level(logging.WARNING):
        assert FileTokenStore(path).load("login") is None
    assert "SYNC_TOKEN_CACHE_KEY" in caplog.text


def test_a_plain_cache_is_read_once_and_rewritten_encrypted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "entries": {
                    "login": {
                        "access_token": ACCESS,
                        "refresh_at": 2000.0,
                        "expires_at": 2300.0,
                        "refresh_token": REFRESH,
                    }
                },
            }
        )
    )
    path.chmod(0o600)
    k = key()
    with caplog.at_level(logging.INFO):
        assert FileTokenStore(path, key=k).load("login") == LOGIN
    assert no_token_in(path.read_bytes())
    assert "rewritten encrypted" in caplog.text
    assert FileTokenStore(path, key=k).load("login") == LOGIN


def test_without_a_key_a_refresh_token_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    with pytest.raises(ConfigError, match="SYNC_TOKEN_CACHE_KEY") as info:
        FileTokenStore(path).save("login", LOGIN)
    assert "accs-sync token key" in info.value.message
    assert not path.exists() or REFRESH.encode() not in path.read_bytes()


def test_the_key_comes_from_the_setting_the_file_or_the_keyring(tmp_path: Path) -> None:
    text = new_key()
    from_env = resolve_key(SecretStr(text), None, keyring_get=None)
    assert from_env is not None and from_env.source == "SYNC_TOKEN_CACHE_KEY"
    file = tmp_path / "key"
    file.write_text(text + "\n")
    from_file = resolve_key(None, file, keyring_get=None)
    assert from_file is not None and from_file.key_id == from_env.key_id
    assert str(file) in from_file.source
    vault = {("accs-sync", "token-cache-key"): text}
    from_vault = resolve_key(None, None, keyring_get=lambda s, u: vault.get((s, u)))
    assert from_vault is not None and from_vault.key_id == from_env.key_id
    assert "keyring" in from_vault.source
    assert resolve_key(None, None, keyring_get=lambda s, u: None) is None
    with pytest.raises(ConfigError, match="SYNC_TOKEN_CACHE_KEY_FILE"):
        resolve_key(None, tmp_path / "missing", keyring_get=None)


def test_without_the_keyring_extra_there_is_simply_no_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # `import keyring` raises ImportError
    assert resolve_key(None, None) is None


def test_a_keyring_that_fails_is_no_key_not_a_crash() -> None:
    def broken(service: str, user: str) -> str | None:
        raise RuntimeError("no backend (e.g. a headless server without a secret service)")

    assert resolve_key(None, None, keyring_get=broken) is None


def test_a_legacy_plain_refresh_token_without_a_key_is_dropped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain cache from an older accs-sync, read with no key: a 401 that drops the access
    token must not crash, and the refresh token is not written back in clear."""
    path = tmp_path / "tokens.json"
    entry = {"access_token": ACCESS, "refresh_at": 1.0, "expires_at": 2.0, "refresh_token": REFRESH}
    path.write_text(json.dumps({"version": 1, "entries": {"login": entry}}))
    path.chmod(0o600)
    store = FileTokenStore(path)
    with caplog.at_level(logging.WARNING):
        assert store.load("login") == LOGIN.__class__(**{**entry})
        assert store.drop_access_token("login", ACCESS) is True
    assert "refresh token in clear" in caplog.text
    assert no_token_in(path.read_bytes())


class _FakeKeyring:
    """The two calls of the ``keyring`` package accs-sync uses, on a dict."""

    def __init__(self) -> None:
        self.vault: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, user: str) -> str | None:
        return self.vault.get((service, user))

    def set_password(self, service: str, user: str, value: str) -> None:
        self.vault[(service, user)] = value


def test_token_key_keeps_a_key_in_the_keyring_that_runs_then_use(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync.cli import main

    fake = _FakeKeyring()
    monkeypatch.setitem(sys.modules, "keyring", fake)
    assert main(["token", "key", "--keyring"]) == 0
    [stored] = fake.vault.values()
    assert stored not in capsys.readouterr().out  # said where, not what
    found = resolve_key(None, None)
    assert found is not None and found.key_id == parse_key(stored, "x").key_id
    assert main(["token", "key", "--keyring"]) == 2  # never replaced by accident
    assert "--replace" in capsys.readouterr().err
    assert main(["token", "key", "--keyring", "--replace"]) == 0
    assert list(fake.vault.values()) != [stored]


def test_token_key_with_keyring_but_without_the_extra_says_how(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync.cli import main

    monkeypatch.setitem(sys.modules, "keyring", None)
    assert main(["token", "key", "--keyring"]) == 2
    assert "accs-sync[keyring]" in capsys.readouterr().err

"""The token cache's key and its encryption at rest (AES-256-GCM, from ``cryptography``).

The key is 32 random bytes written as URL-safe base64 (44 characters); ``accs-sync token key``
prints a new one (or ``python -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32))
.decode())"``). It comes from, in this order:

1. ``SYNC_TOKEN_CACHE_KEY`` (the value itself);
2. ``SYNC_TOKEN_CACHE_KEY_FILE`` (a file holding it, e.g. a Kubernetes secret; whitespace around
   it is ignored, as for the other ``*_FILE`` secrets);
3. the OS keyring (service ``accs-sync``, user ``token-cache-key``) when the optional ``keyring``
   extra is installed (``pip install 'accs-sync[keyring]'``); a keyring that fails (no backend
   on a headless server) counts as no key.

An encrypted cache file is one JSON object, versioned like the plain one::

    {"version": 2, "cipher": "AES-256-GCM", "key_id": "<16 hex>", "nonce": "<b64>",
     "ciphertext": "<b64 of the plain cache's JSON + GCM tag>"}

``key_id`` (a hash of the key, which reveals nothing of it) tells "written with another key"
apart from "tampered with"; it is bound into the GCM associated data, so changing it is
tampering too. The nonce is 12 fresh random bytes per write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from sync.errors import ConfigError

__all__ = [
    "ENCRYPTED_VERSION",
    "KEYRING_SERVICE",
    "KEYRING_USER",
    "CacheKey",
    "CacheUnreadable",
    "new_key",
    "parse_key",
    "resolve_key",
]

log = logging.getLogger(__name__)

ENCRYPTED_VERSION = 2
CIPHER = "AES-256-GCM"
KEYRING_SERVICE = "accs-sync"
KEYRING_USER = "token-cache-key"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_AAD = b"accs-sync token cache v2 "

HOW_TO_SET = (
    "set SYNC_TOKEN_CACHE_KEY (or SYNC_TOKEN_CACHE_KEY_FILE, a file holding it) to a key made "
    "by `accs-sync token key`, or install the keyring extra and run "
    "`accs-sync token key --keyring`"
)


class CacheUnreadable(Exception):
    """The encrypted cache cannot be opened with this key: ``reason`` says why, never what."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CacheKey:
    """One AES-256 key and where it came from. The repr shows the source, never the key."""

    __slots__ = ("_raw", "key_id", "source")

    def __init__(self, raw: bytes, source: str) -> None:
        if len(raw) != _KEY_BYTES:
            raise ValueError("a token cache key is 32 bytes")
        self._raw = raw
        self.source = source
        self.key_id = hashlib.sha256(b"accs-sync token cache key id\0" + raw).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"CacheKey(source={self.source!r}, key_id={self.key_id!r})"

    def reveal(self) -> str:
        """The key as SYNC_TOKEN_CACHE_KEY spells it: for the log filter and `token key`."""
        return base64.urlsafe_b64encode(self._raw).decode()

    def encrypt(self, plaintext: bytes) -> dict[str, Any]:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._raw).encrypt(nonce, plaintext, _AAD + self.key_id.encode())
        return {
            "version": ENCRYPTED_VERSION,
            "cipher": CIPHER,
            "key_id": self.key_id,
            "nonce": base64.urlsafe_b64encode(nonce).decode(),
            "ciphertext": base64.urlsafe_b64encode(sealed).decode(),
        }

    def decrypt(self, envelope: dict[str, Any]) -> bytes:
        """The plain bytes sealed in ``envelope``; :class:`CacheUnreadable` otherwise."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if envelope.get("cipher") != CIPHER:
            raise CacheUnreadable("names a cipher accs-sync does not use")
        key_id, nonce, sealed = (envelope.get(k) for k in ("key_id", "nonce", "ciphertext"))
        if not all(isinstance(v, str) for v in (key_id, nonce, sealed)):
            raise CacheUnreadable("has an unexpected layout")
        assert isinstance(key_id, str) and isinstance(nonce, str) and isinstance(sealed, str)
        if key_id != self.key_id:
            raise CacheUnreadable(
                f"was encrypted with another key than {self.source}'s (the key changed?)"
            )
        try:
            raw_nonce = base64.urlsafe_b64decode(nonce.encode("ascii"))
            raw_sealed = base64.urlsafe_b64decode(sealed.encode("ascii"))
        except (binascii.Error, ValueError):
            raise CacheUnreadable("failed its integrity check (damaged or tampered with)") from None
        if len(raw_nonce) != _NONCE_BYTES:
            raise CacheUnreadable("failed its integrity check (damaged or tampered with)")
        try:
            return AESGCM(self._raw).decrypt(raw_nonce, raw_sealed, _AAD + key_id.encode())
        except InvalidTag:
            raise CacheUnreadable("failed its integrity check (damaged or tampered with)") from None


def new_key() -> str:
    """A fresh key, as SYNC_TOKEN_CACHE_KEY takes it."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode()


def parse_key(text: str, source: str, setting: str | None = None) -> CacheKey:
    """The key in ``text`` (from ``source``, a setting name or a file); a malformed one is a
    :class:`~sync.errors.ConfigError` that does not repeat it."""
    setting = setting or source.split(" ", 1)[0]
    value = text.strip()
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii")) if value else b""
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        raise ConfigError(
            f"{source}: not a token cache key (URL-safe base64 of 32 bytes); make one with "
            "`accs-sync token key`",
            setting=setting,
        )
    return CacheKey(raw, source)


KeyringGet = Callable[[str, str], "str | None"]


def _keyring_get() -> KeyringGet | None:
    try:
        import keyring  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    getter: KeyringGet = keyring.get_password
    return getter


_DEFAULT: Any = object()


def resolve_key(
    value: SecretStr | None, file: Path | None, keyring_get: KeyringGet | None = _DEFAULT
) -> CacheKey | None:
    """The token cache key from the setting, the file or the keyring (see the module
    docstring); ``None`` when there is none. ``keyring_get``: ``keyring.get_password`` unless
    given (``None``: no keyring)."""
    if value is not None:
        return parse_key(value.get_secret_value(), "SYNC_TOKEN_CACHE_KEY")
    if file is not None:
        source = f"SYNC_TOKEN_CACHE_KEY_FILE ({file})"
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{source}: cannot read the key file ({type(exc).__name__}); check the path and "
                "its permissions",
                setting="SYNC_TOKEN_CACHE_KEY_FILE",
            ) from None
        return parse_key(text, source)
    getter = _keyring_get() if keyring_get is _DEFAULT else keyring_get
    if getter is None:
        return None
    try:
        stored = getter(KEYRING_SERVICE, KEYRING_USER)
    except Exception as exc:  # noqa: BLE001 - any backend failure (no backend, D-Bus): no key
        log.debug("the OS keyring gave no token cache key (%s)", type(exc).__name__)
        return None
    if not stored:
        return None
    where = f"the OS keyring ({KEYRING_SERVICE}/{KEYRING_USER})"
    return parse_key(stored, where, setting="SYNC_TOKEN_CACHE_KEY")

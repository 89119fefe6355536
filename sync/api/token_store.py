"""Where IMS tokens live between processes, so cron-driven runs do not mint one per run.

Adobe throttles integrations that mint too many tokens. :class:`FileTokenStore` keeps tokens in
one JSON file readable only by its owner (0600, in a 0700 directory), replaced atomically, and
guarded by ``fcntl.flock`` on a sibling ``.lock`` file (never a symbolic link): a process takes
the lock, re-reads the file and mints only if the token is still missing or near expiry, so
concurrent processes mint once. Entries are keyed by a hash of (token URL, client id, scopes,
flow); the client secret is never written. :class:`MemoryTokenStore` is the same seam without a
file (``SYNC_TOKEN_CACHE=none``).

With a key (:mod:`sync.api.cache_crypto`) the whole file is encrypted (format version 2); a
plain (version 1) file found then is read once and rewritten encrypted. Without a key the file
stays plain JSON and holds access tokens only: a refresh token is never written in clear.

A damaged, unreadable, tampered file, or one written with another key, is never fatal: it is
reported (without its content) and treated as empty, and the next save replaces it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from sync.api.cache_crypto import ENCRYPTED_VERSION, HOW_TO_SET, CacheKey, CacheUnreadable
from sync.errors import ConfigError
from sync.lockfile import open_lock_file

__all__ = [
    "FileTokenStore",
    "MemoryTokenStore",
    "StoredToken",
    "TokenStore",
    "cache_key",
    "exposure",
]

log = logging.getLogger(__name__)

_VERSION = 1


def cache_key(token_url: str, client_id: str, scopes: list[str], flow: str) -> str:
    """A stable, opaque key for one credential; it reveals nothing about the secret."""
    material = json.dumps([token_url, client_id, sorted(scopes), flow])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class StoredToken:
    """What is cached for one key. Times are wall-clock epoch seconds (shared across processes)."""

    access_token: str | None = None
    refresh_at: float = 0.0
    expires_at: float = 0.0
    refresh_token: str | None = None

    def __repr__(self) -> str:
        return (
            f"StoredToken(access_token={'***' if self.access_token else None}, "
            f"refresh_token={'***' if self.refresh_token else None}, "
            f"refresh_at={self.refresh_at:.0f})"
        )

    def usable(self, now: float) -> bool:
        return bool(self.access_token) and now < self.refresh_at

    @classmethod
    def from_json(cls, value: Any) -> StoredToken | None:
        if not isinstance(value, dict):
            return None
        access, refresh = value.get("access_token"), value.get("refresh_token")
        try:
            return cls(
                access_token=access if isinstance(access, str) and access else None,
                refresh_at=float(value.get("refresh_at", 0.0)),
                expires_at=float(value.get("expires_at", 0.0)),
                refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            )
        except (TypeError, ValueError):
            return None


def exposure(target: Path, wanted: int, what: str) -> list[str]:
    """What lets someone else read ``target`` (the cache ``file`` or its ``directory``): it
    belongs to another user, or its mode grants more than ``wanted``; each problem with the
    command that fixes it. Nothing for a target that does not exist."""
    try:
        info = target.stat()
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"{what} {target} cannot be read ({type(exc).__name__})"]
    problems = []
    uid = os.getuid()
    if info.st_uid != uid:
        problems.append(f"{what} {target} belongs to uid {info.st_uid}, not to you ({uid})")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        problems.append(f"{what} {target} is {mode:04o}: chmod {wanted:o} {target}")
    return problems


def _stale(value: Any, now: float) -> bool:
    """An entry nobody can use any more: its access token expired and it has no refresh token."""
    entry = StoredToken.from_json(value)
    return entry is None or (entry.refresh_token is None and entry.expires_at <= now)


class TokenStore(Protocol):
    """Tokens shared by every thread and process using one credential."""

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold this while reading, minting and saving, so only one process mints."""

    def load(self, key: str) -> StoredToken | None: ...

    def save(self, key: str, token: StoredToken, now: float | None = None) -> None:
        """Store ``token`` under ``key``. With ``now`` (epoch seconds), entries of other keys
        that expired and hold no refresh token are dropped, so the file does not grow."""

    def drop_access_token(self, key: str, value: str) -> bool:
        """Forget the access token under ``key`` only if it is still ``value`` (compare-and-
        delete: another process may already have stored a fresh one). Keeps a refresh token."""

    def drop_refresh_token(self, key: str, value: str) -> bool:
        """Forget the refresh token under ``key`` only if it is still ``value``."""

    def forget(self, key: str) -> StoredToken | None:
        """Delete the entry under ``key``; what it held (``None``: there was none)."""


class _Base:
    def drop_access_token(self, key: str, value: str) -> bool:
        return self._drop(key, "access_token", value)

    def drop_refresh_token(self, key: str, value: str) -> bool:
        return self._drop(key, "refresh_token", value)

    def _drop(self, key: str, field: str, value: str) -> bool:
        with self.locked():
            current = self.load(key)
            if current is None or getattr(current, field) != value:
                return False
            changes: dict[str, Any] = {field: None}
            if field == "access_token":
                changes.update(refresh_at=0.0, expires_at=0.0)
            self.save(key, StoredToken(**{**asdict(current), **changes}))
            return True

    def locked(self) -> contextlib.AbstractContextManager[None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self, key: str) -> StoredToken | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(
        self, key: str, token: StoredToken, now: float | None = None
    ) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class MemoryTokenStore(_Base):
    """Per-process only: what ``SYNC_TOKEN_CACHE=none`` gives (and a fake for tests)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, StoredToken] = {}

    def __repr__(self) -> str:
        return "MemoryTokenStore()"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield

    def load(self, key: str) -> StoredToken | None:
        with self._lock:
            return self._entries.get(key)

    def save(self, key: str, token: StoredToken, now: float | None = None) -> None:
        with self._lock:
            self._entries[key] = token

    def forget(self, key: str) -> StoredToken | None:
        with self._lock:
            return self._entries.pop(key, None)


class FileTokenStore(_Base):
    """A 0600 JSON file shared by every accs-sync process of this user; encrypted with
    ``key`` when one is given."""

    def __init__(self, path: str | Path, key: CacheKey | None = None) -> None:
        self.path = Path(path)
        self.key = key
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        # flock is per open file: threads of one process serialise on this lock first.
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._warned = False
        self._exposure_checked = False

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r}, encrypted={self.key is not None})"

    @property
    def encrypted(self) -> bool:
        return self.key is not None

    def require_key(self, what: str) -> None:
        """Exit 2 (ConfigError) without a key: ``what`` (a refresh token) needs encryption."""
        if self.key is None:
            raise ConfigError(
                f"{what} is never written to the token cache in clear: {HOW_TO_SET}",
                setting="SYNC_TOKEN_CACHE_KEY",
            )

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth:  # re-entered by the same thread: the flock is already held
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._ensure_dir()
            fd = open_lock_file(self._lock_path, "SYNC_TOKEN_CACHE")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def load(self, key: str) -> StoredToken | None:
        entries = self._read()
        return StoredToken.from_json(entries.get(key))

    def save(self, key: str, token: StoredToken, now: float | None = None) -> None:
        with self.locked():
            entries = self._read()
            old = entries.get(key)
            known = old.get("refresh_token") if isinstance(old, dict) else None
            if token.refresh_token and token.refresh_token != known:
                # A new one refused loudly; one read from an older plain file is dropped on
                # write (see _write), so a 401 on its access token is no crash.
                self.require_key("a refresh token")
            if now is not None:
                entries = {k: v for k, v in entries.items() if not _stale(v, now)}
            entries[key] = asdict(token)
            self._write({"version": _VERSION, "entries": entries})

    def forget(self, key: str) -> StoredToken | None:
        with self.locked():
            entries = self._read()
            if key not in entries:
                return None
            gone = StoredToken.from_json(entries.pop(key))
            self._write({"version": _VERSION, "entries": entries})
            return gone

    # -- file handling -----------------------------------------------------------------------

    def _ensure_dir(self) -> None:
        directory = self.path.parent
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def check_exposure(self) -> list[str]:
        """What lets others read the cache (see :func:`exposure`), each time a WARNING: the
        first read of a process asks, and so does every run of the daemon."""
        self._exposure_checked = True
        problems = exposure(self.path, 0o600, "file")
        if problems:
            problems += exposure(self.path.parent, 0o700, "directory")
            log.warning(
                "token cache %s %s: %s",
                self.path,
                "is encrypted, but others may copy it"
                if self.key is not None
                else "holds live access tokens others may read",
                "; ".join(problems),
            )
        return problems

    def _read(self) -> dict[str, Any]:
        if not self._exposure_checked:
            self.check_exposure()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self._warn(f"cannot be read ({type(exc).__name__})")
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            # Never print the content: it may hold a token.
            self._warn("is not valid JSON")
            return {}
        if isinstance(data, dict) and data.get("version") == ENCRYPTED_VERSION:
            return self._decrypted(data)
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            self._warn("has an unexpected layout")
            return {}
        if self.key is not None:
            self._encrypt_plain(raw, entries)
        elif not self._warned and any(
            isinstance(v, dict) and v.get("refresh_token") for v in entries.values()
        ):
            self._warned = True  # once per process, like the other problems of the file
            log.warning(
                "token cache %s holds a refresh token in clear (written by an older "
                "accs-sync): %s; the next save drops it",
                self.path,
                HOW_TO_SET,
            )
        return entries

    def _encrypt_plain(self, raw: bytes, entries: dict[str, Any]) -> None:
        """A plain cache, rewritten encrypted under the lock (unless replaced meanwhile)."""
        with self.locked():
            try:
                if self.path.read_bytes() != raw:
                    return
            except OSError:
                return
            self._write({"version": _VERSION, "entries": entries})
        log.info("token cache %s was plain JSON; rewritten encrypted", self.path)

    def _decrypted(self, envelope: dict[str, Any]) -> dict[str, Any]:
        if self.key is None:
            self._warn(f"is encrypted and no key is set ({HOW_TO_SET})")
            return {}
        try:
            data = json.loads(self.key.decrypt(envelope))
        except CacheUnreadable as exc:
            self._warn(exc.reason)
            return {}
        except ValueError:
            self._warn("holds encrypted content that is not a token cache")
            return {}
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            self._warn("holds encrypted content that is not a token cache")
            return {}
        return entries

    def _warn(self, problem: str) -> None:
        if not self._warned:
            log.warning(
                "token cache %s %s; ignoring it and minting a new token (it will be replaced)",
                self.path,
                problem,
            )
            self._warned = True

    def _write(self, data: dict[str, Any]) -> None:
        if self.key is not None:
            data = self.key.encrypt(json.dumps(data).encode())
        else:  # never a refresh token in clear (one read from an older plain file is dropped)
            for entry in data["entries"].values():
                if isinstance(entry, dict):
                    entry.pop("refresh_token", None)
        self._ensure_dir()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        # O_EXCL: never write a token into a file someone else created (or a symlink).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

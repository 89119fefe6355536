"""Where IMS tokens live between processes, so cron-driven runs do not mint one per run.

Adobe throttles integrations that mint too many tokens. :class:`FileTokenStore` keeps tokens in
one JSON file readable only by its owner (0600, in a 0700 directory), replaced atomically, and
guarded by ``fcntl.flock`` on a sibling ``.lock`` file (never a symbolic link): a process takes
the lock, re-reads the file and mints only if the token is still missing or near expiry, so
concurrent processes mint once. Entries are keyed by a hash of (token URL, client id, scopes,
flow); the client secret is never written. :class:`MemoryTokenStore` is the same seam without a
file (``SYNC_TOKEN_CACHE=none``).

A damaged or unreadable file is never fatal: it is reported (without its content) and treated
as empty, and the next save replaces it.
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


class FileTokenStore(_Base):
    """A 0600 JSON file shared by every accs-sync process of this user."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        # flock is per open file: threads of one process serialise on this lock first.
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._warned = False
        self._exposure_checked = False

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

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
            if now is not None:
                entries = {k: v for k, v in entries.items() if not _stale(v, now)}
            entries[key] = asdict(token)
            self._write({"version": _VERSION, "entries": entries})

    # -- file handling -----------------------------------------------------------------------

    def _ensure_dir(self) -> None:
        directory = self.path.parent
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _read(self) -> dict[str, Any]:
        if not self._exposure_checked:
            self._exposure_checked = True
            problems = exposure(self.path, 0o600, "file")
            if problems:
                log.warning(
                    "token cache %s holds live access tokens others may read: %s",
                    self.path,
                    "; ".join(problems),
                )
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
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            self._warn("has an unexpected layout")
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

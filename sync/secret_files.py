"""Client secret files written so a reader never sees half a secret.

Every accs-sync process re-reads ``IMS_CLIENT_SECRET_FILE`` and ``IMS_CLIENT_SECRET_NEXT_FILE``
at each mint (:class:`sync.api.ims.ClientSecret`). ``accs-sync secret rotate`` replaces them
with :func:`write_secret_file`: a new file in the same folder (created 0600 with ``O_EXCL``, so
never one someone else prepared, nor a symbolic link), flushed to disk, then renamed over the
old one. A reader opens either the old file or the new one, both whole.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from sync.errors import ConfigError

__all__ = ["read_secret_file", "remove_secret_file", "write_secret_file"]


def write_secret_file(path: Path, value: str, setting: str) -> None:
    """Replace ``path`` by a 0600 file holding ``value`` (and a newline), atomically.
    :class:`ConfigError` naming ``setting`` (never the value) when it cannot be written."""
    folder = path.parent
    tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(value + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _sync_folder(folder)
    except OSError as exc:
        raise ConfigError(
            f"{setting}: cannot write the secret file {str(path)!r} "
            f"({type(exc).__name__}: {exc.strerror or 'failed'}); the folder must be writable "
            "by this user (a read-only Kubernetes secret mount is not: see docs/security.md)",
            setting=setting,
        ) from None


def read_secret_file(path: Path, setting: str) -> str | None:
    """The secret in ``path`` (stripped), or None when there is no such file or it is empty.
    :class:`ConfigError` naming ``setting`` when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{setting}: cannot read the secret file {str(path)!r} ({type(exc).__name__})",
            setting=setting,
        ) from None
    return text or None


def remove_secret_file(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (a crash after it must not bring the old file back)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

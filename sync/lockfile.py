"""Open a lock file for ``flock`` without ever following a symbolic link.

accs-sync keeps three lock files beside what they guard (``<database>.lock``, the metrics
file's ``.<name>.lock``, ``tokens.json.lock``), often in a directory others can write to. A link
planted at such a path would make accs-sync create (or, with ``a``, append to) whatever file it
points at, with accs-sync's rights. ``O_NOFOLLOW`` refuses the link, and ``O_CREAT`` then
creates nothing.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from sync.errors import ConfigError

__all__ = ["open_lock_file"]


def open_lock_file(path: Path, setting: str, mode: int = 0o600) -> int:
    """A file descriptor of ``path`` (created with ``mode`` if missing), to ``flock``.

    Raises :class:`ConfigError` naming ``setting`` and the path when ``path`` is a symbolic
    link; other failures are the ``OSError`` they are. The caller closes the descriptor.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
    raise ConfigError(
        f"{setting}: the lock file {path} is a symbolic link; accs-sync never follows a link "
        f"for a lock file (it could create or change another file). Remove it (rm {path}) "
        "and start again",
        setting=setting,
    )

"""``python -m sync`` is the ``accs-sync`` command."""

from __future__ import annotations

from sync.cli import entry

raise SystemExit(entry())

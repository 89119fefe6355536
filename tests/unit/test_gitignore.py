"""What the quick start leaves in a checkout (the mirror, its run lock, a local token cache)
never ends up in a commit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "name",
    [
        "accs-sync.db",
        "accs-sync.db-wal",
        "accs-sync.db.lock",
        "accs-sync-demo.db.lock",
        "data/mirror.db.lock",
        ".accs_sync.prom.lock",
        "tokens.json",
        "tokens.json.lock",
    ],
)
def test_files_the_quick_start_creates_are_ignored(name: str) -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        [git, "-C", str(ROOT), "check-ignore", "--no-index", "-q", name],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"{name} is not git-ignored"

"""The LICENSE file is the licence pyproject.toml declares, unmodified, and CHANGELOG.md
keeps an Unreleased section at its top."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: SPDX id -> the first lines of that licence's canonical text, and its SHA-256 (Apache's
#: https://www.apache.org/licenses/LICENSE-2.0.txt, also Debian's common-licenses/Apache-2.0).
LICENCES = {
    "Apache-2.0": (
        ("Apache License", "Version 2.0, January 2004", "http://www.apache.org/licenses/"),
        "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
    )
}


def test_license_file_is_the_licence_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert declared in LICENCES, f"no canonical text known for {declared!r}"
    heading, digest = LICENCES[declared]
    text = (ROOT / "LICENSE").read_bytes()
    first = [line.strip() for line in text.decode().splitlines() if line.strip()][:3]
    assert tuple(first) == heading
    assert hashlib.sha256(text).hexdigest() == digest  # the standard text, not edited


def test_changelog_starts_with_an_unreleased_section() -> None:
    lines = (ROOT / "CHANGELOG.md").read_text().splitlines()
    assert lines[0] == "# Changelog"
    sections = [line for line in lines if line.startswith("## ")]
    assert sections and sections[0] == "## [Unreleased]"

"""Fixtures for end-to-end tests: a running emulator and an environment pointing at it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sync.emulator import Catalog, EmulatorServer


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """A loopback emulator with 750 generated products (several pages at any page size)."""
    with EmulatorServer(Catalog.generate(750, seed=7)) as server:
        yield server


@pytest.fixture
def sync_env(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, db_url: str, tmp_path: object
) -> dict[str, str]:
    """Process environment for ``accs-sync`` against ``emulator`` and ``db_url``."""
    for name in list(os.environ):
        if name.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))  # no stray .env
    env = {**emulator.credentials, "DATABASE_URL": db_url, "SYNC_PAGE_SIZE": "100"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env

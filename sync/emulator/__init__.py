"""The bundled Adobe IMS + ACCS REST emulator, for the demo, the tests and users' own testing.

It serves ``POST /ims/token/v3`` and ``GET /<tenant>/V1/products[/<sku>]`` on loopback with
the real services' answers, errors and traps (no default sort order, DESC as the default sort
direction, the 300 pageSize limit, 429s with Retry-After, stock changes that leave
``updated_at`` alone), switchable at run time through :class:`Faults`::

    catalog = Catalog.generate(1000, seed=1)
    with EmulatorServer(catalog) as emu:
        env = emu.credentials          # IMS_CLIENT_ID, ..., API_ENDPOINT, IMS_TOKEN_URL
        emu.faults.rate_limit_next = 2
        emu.faults.rate_limit_rps = 20  # a real limit: 429 with Retry-After past 20/s
        catalog.update("SP000003", price=9.99)

Another process (a benchmark) reads ``GET /_emulator/stats`` and sets faults with
``POST /_emulator/faults`` (see :mod:`.admin`).
"""

from __future__ import annotations

from sync.emulator.app import EmulatorApp, Response
from sync.emulator.catalog import Catalog, Snapshot
from sync.emulator.faults import Faults, RequestRecord, Stats
from sync.emulator.ims import REQUIRED_SCOPES
from sync.emulator.records import Product
from sync.emulator.runner import build_catalog, serve_forever
from sync.emulator.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORG_ID,
    DEFAULT_TENANT,
    EmulatorServer,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_ORG_ID",
    "DEFAULT_TENANT",
    "REQUIRED_SCOPES",
    "Catalog",
    "EmulatorApp",
    "EmulatorServer",
    "Faults",
    "Product",
    "RequestRecord",
    "Response",
    "Snapshot",
    "Stats",
    "build_catalog",
    "serve_forever",
]

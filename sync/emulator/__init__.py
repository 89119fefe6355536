"""The bundled Adobe IMS + ACCS REST emulator, for the demo, the tests and users' own testing.

It serves ``POST /ims/token/v3``, ``GET /<tenant>/V1/products[/<sku>]``,
``GET /<tenant>/V1/categories/list`` and ``GET /<tenant>/V1/inventory/source-items`` on
loopback with the real services' answers, errors and traps (no default sort order, DESC as the
default sort direction, the 300 pageSize limit, 429s with Retry-After, stock changes and
category deletes that leave products' ``updated_at`` alone), switchable at run time through
:class:`Faults`::

    catalog = Catalog.generate(1000, seed=1)
    with EmulatorServer(catalog) as emu:
        env = emu.credentials          # IMS_CLIENT_ID, ..., API_ENDPOINT, IMS_TOKEN_URL
        emu.faults.rate_limit_next = 2
        emu.faults.rate_limit_rps = 20  # a real limit: 429 with Retry-After past 20/s
        emu.faults.forbidden = {"categories"}  # 401 naming Magento_Catalog::categories
        catalog.update("SP000003", price=9.99)
        catalog.update_category(14, name="Coats")  # also create_/move_/delete_category
        catalog.set_source_item("SP000003", "eu_warehouse", 0)  # or remove_source_item

Categories are Luma's sample-data tree (bundled, see :mod:`.categories`); source items are a
``default`` and an ``eu_warehouse`` item per stock-managed product (see :mod:`.inventory`).
Another process (a benchmark, a user's test) reads ``GET /_emulator/stats``, sets faults with
``POST /_emulator/faults`` (see :mod:`.admin`) and changes products, categories and stock
through ``/_emulator/products``, ``/_emulator/categories`` and ``/_emulator/source-items`` (see
:mod:`.admin_catalog`).

It also publishes Commerce catalog events to an Adobe I/O Events journal (issue 16): clients
subscribe with ``POST /<tenant>/V1/eventing/eventSubscribe`` (or ``emu.events.subscribe(...)``),
catalog changes publish the subscribed events, and ``emu.journal_url`` serves them with the
Journaling API's paging, 204s and 410s (see :mod:`.events` and :mod:`.journal`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.emulator.app import EmulatorApp, Response
    from sync.emulator.catalog import Catalog, Snapshot
    from sync.emulator.categories import Category
    from sync.emulator.events import EventHub
    from sync.emulator.faults import RESOURCES, Faults, RequestRecord, Stats
    from sync.emulator.ims import REQUIRED_SCOPES
    from sync.emulator.inventory import SOURCES, SourceItem
    from sync.emulator.records import Product
    from sync.emulator.runner import build_catalog, parse_stores, serve_forever
    from sync.emulator.server import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_ORG_ID,
        DEFAULT_TENANT,
        CannotListen,
        EmulatorServer,
    )

#: Where each public name lives. The package imports them on first use, so importing one
#: small module of it (``accs-sync``'s command line imports :mod:`.cli_args`) stays cheap.
_HOMES = {
    "EmulatorApp": "app",
    "Response": "app",
    "Catalog": "catalog",
    "Snapshot": "catalog",
    "Category": "categories",
    "EventHub": "events",
    "RESOURCES": "faults",
    "Faults": "faults",
    "RequestRecord": "faults",
    "Stats": "faults",
    "REQUIRED_SCOPES": "ims",
    "SOURCES": "inventory",
    "SourceItem": "inventory",
    "Product": "records",
    "build_catalog": "runner",
    "parse_stores": "runner",
    "serve_forever": "runner",
    "DEFAULT_CLIENT_ID": "server",
    "DEFAULT_CLIENT_SECRET": "server",
    "DEFAULT_ORG_ID": "server",
    "DEFAULT_TENANT": "server",
    "CannotListen": "server",
    "EmulatorServer": "server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # once is enough
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_ORG_ID",
    "DEFAULT_TENANT",
    "REQUIRED_SCOPES",
    "RESOURCES",
    "SOURCES",
    "CannotListen",
    "Catalog",
    "Category",
    "EmulatorApp",
    "EmulatorServer",
    "EventHub",
    "Faults",
    "Product",
    "RequestRecord",
    "Response",
    "Snapshot",
    "SourceItem",
    "Stats",
    "build_catalog",
    "parse_stores",
    "serve_forever",
]

"""``accs-sync demo``: the bundled emulator, a real sync over loopback HTTP, into SQLite."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from sync.redact import SecretFilter

__all__ = ["run_demo"]


def run_demo(products: int, database: Path, secrets: SecretFilter) -> int:
    """Start the emulator, mirror it, print a summary. Returns the exit code."""
    from sync.app import build_app
    from sync.emulator import Catalog, EmulatorServer
    from sync.settings import Settings, load_settings

    database = database.resolve()
    # The demo owns its file: start clean so a second demo is not an incremental run of
    # a different generated catalog.
    for leftover in (
        database,
        *(database.with_name(database.name + s) for s in ("-wal", "-shm", ".lock")),
    ):
        leftover.unlink(missing_ok=True)
    print(f"Starting the bundled ACCS emulator with {products} generated products...")
    catalog = Catalog.generate(products, seed=1)
    with EmulatorServer(catalog) as emulator:
        creds = emulator.credentials
        settings: Settings = load_settings(
            ims_client_id=creds["IMS_CLIENT_ID"],
            ims_client_secret=creds["IMS_CLIENT_SECRET"],
            ims_org_id=creds["IMS_ORG_ID"],
            api_endpoint=creds["API_ENDPOINT"],
            ims_token_url=creds["IMS_TOKEN_URL"],
            database_url=f"sqlite:///{database}",
            # A throwaway emulator's tokens are worth nothing tomorrow: keep them in memory.
            sync_token_cache="none",  # noqa: S106 - a setting value, not a password
        )
        print(
            f"Emulator listening on {emulator.base_url} (tenant endpoint {emulator.api_endpoint})"
        )
        started = time.monotonic()
        with build_app(settings, stop_event=threading.Event(), secrets=secrets) as app:
            stats = app.run("sync")
        elapsed = time.monotonic() - started
    if stats.status != "success":
        print(f"accs-sync demo: the sync {stats.status}: {stats.error}")
        return 1
    with sqlite3.connect(database) as conn:
        total, tree, stock, attributes = (
            conn.execute(f"SELECT COUNT(*) FROM {table} WHERE deleted_at IS NULL").fetchone()[0]  # noqa: S608
            for table in (  # fixed names
                "products",
                "categories",
                "inventory_source_items",
                "product_attribute_metadata",
            )
        )
        # An attribute's options go with it (no tombstones): every row is live.
        (options,) = conn.execute("SELECT COUNT(*) FROM product_attribute_options").fetchone()
        sample = conn.execute(
            "SELECT sku, name, price FROM products WHERE deleted_at IS NULL "
            "ORDER BY updated_at DESC, id DESC LIMIT 3"
        ).fetchall()
    mode = ", ".join(f"{s.store_code}: {s.mode}" for s in stats.stores)
    print()
    print(f"Synced {stats.products} products in {stats.pages} pages in {elapsed:.1f}s ({mode}).")
    print(
        f"The mirror holds {total} products, {tree} categories, {stock} source items, "
        f"{attributes} attributes and {options} attribute options: {database}"
    )
    for sku, name, price in sample:
        shown = "-" if price is None else f"{float(price):.2f}"
        print(f"  {sku:<24} {str(name)[:40]:<40} {shown:>10}")
    print()
    print("Next:")
    print(f"  accs-sync status --database-url sqlite:///{database}")
    query = (
        "SELECT sku, name, price FROM products WHERE store_code = 'default' "
        "AND deleted_at IS NULL ORDER BY updated_at DESC LIMIT 10"
    )
    print(f'  sqlite3 {database} "{query}"')
    print("  accs-sync emulator --port 8080   # then point accs-sync sync at it (see README)")
    return 0

"""Categories and inventory source items beside products, end to end on every database.

Runs ``accs-sync sync`` (in-process CLI) against the emulator and compares each table with the
emulator's own records: a first run fills all three resources; incremental runs see category
renames and deletions; stock moves reach ``inventory_source_items`` in the next source-items
run without a product reconcile; ``product_categories`` follows product changes; a resource
ACCS forbids is skipped with one line naming its ACL while the others are mirrored; and every
change reaches ``catalog_changes`` in commit order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.schema import (
    catalog_changes,
    categories,
    inventory_source_items,
    product_categories,
    products,
    sync_runs,
)
from sync.emulator import EmulatorServer
from sync.emulator.inventory import render_source_item
from tests.integration.mirror import rows

pytestmark = pytest.mark.integration


def mirrored_categories(db_url: str, store: str = "default") -> dict[int, dict[str, Any]]:
    t = categories.c
    query = sa.select(t.id, t.parent_id, t.name, t.position, t.level, t.path, t.is_active).where(
        t.store_code == store, t.deleted_at.is_(None)
    )
    return {r.id: dict(r._mapping) for r in rows(db_url, query)}


def upstream_categories(emulator: EmulatorServer, store: str = "default") -> dict[int, Any]:
    out = {}
    for category in emulator.catalog.categories():
        item = emulator.catalog.category(category.id, store)
        assert item is not None
        out[category.id] = {
            "id": item["id"],
            "parent_id": item.get("parent_id"),
            "name": item.get("name"),
            "position": item.get("position"),
            "level": item.get("level"),
            "path": item.get("path"),
            "is_active": item.get("is_active"),
        }
    return out


def mirrored_stock(db_url: str) -> dict[tuple[str, str], tuple[Decimal, int]]:
    t = inventory_source_items.c
    query = sa.select(t.source_code, t.sku, t.quantity, t.status).where(t.deleted_at.is_(None))
    return {(r.source_code, r.sku): (Decimal(r.quantity), r.status) for r in rows(db_url, query)}


def upstream_stock(emulator: EmulatorServer) -> dict[tuple[str, str], tuple[Decimal, int]]:
    out = {}
    for item in emulator.catalog.source_items():
        shown = render_source_item(item)
        out[(shown["source_code"], shown["sku"])] = (
            Decimal(str(shown["quantity"])),
            shown["status"],
        )
    return out


def changes(db_url: str, resource: str) -> list[tuple[str, str]]:
    t = catalog_changes.c
    query = sa.select(t.entity_key, t.op).where(t.resource == resource).order_by(t.seq)
    return [(r.entity_key, r.op) for r in rows(db_url, query)]


def last_run_status(db_url: str) -> str:
    query = sa.select(sync_runs.c.status).order_by(sync_runs.c.id.desc()).limit(1)
    return str(rows(db_url, query)[0].status)


def sync(*args: str) -> int:
    return main(["sync", "--quiet", *args])


def test_a_first_sync_mirrors_products_categories_and_source_items(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNC_RESOURCES", raising=False)  # the default: all three
    assert sync() == 0
    assert mirrored_categories(db_url) == upstream_categories(emulator)
    assert mirrored_stock(db_url) == upstream_stock(emulator)
    assert len(rows(db_url, sa.select(products.c.id))) == 750
    # Every product's category links, as ACCS sends them.
    links = {
        (r.product_id, r.category_id)
        for r in rows(
            db_url, sa.select(product_categories.c.product_id, product_categories.c.category_id)
        )
    }
    expected = {
        (item["id"], int(link["category_id"]))
        for item in emulator.catalog.items()
        for link in item.get("extension_attributes", {}).get("category_links", [])
    }
    assert links == expected and links
    # The change log holds every row once, resource by resource, in commit order.
    seqs = [
        r.seq
        for r in rows(db_url, sa.select(catalog_changes.c.seq).order_by(catalog_changes.c.seq))
    ]
    assert seqs == sorted(seqs)
    assert len(changes(db_url, "products")) == 750
    assert len(changes(db_url, "categories")) == len(upstream_categories(emulator))
    assert len(changes(db_url, "source_items")) == len(upstream_stock(emulator))
    # A second run over the unchanged catalog writes nothing.
    assert sync() == 0
    assert len(rows(db_url, sa.select(catalog_changes.c.seq))) == len(seqs)


def test_incremental_runs_see_category_renames_and_deletions(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_RESOURCES", "categories")
    assert sync() == 0
    before = mirrored_categories(db_url)
    leaf = max(cid for cid, c in before.items() if c["level"] and c["level"] >= 2)
    renamed = next(cid for cid in sorted(before) if cid > 2 and cid != leaf)
    emulator.catalog.update_category(renamed, name="Renamed Gear")
    gone = emulator.catalog.delete_category(leaf)
    assert sync() == 0
    after = mirrored_categories(db_url)
    assert after == upstream_categories(emulator)
    assert after[renamed]["name"] == "Renamed Gear"
    assert all(cid not in after for cid in gone)
    tombstoned = rows(
        db_url,
        sa.select(categories.c.id).where(categories.c.deleted_at.is_not(None)),
    )
    assert {r.id for r in tombstoned} == set(gone)
    log = changes(db_url, "categories")
    assert (str(renamed), "update") in log
    assert all((str(cid), "delete") in log for cid in gone)


def test_stock_moves_reach_the_mirror_in_the_next_source_items_run(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNC_RESOURCES", raising=False)
    assert sync() == 0
    some = sorted(upstream_stock(emulator))[:3]
    (source, sku), (other_source, other_sku) = some[0], some[2]
    product_updated = rows(db_url, sa.select(products.c.updated_at).where(products.c.sku == sku))
    emulator.catalog.set_source_item(sku, source, 7, 1)
    emulator.catalog.remove_source_item(other_sku, other_source)
    requests_before = len(emulator.stats.list_requests())
    assert sync("--resource", "source_items") == 0
    assert len(emulator.stats.list_requests()) == requests_before  # no product was read
    stock = mirrored_stock(db_url)
    assert stock == upstream_stock(emulator)
    assert stock[(source, sku)] == (Decimal(7), 1)
    assert (other_source, other_sku) not in stock
    removed = rows(
        db_url,
        sa.select(inventory_source_items.c.deleted_at).where(
            inventory_source_items.c.source_code == other_source,
            inventory_source_items.c.sku == other_sku,
        ),
    )
    assert removed[0].deleted_at is not None
    log = changes(db_url, "source_items")
    assert (f"{source}/{sku}", "update") in log and (f"{other_source}/{other_sku}", "delete") in log
    assert (
        rows(db_url, sa.select(products.c.updated_at).where(products.c.sku == sku))
        == product_updated
    )


def test_product_categories_follow_product_changes(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_RESOURCES", "products")
    assert sync() == 0
    pid = emulator.catalog.ids()[10]
    emulator.catalog.update(pid, category_ids=(3, 20))
    assert sync() == 0
    linked = rows(
        db_url,
        sa.select(product_categories.c.category_id, product_categories.c.position)
        .where(product_categories.c.product_id == pid)
        .order_by(product_categories.c.category_id),
    )
    assert [(r.category_id, r.position) for r in linked] == [(3, 0), (20, 1)]


@pytest.mark.parametrize(
    ("status", "concurrency"),
    [(401, "4"), (403, "1")],  # Magento's own 401 (with source workers), a gateway's 403
)
def test_a_forbidden_resource_is_named_and_the_others_are_mirrored(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
    concurrency: str,
) -> None:
    monkeypatch.delenv("SYNC_RESOURCES", raising=False)
    monkeypatch.setenv("SYNC_CONCURRENCY", concurrency)
    emulator.faults.forbidden = {"source_items"}
    emulator.faults.forbidden_status = status
    assert sync() == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("accs-sync: error:")]
    assert lines == [
        f"accs-sync: error: source_items: ACCS refused access ({status}); the API credential's "
        "integration needs the ACL resource Magento_InventoryApi::source (or leave "
        "source_items out of SYNC_RESOURCES)"
    ]
    assert "IMS_CLIENT_SECRET" not in err  # a refusal, not bad credentials
    # The first token, and one fresh token for the one re-send of a 401: no mint after it.
    assert emulator.stats.tokens_issued == (2 if status == 401 else 1)
    assert last_run_status(db_url) == "partial"
    assert len(rows(db_url, sa.select(products.c.id))) == 750
    assert mirrored_categories(db_url) == upstream_categories(emulator)
    assert mirrored_stock(db_url) == {}
    # Access granted: the next run mirrors it and succeeds.
    emulator.faults.forbidden = set()
    assert sync() == 0
    assert mirrored_stock(db_url) == upstream_stock(emulator)
    assert last_run_status(db_url) == "success"


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_source_items_by_source_side_by_side_or_one_after_another(
    concurrency: str,
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With SYNC_CONCURRENCY > 1 each source is walked by its own worker (one writer); with 1
    the key is walked as a whole. Both mirror every item once and sweep what is gone."""
    monkeypatch.setenv("SYNC_RESOURCES", "source_items")
    monkeypatch.setenv("SYNC_CONCURRENCY", concurrency)
    emulator.faults.latency = 0.01  # requests overlap only if they are sent side by side
    emulator.faults.error_5xx_every = 9
    assert sync() == 0
    assert mirrored_stock(db_url) == upstream_stock(emulator)
    records = [r for r in emulator.stats.recent if r.kind == "source_items"]
    sources = {
        r.params().get("searchCriteria[filterGroups][0][filters][0][value]") for r in records
    }
    if concurrency == "1":
        assert emulator.stats.max_in_flight == 1
    else:
        assert {"default", "eu_warehouse"} <= sources
        assert emulator.stats.max_in_flight >= 2
    # Every item was written once: one insert each in the change log.
    log = changes(db_url, "source_items")
    assert len(log) == len(set(log)) == len(upstream_stock(emulator))
    some = sorted(upstream_stock(emulator))[5]
    emulator.catalog.remove_source_item(some[1], some[0])
    assert sync() == 0
    assert mirrored_stock(db_url) == upstream_stock(emulator)

"""A pass over given keys (``accs-sync sync --sku SKU / --id ID``), end to end on every database.

Runs the in-process CLI against the emulator and reads the emulator's request log: exactly
the requests expected (an ``entity_id in`` / ``sku in`` filter, 300 keys a request, then the
source items of those skus), what ACCS no longer has tombstoned (products and source items),
keys neither upstream nor mirrored reported, an unchanged product not rewritten, and nothing
else of the mirror moved (watermarks, other products).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.schema import (
    catalog_changes,
    inventory_source_items,
    product_changes,
    products,
    sync_runs,
    sync_state,
)
from sync.emulator import EmulatorServer
from sync.emulator.faults import RequestRecord
from tests.integration.mirror import rows

pytestmark = pytest.mark.integration


def filters(record: RequestRecord) -> list[tuple[str, str, str]]:
    """(field, condition, value) of every filter a request sent, in order."""
    params = record.params()
    out = []
    for g in range(10):
        prefix = f"searchCriteria[filterGroups][{g}][filters][0]"
        if f"{prefix}[field]" not in params:
            break
        out.append(
            (
                params[f"{prefix}[field]"],
                params[f"{prefix}[conditionType]"],
                params[f"{prefix}[value]"],
            )
        )
    return out


def sorts(record: RequestRecord) -> list[tuple[str, str]]:
    params = record.params()
    out = []
    for n in range(5):
        field = params.get(f"searchCriteria[sortOrders][{n}][field]")
        if field is None:
            break
        out.append((field, params[f"searchCriteria[sortOrders][{n}][direction]"]))
    return out


def accs_requests(emulator: EmulatorServer) -> list[RequestRecord]:
    return [r for r in emulator.stats.recent if r.kind not in ("token", "authorize", "other")]


def product_rows(db_url: str) -> dict[int, Any]:
    t = products.c
    query = sa.select(t.id, t.sku, t.name, t.deleted_at, t.synced_at).where(
        t.store_code == "default"
    )
    return {r.id: r for r in rows(db_url, query)}


def stock_rows(db_url: str, sku: str) -> dict[str, Any]:
    t = inventory_source_items.c
    query = sa.select(t.source_code, t.quantity, t.deleted_at).where(t.sku == sku)
    return {r.source_code: r for r in rows(db_url, query)}


def state(db_url: str) -> list[tuple[Any, ...]]:
    t = sync_state.c
    return [tuple(r) for r in rows(db_url, sa.select(t.store_code, t.key, t.value).order_by(t.key))]


def last_run(db_url: str) -> Any:
    return rows(db_url, sa.select(sync_runs).order_by(sync_runs.c.id.desc()).limit(1))[0]


@pytest.fixture
def mirrored(sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A first sync of products and source items, then a clean request log."""
    monkeypatch.setenv("SYNC_RESOURCES", "products,source_items")
    assert main(["sync", "--quiet"]) == 0


def test_a_sku_and_an_id_are_refetched_with_exactly_the_requests_expected(
    mirrored: None, emulator: EmulatorServer, db_url: str
) -> None:
    items = sorted(emulator.catalog.items(), key=lambda i: i["id"])
    changed, same = items[10], items[20]
    emulator.catalog.update(changed["id"], name="Renamed by support")
    before = product_rows(db_url)
    watermarks = state(db_url)
    emulator.stats.reset()

    assert main(["sync", "--quiet", "--sku", changed["sku"], "--id", str(same["id"])]) == 0

    asked = accs_requests(emulator)
    # Ids, then skus, then the source items of both skus (sorted): nothing else, no probes.
    assert [(r.kind, filters(r)) for r in asked] == [
        ("list", [("entity_id", "in", str(same["id"]))]),
        ("list", [("sku", "in", changed["sku"])]),
        ("source_items", [("sku", "in", ",".join(sorted([changed["sku"], same["sku"]])))]),
    ]
    assert sorts(asked[0]) == sorts(asked[1]) == [("entity_id", "ASC")]
    after = product_rows(db_url)
    assert after[changed["id"]].name == "Renamed by support"
    # The unchanged product is not rewritten; nothing else moved.
    assert after[same["id"]].synced_at == before[same["id"]].synced_at
    assert {pid: r for pid, r in after.items() if pid != changed["id"]} == {
        pid: r for pid, r in before.items() if pid != changed["id"]
    }
    t = product_changes.c
    logged = rows(db_url, sa.select(t.product_id, t.op).where(t.run_id == last_run(db_url).id))
    assert [tuple(r) for r in logged] == [(changed["id"], "update")]
    assert state(db_url) == watermarks  # watermarks and checkpoints never move
    run = last_run(db_url)
    assert (run.kind, run.status, run.products_written, run.products_unchanged) == (
        "refetch",
        "success",
        1,
        1,
    )


@pytest.mark.parametrize(
    "db_url", ["sqlite"], indirect=True
)  # requests asked: the same on every database
def test_301_ids_are_two_requests(
    mirrored: None, emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_PAGE_SIZE", "300")
    monkeypatch.setenv("SYNC_RESOURCES", "products")
    ids = sorted(emulator.catalog.ids())[:301]
    emulator.stats.reset()
    assert main(["sync", "--quiet", *(f"--id={pid}" for pid in ids)]) == 0
    asked = accs_requests(emulator)
    assert [r.kind for r in asked] == ["list", "list"]
    values = [filters(r)[0][2].split(",") for r in asked]
    assert [len(v) for v in values] == [300, 1]
    assert [int(v) for part in values for v in part] == ids
    assert all(r.params()["searchCriteria[pageSize]"] == "300" for r in asked)
    run = last_run(db_url)
    assert (run.kind, run.status, run.pages, run.products_unchanged) == (
        "refetch",
        "success",
        2,
        301,
    )


@pytest.mark.parametrize(
    "db_url", ["sqlite"], indirect=True
)  # requests asked: the same on every database
def test_a_small_page_size_pages_inside_a_chunk(
    mirrored: None, emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SYNC_PAGE_SIZE 100 (or a store's cap): at most 100 keys a request."""
    monkeypatch.setenv("SYNC_RESOURCES", "products")
    ids = sorted(emulator.catalog.ids())[:250]
    emulator.stats.reset()
    assert main(["sync", "--quiet", *(f"--id={pid}" for pid in ids)]) == 0
    asked = accs_requests(emulator)
    assert [len(filters(r)[0][2].split(",")) for r in asked] == [100, 100, 50]
    assert last_run(db_url).products_unchanged == 250


def test_deleted_keys_are_tombstoned_and_unknown_keys_reported(
    mirrored: None,
    emulator: EmulatorServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    items = sorted(emulator.catalog.items(), key=lambda i: i["id"])
    by_sku, by_id = items[3], items[4]
    kept = next(
        i for i in items[5:] if len({s.source_code for s in _stock(emulator, i["sku"])}) > 1
    )
    assert stock_rows(db_url, by_sku["sku"]) and stock_rows(db_url, by_id["sku"])
    emulator.catalog.delete(by_sku["id"])
    emulator.catalog.delete(by_id["id"])
    gone_source = sorted(s.source_code for s in _stock(emulator, kept["sku"]))[-1]
    emulator.catalog.remove_source_item(kept["sku"], gone_source)
    other = items[6]
    capsys.readouterr()

    code = main(
        [
            "sync",
            "--json",
            "--sku",
            by_sku["sku"],
            "--id",
            str(by_id["id"]),
            "--sku",
            kept["sku"],
            "--sku",
            "NO-SUCH-SKU",
            "--id",
            "99999999",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["status"] == "success" and document["kind"] == "refetch"
    assert document["unknown_keys"] == ["id:99999999", "sku:NO-SUCH-SKU"]
    assert document["deleted"] == 2

    after = product_rows(db_url)
    assert after[by_sku["id"]].deleted_at is not None
    assert after[by_id["id"]].deleted_at is not None
    assert after[kept["id"]].deleted_at is None and after[other["id"]].deleted_at is None
    t = product_changes.c
    run_id = last_run(db_url).id
    deletes = rows(
        db_url, sa.select(t.product_id).where(t.run_id == run_id, t.op == "delete").order_by(t.seq)
    )
    assert [r.product_id for r in deletes] == sorted([by_sku["id"], by_id["id"]])
    # Their source items, and the one unassigned from a product still there, are tombstoned.
    for sku in (by_sku["sku"], by_id["sku"]):
        assert all(r.deleted_at is not None for r in stock_rows(db_url, sku).values())
    stock = stock_rows(db_url, kept["sku"])
    assert stock[gone_source].deleted_at is not None
    assert all(r.deleted_at is None for code, r in stock.items() if code != gone_source)
    c = catalog_changes.c
    logged = rows(
        db_url,
        sa.select(c.entity_key).where(
            c.run_id == run_id, c.resource == "source_items", c.op == "delete"
        ),
    )
    assert f"{gone_source}/{kept['sku']}" in {r.entity_key for r in logged}
    assert last_run(db_url).products_deleted == 2


@pytest.mark.parametrize(
    "db_url", ["sqlite"], indirect=True
)  # requests asked: the same on every database
def test_a_refetch_without_source_items_in_sync_resources_asks_for_none(
    mirrored: None, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_RESOURCES", "products,categories")
    sku = next(iter(emulator.catalog.items()))["sku"]
    emulator.stats.reset()
    assert main(["sync", "--quiet", "--sku", sku]) == 0
    assert [r.kind for r in accs_requests(emulator)] == ["list"]


def _stock(emulator: EmulatorServer, sku: str) -> list[Any]:
    return [s for s in emulator.catalog.source_items() if s.sku == sku]


@pytest.mark.parametrize(
    "db_url", ["sqlite"], indirect=True
)  # requests asked: the same on every database
def test_a_store_page_size_cap_pages_the_chunk_and_shrinks_the_next(
    mirrored: None, emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that refuses pageSize 300 ("Maximum SearchCriteria pageSize is 120"): the chunk
    asked is paged by id inside at the cap, and the next chunks ask for at most 120 keys."""
    monkeypatch.setenv("SYNC_PAGE_SIZE", "300")
    monkeypatch.setenv("SYNC_RESOURCES", "products")
    emulator.faults.max_page_size = 120
    ids = sorted(emulator.catalog.ids())[:500]
    emulator.stats.reset()
    assert main(["sync", "--quiet", *(f"--id={pid}" for pid in ids)]) == 0
    answered = [r for r in accs_requests(emulator) if r.status == 200]
    keys_asked = [len(filters(r)[0][2].split(",")) for r in answered]
    # The first chunk of 300 keys in three pages (the 2nd and 3rd after "entity_id > last"),
    # then 120 keys a request.
    assert keys_asked == [300, 300, 300, 120, 80]
    assert [len(filters(r)) for r in answered] == [1, 2, 2, 1, 1]
    assert last_run(db_url).products_unchanged == 500

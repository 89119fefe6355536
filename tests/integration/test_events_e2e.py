"""Issue 16 tried as a user would, against the emulator's eventing and journal: `events setup`
twice subscribes once (and says what to create in the Developer Console); a price change, a
default-source stock move and a category rename reach the mirror through `events consume
--once`; `events status` shows the position and lag; a journal gap reconciles; the journal's
faults (duplicates, reordering, 429s, a revoked token) change nothing in the end."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.schema import categories, inventory_source_items, products, sync_runs
from sync.emulator import EmulatorServer
from tests.integration.mirror import rows

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    capsys.readouterr()
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def events_env(
    sync_env: dict[str, str], emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> EmulatorServer:
    """Subscribed, mirrored once, the journal URL set."""
    monkeypatch.setenv("SYNC_RESOURCES", "products,categories,source_items")
    assert main(["events", "setup"]) == 0
    monkeypatch.setenv("IO_EVENTS_JOURNAL_URL", emulator.journal_url)
    assert main(["sync", "--quiet"]) == 0
    return emulator


def test_setup_twice_subscribes_once_and_explains_the_console(
    sync_env: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first = run_json(["events", "setup", "--json"], capsys)
    assert code == 0 and len(first["subscribed"]) == 5 and first["priority"] is True
    assert not first["journal_url_set"]
    assert any("Developer Console" in line for line in first["next_steps"])
    code, second = run_json(["events", "setup", "--json"], capsys)
    assert code == 0 and second["subscribed"] == [] and len(second["already_subscribed"]) == 5
    subscribed = emulator.events.subscriptions()
    assert len(subscribed) == 5 and all(s.priority for s in subscribed)
    fields = {s.name: s.fields for s in subscribed}
    assert fields["observer.catalog_product_save_commit_after"] == ("entity_id", "sku")


def test_changes_reach_the_mirror_through_the_journal(
    events_env: EmulatorServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = events_env
    catalog = emulator.catalog
    pid = catalog.ids()[5]
    sku = catalog.item(pid)["sku"]
    catalog.update(pid, price=123.45)
    catalog.set_stock(pid, 3)
    leaf = max(c.id for c in catalog.categories())
    catalog.update_category(leaf, name="Renamed by an event")
    gone = catalog.ids()[7]
    catalog.delete(gone)
    code, summary = run_json(["events", "consume", "--once", "--json"], capsys)
    assert code == 0 and summary["applied"] >= 4
    t = products.c
    found = {
        r.id: r
        for r in rows(db_url, sa.select(t.id, t.price, t.deleted_at).where(t.id.in_([pid, gone])))
    }
    assert found[pid].price == Decimal("123.45") and found[gone].deleted_at is not None
    s = inventory_source_items.c
    stock = rows(db_url, sa.select(s.quantity).where(s.sku == sku, s.source_code == "default"))
    assert stock[0].quantity == 3
    c = categories.c
    names = {r.name for r in rows(db_url, sa.select(c.name).where(c.id == leaf))}
    assert names == {"Renamed by an event"}
    code, status = run_json(["events", "status", "--json"], capsys)
    assert code == 0 and status["position"] is not None and status["lag_seconds"] is not None
    assert len(status["subscriptions"]) == 5 and status["last_error"] is None
    # The journal is empty now: another --once reads once and applies nothing.
    code, again = run_json(["events", "consume", "--once", "--json"], capsys)
    assert code == 0 and again == {"applied": 0, "duplicates": 0, "reads": 1, "gaps": 0}


def test_duplicates_reordering_429s_and_a_revoked_token_end_equal(
    events_env: EmulatorServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = events_env
    emulator.faults.events_duplicate_every = 2
    emulator.faults.events_reorder = True
    ids = emulator.catalog.ids()[:6]
    for n, pid in enumerate(ids):
        emulator.catalog.update(pid, price=10 + n)
    emulator.catalog.update(ids[0], price=99)  # a later change of the same product
    emulator.revoke_all_tokens()  # the cached token now answers 401: refreshed once
    emulator.faults.error_5xx_next = 1
    emulator.faults.rate_limit_next = 1
    code, summary = run_json(["events", "consume", "--once", "--json"], capsys)
    assert code == 0 and summary["duplicates"] >= 1
    t = products.c
    prices = {r.id: r.price for r in rows(db_url, sa.select(t.id, t.price).where(t.id.in_(ids)))}
    assert prices == {pid: Decimal(str(emulator.catalog.item(pid)["price"])) for pid in ids}
    assert prices[ids[0]] == Decimal("99")


def test_a_gap_reconciles_and_resumes_at_the_end(
    events_env: EmulatorServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = events_env
    pid = emulator.catalog.ids()[2]
    emulator.catalog.update(pid, price=1.5)
    assert main(["events", "consume", "--once", "--quiet"]) == 0
    emulator.catalog.update(pid, price=2.5)
    emulator.catalog.update(emulator.catalog.ids()[3], price=3.5)
    emulator.events.expire()  # the consumer's position is now older than the journal keeps
    code, summary = run_json(["events", "consume", "--once", "--json"], capsys)
    assert code == 0 and summary["gaps"] == 1
    t = products.c
    price = rows(db_url, sa.select(t.price).where(t.id == pid))[0].price
    assert price == Decimal("2.5")
    kinds = [r.kind for r in rows(db_url, sa.select(sync_runs.c.kind).order_by(sync_runs.c.id))]
    assert "reconcile" in kinds
    code, status = run_json(["events", "status", "--json"], capsys)
    assert status["gap"]["status"] == 410 and status["gap"]["reconcile_run"] is not None


def test_a_delete_then_a_recreate_of_the_same_sku_ends_live(
    events_env: EmulatorServer, db_url: str
) -> None:
    catalog = events_env.catalog
    old = catalog.ids()[9]
    sku = catalog.item(old)["sku"]
    catalog.delete(old)
    new = catalog.create(sku, name="Back again", price=5.0)["id"]
    assert main(["events", "consume", "--once", "--quiet"]) == 0
    t = products.c
    found = {
        r.id: r.deleted_at for r in rows(db_url, sa.select(t.id, t.deleted_at).where(t.sku == sku))
    }
    assert found[old] is not None and found[new] is None

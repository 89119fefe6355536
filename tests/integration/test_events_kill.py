"""kill -9 between the refetch and the commit loses nothing (issue 16), on every database.

A real ``accs-sync events consume --once`` applies a batch naming a changed product and a
stock move. The emulator's request hook kills it with SIGKILL while it waits for the source
items: the product's new row has been written in the batch's transaction, not committed. After
the kill neither the row nor the journal position has moved; the next consumer applies the
whole batch."""

from __future__ import annotations

import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from sync.cli import main
from sync.db.engine import normalize_url
from sync.db.schema import inventory_source_items, products
from sync.emulator import EmulatorServer, RequestRecord
from sync.events.state import load_state
from tests.integration.processes import CLI, clean_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def read(db_url: str, pid: int, sku: str) -> tuple[object, object, str | None]:
    engine = sa.create_engine(normalize_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            price = conn.execute(sa.select(products.c.price).where(products.c.id == pid)).scalar()
            s = inventory_source_items.c
            qty = conn.execute(
                sa.select(s.quantity).where(s.sku == sku, s.source_code == "default")
            ).scalar()
            return price, qty, load_state(conn).position
    finally:
        engine.dispose()


def test_a_consumer_killed_before_its_commit_loses_nothing(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNC_RESOURCES", "products,source_items")
    assert main(["events", "setup", "--json"]) == 0
    assert main(["sync", "--quiet"]) == 0
    pid = emulator.catalog.ids()[4]
    sku = emulator.catalog.item(pid)["sku"]
    before = read(db_url, pid, sku)
    emulator.catalog.update(pid, price=555.25)
    emulator.catalog.set_stock(pid, 42)

    proc: list[subprocess.Popen[bytes]] = []

    def kill_at_source_items(record: RequestRecord) -> None:
        if record.kind == "source_items" and proc and proc[0].poll() is None:
            proc[0].send_signal(signal.SIGKILL)
            proc[0].wait(timeout=30)

    emulator.faults.on_request.append(kill_at_source_items)
    env = clean_env(
        **sync_env,
        SYNC_RESOURCES="products,source_items",
        IO_EVENTS_JOURNAL_URL=emulator.journal_url,
        SYNC_TOKEN_CACHE="none",
    )
    proc.append(
        subprocess.Popen(
            [*CLI, "events", "consume", "--once", "--quiet"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    assert proc[0].wait(timeout=60) == -signal.SIGKILL
    assert read(db_url, pid, sku) == before  # no row, no position: one transaction
    emulator.faults.on_request.clear()

    monkeypatch.setenv("IO_EVENTS_JOURNAL_URL", emulator.journal_url)
    assert main(["events", "consume", "--once", "--quiet"]) == 0
    price, qty, position = read(db_url, pid, sku)
    assert price == Decimal("555.25") and qty == 42 and position is not None

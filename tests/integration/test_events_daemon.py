"""A real ``accs-sync daemon`` with IO_EVENTS_JOURNAL_URL: a price change in the emulator is in
the mirror within seconds through the journal (the schedule is an hour away), the metrics
show the events; a journal that does not answer never stops the scheduled polling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from sync.cli import main
from sync.db.engine import normalize_url
from sync.db.schema import products, sync_runs
from sync.emulator import EmulatorServer
from tests.integration.processes import clean_env, daemon_process
from tests.integration.test_daemon_http import free_port, get, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


def scalar(db_url: str, query: sa.Select) -> object:
    engine = sa.create_engine(normalize_url(db_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(query).scalar()
    finally:
        engine.dispose()


@contextmanager
def start(emulator: EmulatorServer, db_url: str, tmp_path: Path, **extra: str) -> Iterator[int]:
    port = free_port()
    env = clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_PAGE_SIZE="100",
        SYNC_RESOURCES="products,categories,source_items",
        SYNC_RECONCILE_SCHEDULE="off",
        SYNC_SOURCE_ITEMS_SCHEDULE="off",
        SYNC_HTTP_PORT=str(port),
        SYNC_TOKEN_CACHE="none",
        **extra,
    )
    with daemon_process(env, tmp_path) as process:
        yield port
    assert process.returncode == 0  # a graceful stop


def first_sync_done(db_url: str) -> bool:
    try:
        count = scalar(
            db_url,
            sa.select(sa.func.count()).where(
                sync_runs.c.kind == "sync", sync_runs.c.status == "success"
            ),
        )
    except sa.exc.OperationalError:
        return False
    return bool(count)


def test_a_price_change_is_mirrored_within_seconds_by_the_daemon(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    assert main(["events", "setup", "--json"]) == 0
    with start(
        emulator, db_url, tmp_path, SYNC_SCHEDULE="1h", IO_EVENTS_JOURNAL_URL=emulator.journal_url
    ) as port:
        wait_for(lambda: first_sync_done(db_url), "the daemon's first sync")
        pid = emulator.catalog.ids()[10]
        emulator.catalog.update(pid, price=777.5)
        price = sa.select(products.c.price).where(products.c.id == pid)
        wait_for(lambda: scalar(db_url, price) == Decimal("777.5"), "the event's refetch", 30)
        status, text = get(port, "/metrics")
        assert status == 200 and "accs_sync_events_read_total 1.0" in text
        assert get(port, "/readyz")[0] == 200
        # Read again at once: the journal is empty, the consumer caught up.
        caught_up = "accs_sync_events_caught_up 1.0"
        wait_for(lambda: caught_up in get(port, "/metrics")[1], "the consumer to catch up", 30)


def test_a_journal_outage_never_stops_the_scheduled_polling(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/events/organizations/1/integrations/2/3"
    with start(emulator, db_url, tmp_path, SYNC_SCHEDULE="1s", IO_EVENTS_JOURNAL_URL=dead) as port:
        wait_for(lambda: first_sync_done(db_url), "the daemon's first sync")
        runs = sa.select(sa.func.count()).where(sync_runs.c.kind == "sync")
        before = scalar(db_url, runs)
        assert isinstance(before, int)
        wait_for(lambda: (scalar(db_url, runs) or 0) >= before + 2, "scheduled syncs", 40)
        _, text = get(port, "/metrics")
        assert 'accs_sync_events_journal_requests_total{status="network"}' in text
        assert 'accs_sync_events_journal_requests_total{status="network"} 0.0' not in text

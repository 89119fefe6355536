"""Concurrent full passes on every database: id ranges side by side, deletions found inside the
pass, faults survived, and a 429 that pauses every worker."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from sync.api.products import ID_FIELDS
from sync.app import build_app
from sync.cli import main
from sync.clock import FakeClock
from sync.db.schema import product_changes, sync_rejects
from sync.emulator import Catalog, EmulatorServer, RequestRecord
from sync.ranges import even_ranges
from sync.settings import load_settings
from tests.integration.mirror import (
    assert_mirror_equals_upstream,
    mirror_by_id,
    page_requests,
    runs,
    served_counts,
)
from tests.integration.test_completeness import last_seq, query

pytestmark = pytest.mark.integration

PAGE = 50
WORKERS = 4


@pytest.fixture
def emulator() -> Any:
    """400 products: two pages of 50 in each of four ranges."""
    with EmulatorServer(Catalog.generate(400, seed=21)) as server:
        yield server


@pytest.fixture
def env(sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("SYNC_PAGE_SIZE", str(PAGE))
    monkeypatch.setenv("SYNC_CONCURRENCY", str(WORKERS))
    return sync_env


def changes_after(db_url: str, seq: int) -> list[tuple[int, str]]:
    t = product_changes.c
    rows = query(db_url, sa.select(t.product_id, t.op).where(t.seq > seq).order_by(t.seq))
    return [(r.product_id, r.op) for r in rows]


def id_listings(emulator: EmulatorServer) -> list[RequestRecord]:
    return [r for r in emulator.stats.list_requests() if r.params().get("fields") == ID_FIELDS]


def test_a_concurrent_backfill_pages_ranges_side_by_side_once_each(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    emulator.faults.latency = 0.02
    assert main(["backfill"]) == 0
    assert_mirror_equals_upstream(db_url, emulator)
    pages = page_requests(emulator)
    counts = served_counts(pages[1:])  # after the probe for the newest updated_at
    assert set(counts) == set(emulator.catalog.ids()) and set(counts.values()) == {1}
    # The newest-updated_at probe, then each range's pages (the last one of each is short);
    # no id listing afterwards.
    ids = sorted(emulator.catalog.ids())
    per_range = [
        sum(1 for pid in ids if r.committed < pid and (r.end is None or pid <= r.end))
        for r in even_ranges(ids[0], ids[-1], WORKERS)
    ]
    assert len(pages) == 1 + sum(-(-n // PAGE) for n in per_range)
    assert id_listings(emulator) == []
    assert emulator.stats.max_in_flight > 1  # the ranges really were fetched side by side
    [run] = runs(db_url)
    assert run["status"] == "success" and run["products_written"] == 400


def test_deletions_are_tombstoned_inside_the_pass_at_every_edge(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    catalog = emulator.catalog
    assert main(["backfill"]) == 0
    ids = sorted(catalog.ids())
    # What the next pass will see: its id bounds, its ranges and its pages.
    first, last = ids[0], ids[-1]
    rest = ids[1:-1]
    ranges = even_ranges(rest[0], rest[-1], WORKERS)
    cut = ranges[1].committed  # between the first and the second range
    below = max(pid for pid in rest if pid <= cut)
    above = min(pid for pid in rest if pid > cut)
    in_first = [pid for pid in rest if pid <= ranges[0].end]  # type: ignore[operator]
    # Both sides of the boundary between the first range's two pages: with in_first[49] and
    # in_first[51] gone, its first page ends at in_first[50].
    page_edge = [in_first[49], in_first[51]]
    gone = {first, last, below, above, *page_edge}
    bad = in_first[10]
    catalog.update(bad, type_id="x" * 40)  # rejected from now on, but it still exists
    for pid in gone:
        catalog.delete(pid)
    seq = last_seq(db_url)

    assert main(["backfill"]) == 0

    local = mirror_by_id(db_url)
    assert {pid for pid, row in local.items() if row["deleted_at"] is not None} == gone
    assert local[bad]["deleted_at"] is None  # a rejected item counts as present
    assert [r.product_id for r in query(db_url, sa.select(sync_rejects))] == [bad]
    assert sorted(changes_after(db_url, seq)) == sorted((pid, "delete") for pid in gone)
    assert id_listings(emulator) == []
    assert runs(db_url)[-1]["products_deleted"] == len(gone)

    # A deleted product comes back with its id; the next pass revives it, once.
    saved = first
    catalog.create(f"BACK-{saved}", id=saved, name="Back again", price=5)
    seq_back = last_seq(db_url)
    assert main(["backfill"]) == 0
    assert changes_after(db_url, seq_back) == [(saved, "insert")]
    assert mirror_by_id(db_url)[saved]["deleted_at"] is None

    # A consumer reading the change log by seq saw each change exactly once.
    log = changes_after(db_url, seq)
    assert len(log) == len(set(log)) == len(gone) + 1


def test_a_windowed_concurrent_backfill_never_tombstones(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    catalog = emulator.catalog
    assert main(["backfill"]) == 0
    victim = sorted(catalog.ids())[100]
    catalog.delete(victim)
    assert main(["backfill", "--since", "2000-01-01"]) == 0
    assert mirror_by_id(db_url)[victim]["deleted_at"] is None
    assert main(["backfill"]) == 0
    assert mirror_by_id(db_url)[victim]["deleted_at"] is not None


def test_a_concurrent_backfill_under_drift_and_faults_ends_equal_to_upstream(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    """5xx, dropped connections, a 429, a revoked token and upstream changes on both sides of
    every cursor while four ranges page: after the next incremental run the mirror is equal."""
    catalog = emulator.catalog
    assert main(["sync"]) == 0  # every deletion below removes a mirrored row
    original = set(catalog.ids())
    rng = random.Random(8)
    lock = threading.Lock()
    served = {"n": 0}
    deleted: set[int] = set()

    def drift(record: RequestRecord) -> None:
        if record.kind != "list":
            return
        with lock:
            served["n"] += 1
            n = served["n"]
            if n == 5:
                emulator.revoke_all_tokens()
            if not 3 <= n <= 9:
                return
            ids = catalog.ids()
            for pid in rng.sample(ids, 3):
                catalog.update(pid, price=round(rng.uniform(1, 500), 2), name=f"Drift {pid}")
            victim = rng.choice(sorted(original - deleted))
            catalog.delete(victim)
            deleted.add(victim)
            catalog.create(f"DRIFT-{n}", name="Created while paging", price=n)

    emulator.faults.on_request.append(drift)
    emulator.faults.error_5xx_every = 6
    emulator.faults.disconnect_next = 2
    emulator.faults.rate_limit_next = 1
    emulator.faults.retry_after = 2
    clock = FakeClock()  # retry waits are recorded, not slept
    with build_app(load_settings(), clock=clock) as app:
        stats = app.run("backfill")
    assert stats.status == "success", stats.error
    emulator.faults.reset()
    assert main(["sync"]) == 0
    assert original <= set(mirror_by_id(db_url)), "a row was hard-deleted"
    assert_mirror_equals_upstream(db_url, emulator, deleted=deleted)
    assert emulator.stats.server_errors >= 2 and emulator.stats.rate_limited == 1
    assert emulator.stats.unauthorized >= 1
    assert 2 in clock.sleeps  # the Retry-After was waited for


def test_a_429_pauses_every_worker_until_its_retry_after(
    env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    emulator.faults.latency = 0.05  # several workers are in flight when the 429 comes
    emulator.faults.retry_after = 1
    calls = {"n": 0}
    lock = threading.Lock()

    def limit_once(record: RequestRecord) -> None:
        with lock:
            calls["n"] += 1
            if calls["n"] == 6:
                emulator.faults.rate_limit_next = 1  # the next request to arrive gets a 429

    emulator.faults.on_request.append(limit_once)
    assert main(["backfill"]) == 0
    assert_mirror_equals_upstream(db_url, emulator)
    accs = [r for r in emulator.stats.recent if r.kind == "list"]
    [limited] = [r for r in accs if r.status == 429]
    resume = limited.answered + 1.0  # Retry-After: 1
    # Requests already on the wire may finish, and one a worker sent just before the client
    # read the 429 may arrive a little after it (on a loaded machine, tens of milliseconds);
    # nothing new arrives during the rest of the pause.
    during = [r for r in accs if limited.answered + 0.15 < r.arrived < resume - 0.05]
    assert during == [], [(r.seq, r.arrived - limited.answered) for r in during]
    later = [r for r in accs if r.arrived >= resume - 0.05]
    assert later, "the pass went on after the pause"
    assert runs(db_url)[-1]["status"] == "success"


def test_sync_concurrency_one_pages_one_request_at_a_time(
    env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNC_CONCURRENCY", "1")
    emulator.faults.latency = 0.01
    assert main(["backfill"]) == 0
    assert emulator.stats.max_in_flight == 1
    pages = page_requests(emulator)
    # No id-bounds probes: the probe for the newest updated_at, then the pages in id order.
    assert not [r for r in emulator.stats.list_requests() if "fields" in r.params()]
    served = [pid for r in pages[1:] for pid in r.served_ids]
    assert served == sorted(served) and len(served) == 400
    assert_mirror_equals_upstream(db_url, emulator)

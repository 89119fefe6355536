"""A concurrent backfill SIGKILLed at several points resumes every id range where its data stops.

Like ``test_backfill_kill.py``, real ``accs-sync backfill`` processes run against an emulator in
this process whose request hook picks the moment of the kill (while a page is on its way, or a
few milliseconds after one was served); here four ranges are paged side by side, so each kill
can catch several pages in flight. Every restart must ask each range from its checkpointed
position, never serve again an id that was committed, and refetch at most two pages per range
(one being written, one fetched ahead while it was).
"""

from __future__ import annotations

import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sync.db.engine import make_engine
from sync.emulator import Catalog, EmulatorServer
from tests.integration.mirror import assert_mirror_equals_upstream, page_requests
from tests.integration.processes import CLI, clean_env
from tests.integration.test_backfill_kill import Killer, state, wait_for_run_lock

PRODUCTS = 900
PAGE = 30
WORKERS = 4
KILLS = 3
F0 = "searchCriteria[filterGroups][0][filters][0]"
F1 = "searchCriteria[filterGroups][1][filters][0]"


def _upto(request: Any) -> int | None:
    """The upper bound of a range's page request (None: the open last range)."""
    value = request.params().get(f"{F1}[value]")
    return None if value is None else int(value)


def committed_ids(db_url: str) -> set[int]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT id FROM products")).scalars())
    finally:
        engine.dispose()


def test_a_concurrent_backfill_killed_at_random_points_resumes_every_range(
    db_url: str, tmp_path: Path
) -> None:
    rng = random.Random(17)
    catalog = Catalog.generate(PRODUCTS, seed=13)
    killer = Killer()
    with EmulatorServer(catalog) as emulator:
        emulator.faults.latency = 0.005  # several ranges' requests overlap
        env = clean_env(
            **emulator.credentials,
            DATABASE_URL=db_url,
            SYNC_PAGE_SIZE=str(PAGE),
            SYNC_CONCURRENCY=str(WORKERS),
        )
        emulator.faults.on_request.append(killer)
        ranges_left: list[dict[str, int | None]] = []
        fetched_before_kill: set[int] = set()
        refetched = 0
        for attempt in range(KILLS + 1):
            before = len(page_requests(emulator))
            done_before = committed_ids(db_url) if attempt else set()
            log = tmp_path / f"backfill-{attempt}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [*CLI, "backfill"], env=env, cwd=tmp_path, stdout=out, stderr=out
                )
            if attempt < KILLS:
                at = rng.randint(3, 10)  # past the probes, while ranges page
                killer.arm(proc, at, None if attempt == 0 else rng.uniform(0.0, 0.02))
                assert proc.wait(timeout=60) == -signal.SIGKILL, log.read_text()
                wait_for_run_lock(db_url)
            else:
                killer.proc = None
                assert proc.wait(timeout=60) == 0, log.read_text()
            requests = [
                r for r in page_requests(emulator)[before:] if r.seq not in killer.after_kill
            ]
            pages = [r for r in requests if r.params()["searchCriteria[pageSize]"] != "1"]
            served = [pid for r in pages for pid in r.served_ids]
            if attempt:
                # Nothing committed before the kill is fetched again ...
                assert not set(served) & done_before
                # ... and every unfinished range is asked from its checkpointed position first.
                # What the process sent counts, answered or held at its kill: a worker may
                # send a range's first request after another's read-ahead, so a process killed
                # a few requests in may die before asking a range at all (four workers, four
                # or more ranges; more likely on a loaded machine). The run that is not killed
                # must ask every one.
                sent = [
                    r
                    for r in page_requests(emulator)[before:]
                    if r.params()["searchCriteria[pageSize]"] != "1"
                ]
                starts = {(int(r.params()[f"{F0}[value]"]), _upto(r)) for r in sent}
                for left in ranges_left:
                    inside = [
                        (after, upto)
                        for after, upto in starts
                        if left["after"] <= after and (left["upto"] is None or after < left["upto"])
                    ]
                    if inside or attempt == KILLS:
                        assert (left["after"], left["upto"]) in starts, (left, sorted(starts))
                # What was fetched but not committed when it died: two pages per range at most
                # (one being written and the next, fetched meanwhile).
                refetched += len(set(served) & fetched_before_kill)
            checkpoint, _, rows = state(db_url)
            if attempt < KILLS:
                assert checkpoint is not None
                ranges_left = checkpoint["ranges"]
                assert ranges_left, "killed before anything was left to do"
                committed = committed_ids(db_url)
                assert rows == len(committed)
                # Every committed id lies outside what the checkpoint still has to do.
                for pid in committed:
                    assert not any(
                        r["after"] < pid and (r["upto"] is None or pid <= r["upto"])
                        for r in ranges_left
                    ), pid
                fetched_before_kill = set(served) - committed
                assert len(fetched_before_kill) <= 2 * WORKERS * PAGE
            else:
                assert checkpoint is None
        assert_mirror_equals_upstream(db_url, emulator, deleted=())
        assert refetched <= KILLS * 2 * WORKERS * PAGE

"""A backfill killed with SIGKILL at random moments resumes from its last committed checkpoint.

Real ``accs-sync backfill`` processes run against an emulator in this process. The emulator's
request hook chooses the moment: it kills the process either while it waits for a page (the
page before committed or still being written) or a few milliseconds after a page was served
(while it is being written, or just after). Every later request of a killed process is held until it is dead, so
a kill can never come too late. The request log then shows what each restart fetched.
"""

from __future__ import annotations

import math
import random
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sync.db.engine import make_engine
from sync.db.lock import AlreadyRunning, instance_lock
from sync.db.schema import sync_runs
from sync.db.state import BACKFILL_CHECKPOINT, WATERMARK, get_state
from sync.emulator import Catalog, EmulatorServer, RequestRecord
from tests.integration.mirror import assert_mirror_equals_upstream, page_requests
from tests.integration.processes import CLI, clean_env

PRODUCTS = 600
PAGE = 50
KILLS = 3
GT = "searchCriteria[filterGroups][0][filters][0]"


class Killer:
    """An emulator request hook that SIGKILLs the current backfill at its ``at``-th listing."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.at = 0
        self.delay: float | None = None  # None: kill before answering the request
        self.seen = 0
        self.dead = threading.Event()
        self.after_kill: set[int] = set()  # request seqs never answered to a living process

    def arm(self, proc: subprocess.Popen[bytes], at: int, delay: float | None) -> None:
        self.proc, self.at, self.delay, self.seen = proc, at, delay, 0
        self.dead.clear()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.dead.set()

    def __call__(self, record: RequestRecord) -> None:
        if record.kind != "list" or self.proc is None:
            return
        self.seen += 1
        if self.seen < self.at:
            return
        if self.seen == self.at and self.delay is not None:
            threading.Timer(self.delay, self.kill).start()
            return
        if self.seen == self.at:
            self.kill()
        else:  # the timer has not fired yet: hold this request until the process is dead
            assert self.dead.wait(timeout=30)
        self.after_kill.add(record.seq)


def wait_for_run_lock(db_url: str) -> None:
    """Wait until the database has released the killed process's run lock: PostgreSQL and
    MariaDB drop it when they notice the dead connection, which can lag a kill slightly (a
    user re-running at once would be told another run is active)."""
    engine = make_engine(db_url)
    try:
        for _ in range(200):
            try:
                with instance_lock(engine):
                    return
            except AlreadyRunning:
                threading.Event().wait(0.05)
        raise AssertionError("the run lock of a killed process was never released")
    finally:
        engine.dispose()


def state(db_url: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None, int]:
    """(backfill checkpoint, watermark, number of rows) as committed in the database."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            checkpoint = get_state(conn, "default", BACKFILL_CHECKPOINT)
            watermark = get_state(conn, "default", WATERMARK)
            rows = conn.execute(sa.text("SELECT COUNT(*) FROM products")).scalar_one()
            return checkpoint, watermark, int(rows)
    finally:
        engine.dispose()


def test_a_backfill_killed_at_random_points_resumes_from_its_checkpoint(
    db_url: str, tmp_path: Path
) -> None:
    rng = random.Random(9)
    catalog = Catalog.generate(PRODUCTS, seed=5)
    killer = Killer()
    with EmulatorServer(catalog) as emulator:
        env = clean_env(
            **emulator.credentials,
            DATABASE_URL=db_url,
            SYNC_PAGE_SIZE=str(PAGE),
            SYNC_CONCURRENCY="1",  # one id range: see test_concurrent_kill.py for several
        )
        emulator.faults.on_request.append(killer)
        created = 0
        watermarks: list[tuple[str, int]] = []
        last_id: int | None = None  # checkpoint left by the previous, killed process
        for attempt in range(KILLS + 1):
            before = len(page_requests(emulator))
            log = tmp_path / f"backfill-{attempt}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [*CLI, "backfill"], env=env, cwd=tmp_path, stdout=out, stderr=out
                )
            if attempt < KILLS:
                remaining = math.ceil((catalog.max_id - (last_id or 0)) / PAGE)
                first_page = 1 if last_id is not None else 2  # a fresh pass probes first
                at = rng.randint(first_page, first_page + remaining // 3)
                delay = None if attempt == 0 else rng.uniform(0.0, 0.03)
                killer.arm(proc, at, delay)
                assert proc.wait(timeout=60) == -signal.SIGKILL, log.read_text()
                wait_for_run_lock(db_url)
            else:
                killer.proc = None
                assert proc.wait(timeout=60) == 0, log.read_text()
            requests = [
                r for r in page_requests(emulator)[before:] if r.seq not in killer.after_kill
            ]
            if last_id is not None:
                # The restart asks for what follows the checkpoint, and nothing before it.
                first = requests[0].params()
                assert first[f"{GT}[field]"] == "entity_id"
                assert first[f"{GT}[conditionType]"] == "gt"
                assert first[f"{GT}[value]"] == str(last_id)
                assert first["searchCriteria[pageSize]"] == str(PAGE)  # no new probe
                assert min(pid for r in requests for pid in r.served_ids) > last_id
            checkpoint, watermark, rows = state(db_url)
            if attempt < KILLS:
                assert checkpoint is not None
                [only] = checkpoint["ranges"]
                assert only["upto"] is None
                last_id = int(only["after"])
                assert rows == len([pid for pid in catalog.ids() if pid <= last_id])
                # Upstream moves on between runs, ahead of the checkpoint.
                ahead = [pid for pid in catalog.ids() if pid > last_id + PAGE]
                catalog.update(rng.choice(ahead), name=f"Changed after kill {attempt}")
                catalog.delete(rng.choice(ahead))
                catalog.create(f"AFTER-KILL-{attempt}", price=attempt + 1)
                created += 1
            else:
                assert checkpoint is None  # complete
            if watermark is not None:
                watermarks.append((watermark["updated_at"], int(watermark["id"])))

        # Products deleted upstream before the pass reached them were never mirrored.
        assert_mirror_equals_upstream(db_url, emulator, deleted=())
        assert watermarks == sorted(watermarks) and watermarks  # never moved backwards
        fetched = [
            r
            for r in page_requests(emulator)
            if r.seq not in killer.after_kill and r.params()["searchCriteria[pageSize]"] != "1"
        ]
        delivered = sum(len(r.served_ids) for r in fetched)
        # A kill loses at most two pages: one being written and the next, fetched meanwhile.
        assert delivered <= PRODUCTS + created + KILLS * 2 * PAGE
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            statuses = conn.execute(sa.select(sync_runs.c.status).order_by(sync_runs.c.id))
            assert list(statuses.scalars()) == ["abandoned"] * KILLS + ["success"]
    finally:
        engine.dispose()

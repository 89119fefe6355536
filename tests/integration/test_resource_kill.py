"""A categories pass (full and incremental) and a source-items pass killed with SIGKILL resume
from their checkpoint (issue 15). Real ``accs-sync sync`` processes on SQLite (the slow scenario; the data behaviour
is checked on every database in test_resource_resume.py).

The emulator's request hook kills the process when it asks for its Nth page (pages before it
are answered; the one being written meanwhile may or may not be committed) and holds that
request until the process is dead. The restart must ask for what follows the checkpoint the
killed process committed, never for a page before it, and end with the mirror equal to ACCS.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync.db.schema import categories, inventory_source_items, sync_runs
from sync.emulator import Catalog, EmulatorServer, RequestRecord
from sync.emulator.inventory import render_source_item
from tests.integration.processes import CLI, clean_env
from tests.integration.test_backfill_kill import wait_for_run_lock
from tests.integration.test_interrupted_incremental import filters
from tests.integration.test_resource_resume import state
from tests.integration.test_resources_e2e import rows

pytestmark = pytest.mark.integration

GT = "searchCriteria[filterGroups][0][filters][0]"


class KillAtPage:
    """Kill the armed process when it asks for its ``at``-th page of ``kind`` (page requests
    only: ``pageSize`` is ``size``); record the page requests answered to a living process."""

    def __init__(self, kind: str, size: int) -> None:
        self.kind, self.size = kind, str(size)
        self.proc: subprocess.Popen[bytes] | None = None
        self.at = 0
        self.answered: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def arm(self, proc: subprocess.Popen[bytes], at: int | None) -> None:
        self.proc, self.at, self.answered = proc, at or 0, []

    def __call__(self, record: RequestRecord) -> None:
        params = record.params()
        if record.kind != self.kind or params.get("searchCriteria[pageSize]") != self.size:
            return
        with self.lock:
            if self.at and len(self.answered) + 1 >= self.at:
                assert self.proc is not None
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(timeout=30)
                return  # answered to a dead process
            self.answered.append(params)


def watched(
    emulator: EmulatorServer, db_url: str, resource: str, page: int, **settings: str
) -> tuple[KillAtPage, dict[str, str]]:
    """A killer of ``resource``'s pages installed in ``emulator``, and the environment of an
    ``accs-sync`` process mirroring only ``resource``, ``page`` items a page."""
    killer = KillAtPage(resource, page)
    emulator.faults.on_request.append(killer)
    env = clean_env(
        **emulator.credentials,
        DATABASE_URL=db_url,
        SYNC_PAGE_SIZE=str(page),
        SYNC_RESOURCES=resource,
        **settings,
    )
    return killer, env


def sync_process(
    env: dict[str, str], cwd: Path, name: str, killer: KillAtPage, at: int | None
) -> int:
    with (cwd / f"{name}.log").open("wb") as out:
        proc = subprocess.Popen([*CLI, "sync"], env=env, cwd=cwd, stdout=out, stderr=out)
    killer.arm(proc, at)
    code = proc.wait(timeout=120)
    assert code == (-signal.SIGKILL if at else 0), (cwd / f"{name}.log").read_text()
    return code


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_killed_categories_pass_resumes_from_its_checkpoint(db_url: str, tmp_path: Path) -> None:
    with EmulatorServer(Catalog.generate(40, seed=3)) as emulator:
        # One walk (SYNC_CONCURRENCY 1): the pages come in id order.
        killer, env = watched(emulator, db_url, "categories", 5, SYNC_CONCURRENCY="1")
        sync_process(env, tmp_path, "killed", killer, at=5)
        wait_for_run_lock(db_url)
        checkpoint = state(db_url, "default", "categories:checkpoint")
        [id_range] = checkpoint["ranges"]
        after = id_range["after"]
        assert after in (15, 20)  # the page being written when killed may be in, or not
        sync_process(env, tmp_path, "resumed", killer, at=None)
        first = killer.answered[0]
        assert (first[f"{GT}[field]"], first[f"{GT}[conditionType]"]) == ("entity_id", "gt")
        assert first[f"{GT}[value]"] == str(after)
        assert len(killer.answered) == -(-(42 - after) // 5)  # nothing committed read again
        t = categories.c
        query = sa.select(t.id, t.name).where(t.deleted_at.is_(None))
        mirrored = {r.id: r.name for r in rows(db_url, query)}
        upstream = {c.id: c.name for c in emulator.catalog.categories()}
        assert mirrored == upstream
    assert state(db_url, "default", "categories:checkpoint") is None
    runs = rows(db_url, sa.select(sync_runs.c.status).order_by(sync_runs.c.id))
    assert [r.status for r in runs] == ["abandoned", "success"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_killed_source_items_pass_resumes_from_its_checkpoint(
    db_url: str, tmp_path: Path
) -> None:
    with EmulatorServer(Catalog.generate(750, seed=7)) as emulator:
        killer, env = watched(emulator, db_url, "source_items", 100, SYNC_CONCURRENCY="2")
        sync_process(env, tmp_path, "killed", killer, at=6)
        wait_for_run_lock(db_url)
        checkpoint = state(db_url, "*", "source_items:checkpoint")
        assert checkpoint["walks"]
        assert {w["partition"] for w in checkpoint["walks"]} <= {"default", "eu_warehouse"}
        t = inventory_source_items.c
        committed = len(rows(db_url, sa.select(t.sku)))
        assert committed > 0
        sync_process(env, tmp_path, "resumed", killer, at=None)
        # Only what follows the checkpoint: no page of the committed rows again.
        read = len(killer.answered)
        total = len(emulator.catalog.source_items())
        assert read <= -(-(total - committed) // 100) + len(checkpoint["walks"])
        query = sa.select(t.source_code, t.sku).where(t.deleted_at.is_(None))
        mirrored = {(r.source_code, r.sku) for r in rows(db_url, query)}
        shown = [render_source_item(item) for item in emulator.catalog.source_items()]
        assert mirrored == {(item["source_code"], item["sku"]) for item in shown}
    assert state(db_url, "*", "source_items:checkpoint") is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_killed_incremental_categories_pass_resumes_from_its_checkpoint(
    db_url: str, tmp_path: Path
) -> None:
    """Every category renamed after a first sync; the incremental pass (one walk by id, every
    category changed) is killed at its fifth page. The restart goes on after the committed page
    with the same lower bound, and raises the watermark only once it has read the rest."""
    with EmulatorServer(Catalog.generate(40, seed=3)) as emulator:
        killer, env = watched(emulator, db_url, "categories", 5, SYNC_CONCURRENCY="1")
        sync_process(env, tmp_path, "first", killer, at=None)
        watermark = state(db_url, "default", "categories:watermark")
        ids = sorted(c.id for c in emulator.catalog.categories())
        for key in ids:
            emulator.catalog.update_category(key, name=f"Renamed {key}")
        sync_process(env, tmp_path, "killed", killer, at=5)
        wait_for_run_lock(db_url)
        checkpoint = state(db_url, "default", "categories:incremental")
        assert checkpoint["after"] in ([ids[14]], [ids[19]])  # the page being written, or not
        assert state(db_url, "default", "categories:watermark") == watermark
        since = checkpoint["since"]
        sync_process(env, tmp_path, "resumed", killer, at=None)
        first = filters(killer.answered[0])
        assert first == {
            ("updated_at", since, "gteq"),
            ("entity_id", str(checkpoint["after"][0]), "gt"),
        }
        later = ids.index(checkpoint["after"][0]) + 1
        assert len(killer.answered) == -(-(len(ids) - later) // 5)  # nothing committed read again
        t = categories.c
        query = sa.select(t.id, t.name).where(t.deleted_at.is_(None))
        mirrored = {r.id: r.name for r in rows(db_url, query)}
        assert mirrored == {key: f"Renamed {key}" for key in ids}
    assert state(db_url, "default", "categories:incremental") is None
    raised = state(db_url, "default", "categories:watermark")
    assert raised["updated_at"] > watermark["updated_at"]
    runs = rows(db_url, sa.select(sync_runs.c.status).order_by(sync_runs.c.id))
    assert [r.status for r in runs] == ["success", "abandoned", "success"]

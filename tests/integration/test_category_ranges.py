"""With SYNC_CONCURRENCY > 1 a categories full pass walks concurrent entity-id ranges, each
checkpointed like the products' full pass's, and still mirrors every category and tombstones
the deleted ones."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.schema import categories
from sync.emulator import EmulatorServer
from sync.emulator.faults import RequestRecord
from tests.integration.test_resource_resume import GT, Pages, state
from tests.integration.test_resources_e2e import (
    mirrored_categories,
    rows,
    sync,
    upstream_categories,
)

pytestmark = pytest.mark.integration


def bounded(record: RequestRecord) -> bool:
    """A request for one id range: ``entity_id <= upper`` in one of its filter groups."""
    return any(
        name.startswith("searchCriteria[filterGroups]")
        and name.endswith("[conditionType]")
        and value == "lteq"
        for name, value in record.query
    )


def test_a_concurrent_categories_full_pass_walks_id_ranges(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNC_RESOURCES", "categories")
    monkeypatch.setenv("SYNC_CONCURRENCY", "4")
    monkeypatch.setenv("SYNC_PAGE_SIZE", "3")
    assert sync() == 0
    assert mirrored_categories(db_url) == upstream_categories(emulator)
    listed = [r for r in list(emulator.stats.recent) if r.kind == "categories"]
    assert any(bounded(r) for r in listed), [r.query for r in listed[:5]]
    # A deletion in the middle of the id space is found by the next full pass.
    before = mirrored_categories(db_url)
    leaf = max(cid for cid, c in before.items() if c["level"] and c["level"] >= 2)
    gone = emulator.catalog.delete_category(leaf)
    assert main(["backfill", "--quiet"]) == 0
    assert mirrored_categories(db_url) == upstream_categories(emulator)
    tombstoned = rows(
        db_url, sa.select(categories.c.id).where(categories.c.deleted_at.is_not(None))
    )
    assert {r.id for r in tombstoned} == set(gone)


def test_an_interrupted_concurrent_categories_pass_resumes_its_ranges(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three workers over the products' id ranges, the pass refused after four pages: the
    checkpoint holds the ranges in the products' shape, every committed id outside them; the
    next sync walks only what they hold (ids before a range's ``after`` are never asked for
    again), deletes the checkpoint and mirrors every category."""
    monkeypatch.setenv("SYNC_RESOURCES", "categories")
    monkeypatch.setenv("SYNC_CONCURRENCY", "3")
    monkeypatch.setenv("SYNC_PAGE_SIZE", "3")
    pages = Pages("categories", 3)
    emulator.faults.on_request.append(pages)
    pages.arm(4)
    assert sync() == 1
    checkpoint = state(db_url, "default", "categories:checkpoint")
    ranges = checkpoint["ranges"]
    assert ranges and all(set(r) == {"after", "upto"} for r in ranges)
    assert ranges[-1]["upto"] is None
    mirrored = set(mirrored_categories(db_url))
    left = [(r["after"], r["upto"]) for r in ranges]
    for cid in mirrored:  # a committed id lies outside every range still to read
        assert not any(a < cid and (u is None or cid <= u) for a, u in left), cid
    pages.arm(None)
    assert sync() == 0
    asked = [
        int(params[f"{GT}[value]"])
        for params in pages.seen
        if params.get(f"{GT}[field]") == "entity_id" and params[f"{GT}[conditionType]"] == "gt"
    ]
    assert all(any(a <= after and (u is None or after < u) for a, u in left) for after in asked)
    assert state(db_url, "default", "categories:checkpoint") is None
    assert mirrored_categories(db_url) == upstream_categories(emulator)

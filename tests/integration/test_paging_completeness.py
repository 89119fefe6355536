"""Issue 4 "done when": the mirror is provably complete on every database.

Each test drives the real sync (``accs-sync`` CLI entry point, loopback HTTP, the bundled
emulator) and checks two things: the mirror equals upstream afterwards, and the emulator's
request log shows the paging did exactly what it should (no id delivered twice, no extra page).
"""

from __future__ import annotations

import random

import pytest

from sync.cli import main
from sync.emulator import EmulatorServer, RequestRecord
from tests.integration.mirror import (
    assert_mirror_equals_upstream,
    mirror_by_id,
    page_requests,
    runs,
    served_counts,
)

PAGE = 100  # SYNC_PAGE_SIZE set by the sync_env fixture


def list_requests_since(emulator: EmulatorServer, before: int) -> list[RequestRecord]:
    return page_requests(emulator)[before:]


def test_upstream_changes_while_a_full_pass_pages_end_in_an_equal_mirror(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    """Updates, deletions and creations land between page requests, on both sides of the
    cursor; after the next incremental run the mirror equals upstream, deletions tombstoned."""
    catalog = emulator.catalog
    assert main(["sync"]) == 0  # every deletion below removes a mirrored row
    original = set(catalog.ids())
    rng = random.Random(4)
    served = {"n": 0}
    deleted: set[int] = set()

    def mutate_between_pages(record: RequestRecord) -> None:
        if record.kind != "list":
            return
        served["n"] += 1
        if not 2 <= served["n"] <= 7:  # while pages 1..6 of 8 are being fetched
            return
        ids = catalog.ids()
        for pid in rng.sample(ids, 3):
            catalog.update(pid, price=round(rng.uniform(1, 500), 2), name=f"Changed {pid}")
        for pid in rng.sample(sorted(original - deleted), 2):
            catalog.delete(pid)
            deleted.add(pid)
        catalog.create(f"NEW-{served['n']}", name="Created while paging", price=served["n"])

    emulator.faults.on_request.append(mutate_between_pages)
    assert main(["backfill"]) == 0
    emulator.faults.on_request.clear()
    assert len(deleted) == 12 and len(catalog) == 750 - 12 + 6
    assert main(["sync"]) == 0
    assert original <= set(mirror_by_id(db_url)), "a row was hard-deleted"
    assert_mirror_equals_upstream(db_url, emulator, deleted=deleted)


def test_a_thousand_products_in_one_second_are_each_fetched_and_written_once(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    catalog = emulator.catalog
    assert main(["sync"]) == 0
    for n in range(250):
        catalog.create(f"BULK-{n:03d}")
    assert len(catalog) == 1000
    newest = max(item["updated_at"] for item in catalog.items())
    second = f"{int(newest[:4]) + 1}{newest[4:]}"  # a year later: all after the watermark
    catalog.touch_many(catalog.ids(), at=second)
    before = len(page_requests(emulator))

    assert main(["sync"]) == 0

    incremental = list_requests_since(emulator, before)
    counts = served_counts(incremental)
    assert set(counts) == set(catalog.ids()), "missed products"
    assert set(counts.values()) == {1}, "a product was delivered twice"
    # 'updated_at >= lookback second' (the first 100), 9 pages by id inside the second,
    # 'updated_at > second' (empty): nothing more.
    assert len(incremental) == 11
    same_second = [r for r in incremental if r.served_ids and "eq" in r.params().values()]
    assert len(same_second) == 9
    assert all(r.params()["searchCriteria[pageSize]"] == str(PAGE) for r in incremental)
    last = runs(db_url)[-1]
    assert last["status"] == "success" and last["products_written"] == 1000
    assert_mirror_equals_upstream(db_url, emulator)


def test_legacy_last_page_mode_ends_in_a_complete_mirror_without_looping(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str
) -> None:
    """Magento < 2.4 answers a page past the end with the last page again. Keyset paging
    always asks page 1 and stops on the short last page, so it never asks past the end."""
    emulator.faults.legacy_last_page = True
    catalog = emulator.catalog
    assert main(["sync"]) == 0
    full = page_requests(emulator)
    assert len(full) == 1 + 8  # the newest-updated_at probe, then 7 full pages and one of 50
    assert set(served_counts(full[1:]).values()) == {1}
    assert_mirror_equals_upstream(db_url, emulator)

    for pid in catalog.ids()[10:13]:
        catalog.update(pid, price=42.5)
    catalog.create("LEGACY-NEW", price=7)
    before = len(full)
    assert main(["sync"]) == 0
    incremental = list_requests_since(emulator, before)
    assert len(incremental) == 1  # 'updated_at >= watermark - lookback': all four, one page
    assert_mirror_equals_upstream(db_url, emulator)
    assert [r["status"] for r in runs(db_url)] == ["success", "success"]


def test_a_page_size_cap_below_the_configured_size_is_used_from_then_on(
    sync_env: dict[str, str], emulator: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_PAGE_SIZE", "300")
    emulator.faults.max_page_size = 100  # "Maximum SearchCriteria pageSize is 100"

    def sizes(records: list[RequestRecord]) -> list[tuple[str, int]]:
        return [(r.params()["searchCriteria[pageSize]"], r.status) for r in records]

    assert main(["sync"]) == 0
    full = page_requests(emulator)
    # probe (pageSize 1), a refused page of 300 from each worker that asked before the first
    # refusal came back (4 at the most), then 8 pages of 100 and nothing else
    assert sizes(full)[0] == ("1", 200)
    refused = sizes(full).count(("300", 400))
    assert 1 <= refused <= 4
    assert sorted(sizes(full)[1:]) == sorted([("300", 400)] * refused + [("100", 200)] * 8)
    pages = served_counts(full[1:])
    assert set(pages.values()) == {1} and len(pages) == 750
    assert_mirror_equals_upstream(db_url, emulator)

    emulator.catalog.update(emulator.catalog.ids()[0], price=1.25)
    assert main(["sync"]) == 0
    incremental = page_requests(emulator)[len(full) :]
    assert sizes(incremental)[0] == ("300", 400)  # a new run learns the cap once
    assert {size for size, _ in sizes(incremental)[1:]} == {"100"}
    assert_mirror_equals_upstream(db_url, emulator)

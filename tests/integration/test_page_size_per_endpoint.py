"""A page-size cap is learnt per endpoint: a store that caps ``/V1/inventory/source-items``
at 50 (400 "Maximum SearchCriteria pageSize is 50") must not shrink the pages of
``/V1/products``, which takes SYNC_PAGE_SIZE, nor the id listing, which keeps its own 300."""

from __future__ import annotations

import pytest

from sync.app import build_app
from sync.emulator import EmulatorServer
from sync.emulator.faults import RequestRecord
from sync.settings import load_settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_cap_on_source_items_leaves_product_pages_alone(
    sync_env: dict[str, str], emulator: EmulatorServer
) -> None:
    def cap(record: RequestRecord) -> None:
        emulator.faults.max_page_size = 50 if record.kind == "source_items" else 300

    emulator.faults.on_request.append(cap)
    with build_app(load_settings()) as app:
        first = app.pipeline.run("sync", resources=["source_items"])
        assert first.status == "success"
        sizes = [
            int(r.params()["searchCriteria[pageSize]"])
            for r in list(emulator.stats.recent)
            if r.kind == "source_items" and r.status == 200
        ]
        assert sizes and max(sizes) == 50  # learnt: later requests ask for 50
        emulator.stats.reset()
        second = app.pipeline.run("backfill", resources=["products"])
        assert second.status == "success"
    products = [r for r in emulator.stats.list_requests() if r.kind == "list"]
    assert products
    asked = {int(r.params()["searchCriteria[pageSize]"]) for r in products}
    assert 100 in asked and 50 not in asked  # SYNC_PAGE_SIZE=100, never source items' cap

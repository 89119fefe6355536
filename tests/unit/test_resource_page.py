"""The resource engine's page writer (sync.resource_page) with a scripted lister: an item whose
child rows cannot be read is rejected whole, and the rest of its page is written."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from sync.api.criteria import SearchCriteria
from sync.api.paging import Page
from sync.clock import FakeClock
from sync.db.schema import product_attribute_metadata, product_attribute_options, sync_rejects
from sync.pipeline import Pipeline
from tests.unit.test_pipeline import ScriptedCatalog


def attribute(n: int, options: Any) -> dict[str, Any]:
    return {
        "attribute_id": n,
        "attribute_code": f"code_{n}",
        "frontend_input": "select",
        "default_frontend_label": f"Attribute {n}",
        "options": options,
    }


class Attributes:
    """``/V1/products/attributes``: every item in one page, whatever is asked."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def list(self, path: str, criteria: SearchCriteria, store_code: str) -> Page:
        params = dict(criteria.params())
        if params.get("searchCriteria[pageSize]") == "1":
            return Page(self.items[:1], total_count=len(self.items))
        after = int(params.get("searchCriteria[filterGroups][0][filters][0][value]", "0"))
        return Page([i for i in self.items if i["attribute_id"] > after], len(self.items))


def test_an_item_whose_child_rows_are_unreadable_is_rejected_whole(engine: Engine) -> None:
    good = attribute(1, [{"label": "Black", "value": "49"}])
    bad = attribute(2, "not a list of options")
    pipeline = Pipeline(
        engine,
        ScriptedCatalog([]),
        FakeClock(),
        ["default"],
        page_size=10,
        resources=("attributes",),
        lister=Attributes([good, bad]),
    )
    stats = pipeline.run("sync")
    assert stats.status == "success", stats.error
    with engine.connect() as conn:
        codes = conn.execute(sa.select(product_attribute_metadata.c.attribute_code)).scalars()
        options = conn.execute(sa.select(product_attribute_options.c.value)).scalars().all()
        reasons = conn.execute(sa.select(sync_rejects.c.reason)).scalars().all()
    assert list(codes) == ["code_1"]
    assert options == ["49"]
    assert reasons == ["options must be a list, got str"]

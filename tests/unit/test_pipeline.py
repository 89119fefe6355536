"""The pipeline against a scripted catalog: validation, retries of garbled pages, watermarks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from sync.api.criteria import SearchCriteria
from sync.api.paging import Page
from sync.api.products import Newest
from sync.clock import FakeClock
from sync.db.engine import make_engine
from sync.db.migrate import ensure_schema
from sync.db.schema import products
from sync.db.state import get_state
from sync.errors import FatalApiError
from sync.pipeline import Pipeline


class ScriptedCatalog:
    """Serves ``items`` by the criteria the pipeline sends (entity_id > N, sorted by id)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.requests: list[SearchCriteria] = []
        self.fail_with: Exception | None = None

    def search(self, criteria: SearchCriteria, store_code: str) -> Page:
        self.requests.append(criteria)
        if self.fail_with is not None:
            raise self.fail_with
        params = dict(criteria.params())
        after = int(params.get("searchCriteria[filterGroups][0][filters][0][value]", "0"))
        matching = [i for i in self.items if isinstance(i.get("id"), int) and i["id"] > after]
        matching += [i for i in self.items if not isinstance(i.get("id"), int) and after == 0]
        return Page(matching[: criteria.page_size], total_count=len(matching))

    def list_ids(self, criteria: SearchCriteria, store_code: str) -> Page:
        page = self.search(criteria, store_code)
        keep = ("id", "sku", "updated_at")
        return Page([{k: i.get(k) for k in keep} for i in page.items], page.total_count)

    def count(self, store_code: str) -> int:
        if self.fail_with is not None:
            raise self.fail_with
        return len(self.items)

    def newest(self, store_code: str) -> Newest:
        stamps = [i["updated_at"] for i in self.items if "updated_at" in i]
        return Newest(max(stamps) if stamps else None, len(self.items))


def item(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": n,
        "sku": f"SKU-{n}",
        "name": f"Product {n}",
        "price": n + 0.5,
        "updated_at": f"2026-01-01 00:00:{n % 60:02d}",
        **extra,
    }


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    ensure_schema(engine)
    yield engine
    engine.dispose()


def skus(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(products.c.sku)).scalars())


def test_invalid_items_are_counted_and_the_rest_is_written(engine: Engine) -> None:
    items = [item(n) for n in range(1, 11)]
    items[3]["price"] = "not a number"
    items[5] = {"id": 6, "name": "no sku"}
    pipeline = Pipeline(engine, ScriptedCatalog(items), FakeClock(), ["default"], page_size=4)
    stats = pipeline.run("sync")
    assert stats.status == "success"
    assert stats.rejected == 2
    assert skus(engine) == {f"SKU-{n}" for n in range(1, 11)} - {"SKU-4", "SKU-6"}
    assert stats.products == 8


def test_a_fatal_api_error_fails_the_run_and_keeps_what_was_committed(engine: Engine) -> None:
    catalog = ScriptedCatalog([item(n) for n in range(1, 11)])
    pipeline = Pipeline(engine, catalog, FakeClock(), ["default"], page_size=4)
    assert pipeline.run("sync").status == "success"
    catalog.fail_with = FatalApiError("ACCS answered 400: nope", status=400)
    stats = Pipeline(engine, catalog, FakeClock(), ["default"], page_size=4).run("backfill")
    assert stats.status == "failed" and "nope" in (stats.error or "")
    assert len(skus(engine)) == 10
    with engine.connect() as conn:
        assert get_state(conn, "default", "watermark") is not None


def test_a_full_pass_sets_the_watermark_from_upstream_data_not_the_clock(engine: Engine) -> None:
    catalog = ScriptedCatalog([item(n) for n in range(1, 11)])
    Pipeline(engine, catalog, FakeClock(), ["default"], page_size=3).run("sync")
    with engine.connect() as conn:
        watermark = get_state(conn, "default", "watermark")
        checkpoint = get_state(conn, "default", "backfill_checkpoint")
    assert watermark == {"updated_at": "2026-01-01 00:00:10", "id": 0}
    assert checkpoint is None

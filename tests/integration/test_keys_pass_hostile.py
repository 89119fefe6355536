"""A pass over given keys against hostile answers, on every database.

A scripted ACCS answers the ``entity_id in`` / ``sku in`` filters and can add items nobody
asked for, ignore the filter, send an item without a key or fail. What ACCS returns is real
data and is written; only a mirrored product or source item whose key was asked for, and that
a complete answer did not carry, is ever tombstoned.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from sync.api.criteria import SearchCriteria
from sync.api.paging import Page
from sync.api.products import Newest
from sync.clock import FakeClock
from sync.db.schema import inventory_source_items, products
from sync.errors import EndpointMissing, FatalApiError, PermissionDenied
from sync.keys import Keys
from sync.pipeline import Pipeline
from tests.unit.test_pipeline import item

# What a hostile answer does is decided before any SQL: one database shows it (the suite's
# time budget; the pass's writes are covered on all three by test_keys_pass).
pytestmark = [pytest.mark.integration, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


class ScriptedAccs:
    """Products and source items, filtered the way ACCS filters them (``in``, ``gt``, ``eq``
    on ``entity_id``, ``sku`` and ``source_code``), with faults a test switches on."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.stock = [
            {"sku": i["sku"], "source_code": code, "quantity": 5, "status": 1}
            for i in items
            for code in ("default", "eu")
        ]
        self.requests: list[tuple[str, SearchCriteria]] = []
        self.extra: list[dict[str, Any]] = []  # served with every products answer
        self.extra_stock: list[dict[str, Any]] = []  # ... and source-items answer
        self.ignore_filter = False
        self.fail_after: int | None = None  # requests answered before every one fails
        self.refuse_stock: Exception | None = None  # raised by every source-items request

    # -- the Catalog the pipeline uses ---------------------------------------------------------

    def search(self, criteria: SearchCriteria, store_code: str) -> Page:
        return self._answer("/V1/products", criteria, [*self.items], self.extra)

    def list(self, path: str, criteria: SearchCriteria, store_code: str) -> Page:
        if self.refuse_stock is not None and path == "/V1/inventory/source-items":
            raise self.refuse_stock
        return self._answer(path, criteria, [*self.stock], self.extra_stock)

    def list_ids(self, criteria: SearchCriteria, store_code: str) -> Page:
        return self.search(criteria, store_code)

    def count(self, store_code: str) -> int:
        return len(self.items)

    def newest(self, store_code: str) -> Newest:
        return Newest("2026-01-01 00:00:00", len(self.items))

    def id_bounds(self, store_code: str) -> tuple[int | None, int | None]:
        ids = [i["id"] for i in self.items]
        return (min(ids), max(ids)) if ids else (None, None)

    def _answer(
        self,
        path: str,
        criteria: SearchCriteria,
        rows: list[dict[str, Any]],
        extra: list[dict[str, Any]],
    ) -> Page:
        self.requests.append((path, criteria))
        if self.fail_after is not None and len(self.requests) > self.fail_after:
            raise FatalApiError("ACCS answered 400: scripted failure", status=400)
        if not self.ignore_filter:
            for (flt,) in criteria.groups:
                rows = [r for r in rows if _matches(r, flt.field, flt.condition, flt.value)]
        rows += extra
        if path == "/V1/products":
            rows.sort(key=lambda r: r.get("id") if isinstance(r.get("id"), int) else 0)
        else:
            rows.sort(key=lambda r: (r["source_code"], r["sku"]))
        return Page(rows[: criteria.page_size], len(rows), criteria.page_size)


def _matches(row: dict[str, Any], field: str, condition: str, value: str) -> bool:
    name = "id" if field == "entity_id" else field
    have = row.get(name)
    if condition == "in":
        return str(have) in value.split(",")
    if condition == "eq":
        return str(have) == value
    if condition == "gt":
        return (isinstance(have, int) and have > int(value)) or (
            isinstance(have, str) and have > value
        )
    raise AssertionError(f"unexpected condition {condition}")


def pipeline(engine: Engine, accs: ScriptedAccs, resources: tuple[str, ...]) -> Pipeline:
    return Pipeline(
        engine,
        accs,
        FakeClock(),
        ["default"],
        page_size=300,
        resources=resources,
        lister=accs,
    )


def live_products(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        query = sa.select(products.c.id).where(products.c.deleted_at.is_(None))
        return set(conn.execute(query).scalars())


def live_stock(engine: Engine) -> set[tuple[str, str]]:
    t = inventory_source_items.c
    with engine.connect() as conn:
        query = sa.select(t.source_code, t.sku).where(t.deleted_at.is_(None))
        return {(r.source_code, r.sku) for r in conn.execute(query)}


BOTH = ("products", "source_items")


@pytest.fixture
def accs(engine: Engine) -> ScriptedAccs:
    """Ten products with two source items each, mirrored by a first sync."""
    scripted = ScriptedAccs([item(n) for n in range(1, 11)])
    assert pipeline(engine, scripted, BOTH).run("sync").status == "success"
    assert live_products(engine) == set(range(1, 11))
    scripted.requests.clear()
    return scripted


def test_an_item_nobody_asked_for_is_written_and_never_tombstoned(
    engine: Engine, accs: ScriptedAccs
) -> None:
    accs.items = [i for i in accs.items if i["id"] != 3]  # 3 is gone upstream
    accs.stock = [s for s in accs.stock if s["sku"] != "SKU-3"]
    accs.extra = [item(42)]  # served with every answer although nobody asked for it
    accs.extra_stock = [{"sku": "SKU-42", "source_code": "eu", "quantity": 1, "status": 1}]
    stats = pipeline(engine, accs, BOTH).run("refetch", keys=Keys(ids=(3, 4)))
    assert stats.status == "success"
    # 42 is real data: written. 3 was asked for and is gone: tombstoned. 5..10: never asked.
    assert live_products(engine) == {1, 2, 4, 5, 6, 7, 8, 9, 10, 42}
    stock = live_stock(engine)
    assert ("default", "SKU-3") not in stock and ("eu", "SKU-3") not in stock
    assert {("default", "SKU-4"), ("eu", "SKU-42"), ("default", "SKU-5")} <= stock
    assert stats.deleted == 1
    assert stats.unknown_keys == []


def test_an_answer_that_ignores_the_filter_fails_the_run_and_tombstones_nothing(
    engine: Engine, accs: ScriptedAccs
) -> None:
    accs.items = [i for i in accs.items if i["id"] != 3]
    accs.ignore_filter = True
    stats = pipeline(engine, accs, BOTH).run("refetch", keys=Keys(ids=(3,), skus=("SKU-4",)))
    assert stats.status == "failed"
    assert "ignored the filter" in (stats.error or "")
    assert 3 in live_products(engine)
    assert len(accs.requests) == 1  # no walk through the whole catalog


def test_an_item_without_a_key_leaves_tombstones_for_a_later_pass(
    engine: Engine, accs: ScriptedAccs
) -> None:
    accs.items = [i for i in accs.items if i["id"] != 3]
    accs.extra = [{"name": "no id, no sku"}]
    stats = pipeline(engine, accs, ("products",)).run("refetch", keys=Keys(ids=(3,)))
    assert stats.status == "success" and stats.rejected == 1
    assert 3 in live_products(engine)


def test_a_failed_chunk_tombstones_nothing(engine: Engine, accs: ScriptedAccs) -> None:
    accs.items = [i for i in accs.items if i["id"] not in (3, 4)]
    accs.fail_after = 1  # the ids answer, then the skus request fails
    stats = pipeline(engine, accs, BOTH).run("refetch", keys=Keys(ids=(3,), skus=("SKU-4",)))
    assert stats.status == "failed" and "scripted failure" in (stats.error or "")
    assert {3, 4} <= live_products(engine)
    assert ("default", "SKU-3") in live_stock(engine)


def test_a_sku_with_a_comma_is_asked_alone_with_eq(engine: Engine, accs: ScriptedAccs) -> None:
    accs.items.append(item(11, sku="A,B"))
    stats = pipeline(engine, accs, ("products",)).run("refetch", keys=Keys(skus=("A,B", "SKU-1")))
    assert stats.status == "success" and 11 in live_products(engine)
    asked = [[(f.field, f.condition, f.value) for (f,) in c.groups] for _, c in accs.requests]
    assert asked == [[("sku", "in", "SKU-1")], [("sku", "eq", "A,B")]]


@pytest.mark.parametrize(
    "refusal",
    [
        PermissionDenied("ACCS denied access (403: no)", status=403, acl=None),
        EndpointMissing("ACCS has no such API (404)", status=404),
    ],
)
def test_refused_source_items_make_the_refetch_partial_not_failed(
    engine: Engine, accs: ScriptedAccs, refusal: Exception
) -> None:
    accs.items = [dict(i, name="renamed") if i["id"] == 4 else i for i in accs.items]
    accs.refuse_stock = refusal
    stats = pipeline(engine, accs, BOTH).run("refetch", keys=Keys(ids=(4,)))
    assert stats.status == "partial", stats.error
    assert any("source_items" in line and "SYNC_RESOURCES" in line for line in stats.denied)
    with engine.connect() as conn:
        name = conn.execute(sa.select(products.c.name).where(products.c.id == 4)).scalar_one()
    assert name == "renamed"  # the products were written

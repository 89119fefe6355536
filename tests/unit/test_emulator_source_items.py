"""``GET /V1/inventory/source-items``: two sources per stock-managed product, searchCriteria
like products, and stock moves that leave the product's ``updated_at`` alone."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from sync.clock import FakeClock
from sync.emulator import Catalog
from tests.unit.emulator_calls import PRODUCTS, SOURCE_ITEMS, call, keyset_walk, make_app, sc
from tests.unit.openapi_shapes import problems, response_ref

BY_KEY = sc(sorts=(("sku", "ASC"), ("source_code", "ASC")), page_size=300)


def items(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["source_code"], i["sku"]): i for i in body["items"]}


def test_answers_follow_the_openapi_schema() -> None:
    app, headers = make_app(Catalog.generate(60, seed=4))
    definition = response_ref("/V1/inventory/source-items")
    assert definition == "inventory-api-data-source-item-search-results-interface"
    status, body = call(app, headers, SOURCE_ITEMS, BY_KEY)
    assert status == 200
    assert problems(body, definition) == []
    assert {type(i["quantity"]) for i in body["items"]} <= {int, float}
    assert {i["status"] for i in body["items"]} == {0, 1}


def test_every_stock_managed_product_has_a_default_and_a_warehouse_item() -> None:
    catalog = Catalog.generate(300, seed=5)
    app, headers = make_app(catalog)
    status, body = call(app, headers, SOURCE_ITEMS, sc())
    assert status == 200
    served = items(body)
    managed = [p for p in catalog if p.type_id in ("simple", "virtual", "downloadable")]
    assert managed and len(managed) < len(catalog)  # parents (configurable, ...) have none
    assert body["total_count"] == len(served) == 2 * len(managed)
    for p in managed:
        stock = catalog.item(p.sku)["extension_attributes"]["stock_item"]  # type: ignore[index]
        default = served[("default", p.sku)]
        assert default["quantity"] == stock["qty"]
        assert default["status"] == int(stock["is_in_stock"])
        assert ("eu_warehouse", p.sku) in served
    assert Catalog.generate(300, seed=5).source_items() == catalog.source_items()


def test_a_stock_move_shows_in_source_items_but_not_in_the_products_updated_at() -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, 0))
    catalog = Catalog.generate(50, seed=6, clock=clock.now)
    app, headers = make_app(catalog)
    sku = next(p.sku for p in catalog if p.type_id == "simple")
    before = catalog.item(sku)
    assert before is not None
    clock.advance(3600)
    catalog.set_source_item(sku, "default", 7)
    catalog.set_source_item(sku, "eu_warehouse", 0)
    params = sc((0, 0, "sku", sku, "eq"))
    served = items(call(app, headers, SOURCE_ITEMS, params)[1])
    assert served[("default", sku)] == {
        "sku": sku,
        "source_code": "default",
        "quantity": 7,
        "status": 1,
    }
    assert served[("eu_warehouse", sku)]["quantity"] == 0
    assert served[("eu_warehouse", sku)]["status"] == 0
    after = catalog.item(sku)
    assert after is not None
    assert after["updated_at"] == before["updated_at"]
    assert after["extension_attributes"]["stock_item"]["qty"] == 7
    changed = sc((0, 0, "updated_at", "2026-03-01 12:00:00", "gt"))
    assert call(app, headers, PRODUCTS, changed)[1]["total_count"] == 0


def test_source_items_can_be_removed_and_added_back() -> None:
    catalog = Catalog.generate(30, seed=7)
    sku = next(p.sku for p in catalog if p.type_id == "simple")
    catalog.remove_source_item(sku, "eu_warehouse")
    catalog.remove_source_item(sku, "default")
    keys = {(i.source_code, i.sku) for i in catalog.source_items()}
    assert ("eu_warehouse", sku) not in keys and ("default", sku) not in keys
    stock = catalog.item(sku)["extension_attributes"]["stock_item"]  # type: ignore[index]
    assert (stock["qty"], stock["is_in_stock"]) == (0, False)
    catalog.set_source_item(sku, "default", 3)
    catalog.set_source_item(sku, "eu_warehouse", 2.5, status=1)
    parent = next(p.sku for p in catalog if p.type_id == "configurable")
    catalog.set_source_item(parent, "eu_warehouse", 1)  # any sku may be assigned to a source
    found = {(i.source_code, i.sku): i for i in catalog.source_items()}
    assert (found[("default", sku)].quantity, found[("eu_warehouse", sku)].quantity) == (3, 2.5)
    assert ("eu_warehouse", parent) in found
    catalog.delete(parent)  # a deleted product's source items go with it
    assert ("eu_warehouse", parent) not in {(i.source_code, i.sku) for i in catalog.source_items()}
    with pytest.raises(ValueError, match="unknown source"):
        catalog.set_source_item(sku, "us_warehouse", 1)
    with pytest.raises(KeyError):
        catalog.set_source_item("NO-SUCH-SKU", "default", 1)


def test_keyset_paging_by_sku_with_a_source_filter_gives_every_item_once() -> None:
    catalog = Catalog.generate(400, seed=8)
    app, headers = make_app(catalog)
    expected = sorted(i.sku for i in catalog.source_items() if i.source_code == "eu_warehouse")
    seen = keyset_walk(
        app,
        headers,
        SOURCE_ITEMS,
        ("sku", "sku"),
        "",
        where=("source_code", "eu_warehouse"),
        page_size=37,
    )
    assert seen == expected


def test_filters_and_sorts() -> None:
    catalog = Catalog.generate(200, seed=9)
    app, headers = make_app(catalog)
    skus = [i.sku for i in catalog.source_items()][:6:2]
    params = sc((0, 0, "sku", ",".join(skus), "in"), sorts=(("quantity", "DESC"),))
    body = call(app, headers, SOURCE_ITEMS, params)[1]
    quantities = [i["quantity"] for i in body["items"]]
    assert body["total_count"] == 6 and quantities == sorted(quantities, reverse=True)
    out = call(app, headers, SOURCE_ITEMS, sc((0, 0, "status", "0", "eq")))[1]["items"]
    assert out and all(i["status"] == 0 and i["quantity"] == 0 for i in out)
    fields = [*sc(page_size=1), ("fields", "items[sku],total_count")]
    body = call(app, headers, SOURCE_ITEMS, fields)[1]
    assert set(body) == {"items", "total_count"} and set(body["items"][0]) == {"sku"}


def test_errors_forbidden_page_size_unknown_column_and_store() -> None:
    app, headers = make_app()
    app.faults.update({"forbidden": ["source_items", "categories"]})
    status, body = call(app, headers, SOURCE_ITEMS, sc())
    assert status == 401  # Magento answers an ACL refusal with 401
    assert body == {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_InventoryApi::source"},
    }
    assert call(app, headers, PRODUCTS, sc())[0] == 200  # the other resources still answer
    app.faults.update({"forbidden": ["products"]})
    status, body = call(app, headers, PRODUCTS, sc())
    assert (status, body["parameters"]) == (401, {"resources": "Magento_Catalog::products"})
    app.faults.update({"forbidden_status": 403})  # as gateways that use 403 answer
    assert call(app, headers, PRODUCTS, sc())[0] == 403
    assert call(app, headers, SOURCE_ITEMS, sc())[0] == 200
    app.faults.reset()
    assert call(app, headers, SOURCE_ITEMS, sc(page_size=301)) == (
        400,
        {"message": "Maximum SearchCriteria pageSize is 300", "parameters": ["300"]},
    )
    # An unknown column of the flat table is an SQL error: production Magento's bare 500.
    status, body = call(app, headers, SOURCE_ITEMS, sc(sorts=(("qty", "ASC"),)))
    assert status == 500 and body["message"].startswith("Internal Error.")
    assert call(app, headers, SOURCE_ITEMS, sc(), store="nope")[0] == 400


@pytest.mark.parametrize(
    "value, error",
    [
        (["categories", "warehouse"], "unknown resource 'warehouse'"),
        ("categories", "must be a list"),
        (1, "must be a list"),
    ],
)
def test_the_forbidden_fault_is_validated(value: object, error: str) -> None:
    app, headers = make_app()
    response = app.handle(
        "POST", "/_emulator/faults", {}, body=json.dumps({"forbidden": value}).encode()
    )
    assert response.status == 400 and error in response.json()["message"]
    assert app.faults.forbidden == set()
    response = app.handle("POST", "/_emulator/faults", {}, body=b'{"forbidden": ["products"]}')
    assert response.status == 200 and response.json()["forbidden"] == ["products"]
    assert call(app, headers, PRODUCTS, sc())[0] == 401
    assert app.stats.as_dict()["requests"] == {"list": 1}


@pytest.mark.parametrize("value", [400, 404, 200, "403", None])
def test_the_forbidden_status_is_401_or_403(value: object) -> None:
    app, _ = make_app()
    response = app.handle(
        "POST", "/_emulator/faults", {}, body=json.dumps({"forbidden_status": value}).encode()
    )
    assert response.status == 400 and "forbidden_status" in response.json()["message"]
    assert app.faults.forbidden_status == 401


def test_the_missing_fault_answers_404_for_that_resource_only() -> None:
    app, headers = make_app()
    app.faults.update({"missing": ["source_items"]})
    status, body = call(app, headers, SOURCE_ITEMS, sc())
    assert (status, body) == (404, {"message": "Request does not match any route."})
    assert call(app, headers, PRODUCTS, sc())[0] == 200
    with pytest.raises(ValueError, match="unknown resource"):
        app.faults.update({"missing": ["stock"]})

"""List pages joined from cached product bytes are byte for byte the old full render+encode."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from sync.emulator import Catalog, EmulatorApp, Faults
from sync.emulator.pages import RenderCache
from sync.emulator.records import render
from sync.emulator.response import encode_json

STORES = ("default", "fr", "de")


def keyset(last: int, size: int = 15, **extra: str) -> str:
    return urlencode(
        {
            "searchCriteria[filterGroups][0][filters][0][field]": "entity_id",
            "searchCriteria[filterGroups][0][filters][0][value]": str(last),
            "searchCriteria[filterGroups][0][filters][0][conditionType]": "gt",
            "searchCriteria[sortOrders][0][field]": "entity_id",
            "searchCriteria[sortOrders][0][direction]": "ASC",
            "searchCriteria[pageSize]": str(size),
            **extra,
        }
    )


QUERIES = [
    keyset(0),
    keyset(20, size=300),
    keyset(0, **{"fields": "items[id,sku,updated_at],total_count"}),
    keyset(0, **{"fields": "items[sku,extension_attributes[stock_item[qty]]]"}),
    keyset(0, **{"fields": ""}),
    urlencode({"searchCriteria[pageSize]": "7", "searchCriteria[currentPage]": "2"}),
    urlencode({"searchCriteria[pageSize]": "5", "searchCriteria[currentPage]": "99"}),
    urlencode(
        {
            "searchCriteria[filterGroups][0][filters][0][field]": "name",
            "searchCriteria[filterGroups][0][filters][0][value]": "%a%",
            "searchCriteria[filterGroups][0][filters][0][conditionType]": "like",
            "searchCriteria[sortOrders][0][field]": "price",
        }
    ),
]


class Pair:
    """The same catalog served with the render cache and without it (the old code path)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.fast, self.slow = (
            EmulatorApp(
                catalog,
                tenant="t1",
                client_id="cid",
                client_secret="s3cret",
                org_id="ORG@AdobeOrg",
                # Same unsorted order in both apps: shuffled by catalog version, not request.
                faults=Faults(shuffle_per_request=False),
                render_cache_bytes=size,
            )
            for size in (64 * 1024 * 1024, 0)
        )
        assert self.fast.renders is not None and self.slow.renders is None
        self._tokens = {id(app): app.issue_token() for app in (self.fast, self.slow)}

    def get(self, app: EmulatorApp, path: str, query: str, store: str) -> bytes:
        headers = {
            "Authorization": f"Bearer {self._tokens[id(app)]}",
            "x-api-key": "cid",
            "x-gw-ims-org-id": "ORG@AdobeOrg",
            "Store": store,
        }
        response = app.handle("GET", f"/t1/V1/products{path}", headers, query)
        assert response.status == 200, response.body
        return response.body

    def assert_identical(self) -> None:
        sku = quote(self.catalog.skus()[3], safe="")
        for store in STORES:
            for query in QUERIES:
                assert self.get(self.fast, "", query, store) == self.get(
                    self.slow, "", query, store
                )
            for path, query in ((f"/{sku}", ""), (f"/{sku}", "fields=sku,price")):
                assert self.get(self.fast, path, query, store) == self.get(
                    self.slow, path, query, store
                )


@pytest.fixture
def pair() -> Pair:
    return Pair(Catalog.generate(60, seed=4, stores=STORES))


def test_pages_items_and_store_views_are_byte_identical(pair: Pair) -> None:
    pair.assert_identical()
    assert any(p.overrides for p in pair.catalog)  # store-view values were exercised
    pair.assert_identical()  # now served from the cache
    assert pair.fast.renders is not None and len(pair.fast.renders) > 0


def test_every_kind_of_change_is_served_fresh_and_identical(pair: Pair) -> None:
    pair.assert_identical()  # fill the cache
    catalog = pair.catalog
    skus = catalog.skus()
    catalog.update(skus[0], price=12.5, name="Caf\u00e9 / Cr\u00e8me \u2615")
    catalog.set_stock(skus[1], 7)  # updated_at does not move
    catalog.set_images(skus[2], ["/n/e/new.jpg"])  # updated_at does not move
    catalog.update(skus[3], store="fr", name="Nom fran\u00e7ais")
    catalog.update(skus[4], store="fr", name=None)
    catalog.touch_many(skus[5:8], at="2030-01-01 00:00:00")
    catalog.delete(skus[8])
    catalog.create("NEW-1", price=3)
    pair.assert_identical()

    def listed(store: str = "default") -> dict[str, Any]:
        body = pair.get(pair.fast, "", keyset(0, size=300), store)
        return {item["sku"]: item for item in json.loads(body)["items"]}

    items = listed()
    assert items[skus[0]]["price"] == 12.5
    assert items[skus[0]]["name"] == "Caf\u00e9 / Cr\u00e8me \u2615"
    assert items[skus[1]]["extension_attributes"]["stock_item"]["qty"] == 7
    assert items[skus[2]]["media_gallery_entries"][0]["file"] == "/n/e/new.jpg"
    assert skus[8] not in items and "NEW-1" in items
    assert listed("fr")[skus[3]]["name"] == "Nom fran\u00e7ais"


def test_a_full_cache_keeps_serving_correct_bytes_and_refreshes_changed_entries() -> None:
    catalog = Catalog.generate(30, seed=2)
    products = list(catalog)
    one = len(encode_json(render(products[0])))
    cache = RenderCache(max_bytes=3 * (one + 400))
    for p in products:
        assert cache.product(p) == encode_json(render(p))
    kept = len(cache)
    assert 1 <= kept < len(products) and cache.size <= cache.max_bytes
    catalog.set_stock(products[0].sku, 1234)
    changed = catalog.get(products[0].sku)
    assert changed is not None and changed is not products[0]
    assert cache.product(changed) == encode_json(render(changed))
    assert b'"qty":1234' in cache.product(changed)
    assert len(cache) == kept
    cache.clear()
    assert len(cache) == 0 and cache.size == 0

"""``GET /V1/categories/list``: Luma's tree with Magento's ids, searchCriteria like products,
store-view names, and the changes a mirror must notice (renames, moves, deletes)."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sync.clock import FakeClock
from sync.emulator import Catalog
from tests.unit.emulator_calls import CATEGORIES, PRODUCTS, call, keyset_walk, make_app, sc
from tests.unit.openapi_shapes import problems, response_ref

SAMPLE = Path("/work/shared/data/magento-sample")
LUMA = SAMPLE / "ConfigurableSampleData/fixtures/products.csv"
ALL = sc(sorts=(("entity_id", "ASC"),), page_size=300)


def by_id(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {item["id"]: item for item in body["items"]}


def test_answers_follow_the_openapi_schema() -> None:
    app, headers = make_app(Catalog.generate(50, stores=("default", "fr")))
    definition = response_ref("/V1/categories/list")
    assert definition == "catalog-data-category-search-results-interface"
    for store in ("default", "fr"):
        status, body = call(app, headers, CATEGORIES, ALL, store=store)
        assert status == 200
        assert problems(body, definition) == []
        assert body["total_count"] == len(body["items"]) == 42
    status, body = call(app, headers, CATEGORIES, sc((0, 0, "nope", "1", None)))
    assert status == 400
    assert body == {"message": "Invalid attribute name: %1", "parameters": ["nope"]}
    # The schema draws "parameters" as a list of objects; Magento sends the placeholders'
    # values (a list, or an object for named ones), so only the message is checked.
    assert problems({"message": body["message"]}, "error-response") == []


def test_the_luma_tree_has_magentos_ids_paths_levels_and_positions() -> None:
    app, headers = make_app(Catalog.generate(10))
    tree = by_id(call(app, headers, CATEGORIES, ALL)[1])
    rows = {
        cid: (c["name"], c["parent_id"], c["path"], c["level"], c["position"])
        for cid, c in tree.items()
    }
    assert rows[1] == ("Root Catalog", 0, "1", 0, 0)
    assert rows[2] == ("Default Category", 1, "1/2", 1, 1)
    assert rows[3] == ("Gear", 2, "1/2/3", 2, 4)
    assert rows[6] == ("Watches", 3, "1/2/3/6", 3, 3)
    assert rows[9] == ("Training", 2, "1/2/9", 2, 5)
    assert rows[11] == ("Men", 2, "1/2/11", 2, 3)
    assert rows[14] == ("Jackets", 12, "1/2/11/12/14", 4, 1)
    assert rows[20] == ("Women", 2, "1/2/20", 2, 2)
    assert rows[26] == ("Bras & Tanks", 21, "1/2/20/21/26", 4, 4)
    assert rows[29] == ("Promotions", 2, "1/2/29", 2, 6)
    assert rows[36] == ("Eco Friendly", 7, "1/2/7/36", 3, 4)
    # The store root's children by position: Luma's menu order (Collections and Promotions
    # are not in the menu).
    assert tree[2]["children"].startswith("20,11,3,7,9,29,")  # then the generator's 37-42
    assert [tree[c]["name"] for c in (20, 11, 3, 9) if tree[c]["include_in_menu"]] == [
        "Women",
        "Men",
        "Gear",
        "Training",
    ]
    assert (tree[29]["is_active"], tree[29]["include_in_menu"]) == (False, False)
    attrs = {a["attribute_code"]: a["value"] for a in tree[15]["custom_attributes"]}
    assert attrs["url_path"] == "men/tops-men/hoodies-and-sweatshirts-men"
    assert attrs["children_count"] == "0" and attrs["is_anchor"] == "1"


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="Luma sample data not available")
def test_the_bundled_tree_is_lumas_categories_csv() -> None:
    catalog = Catalog.generate(10)
    served = {(c.path.count("/"), c.url_key): c for c in catalog.categories()}
    for module in ("CatalogSampleData", "DownloadableSampleData", "ConfigurableSampleData"):
        with (SAMPLE / module / "fixtures/categories.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                level = 2 + len([p for p in row["path"].split("/") if p])
                c = served[(level, row["url_key"])]
                assert c.name == row["name"]
                assert c.is_active == (row["active"] == "1")
                assert c.include_in_menu == (row["include_in_menu"] == "1")
                if row["position"]:
                    assert c.position == int(row["position"])


@pytest.mark.parametrize("n, seed", [(0, 0), (30, 1), (2000, 7)])
def test_every_category_a_generated_product_links_exists(n: int, seed: int) -> None:
    catalog = Catalog.generate(n, seed=seed)
    tree = {c.id for c in catalog.categories()}
    linked = {cid for p in catalog for cid in p.category_ids}
    assert linked <= tree
    assert set(range(1, 43)) <= tree


def test_a_product_given_an_unknown_category_keeps_the_tree_whole() -> None:
    catalog = Catalog.generate(20, seed=1, stores=("default", "fr"))
    sku = catalog.skus()[0]
    catalog.update(sku, category_ids=[14, 77])
    catalog.add(
        {"sku": "NEW-1", "extension_attributes": {"category_links": [{"category_id": "78"}]}}
    )
    tree = {c.id: c for c in catalog.categories()}
    assert {77, 78} <= set(tree) and tree[77].path == "1/2/77"
    with pytest.raises(ValueError, match="unknown store"):
        catalog.update_category(14, store="xx", name="X")
    with pytest.raises(ValueError, match="own name"):
        catalog.update_category(14, store="fr", is_active=False)


@pytest.mark.skipif(not LUMA.is_file(), reason="Luma sample data not available")
def test_luma_products_link_to_lumas_category_ids() -> None:
    catalog = Catalog.from_csv(LUMA)
    tree = {c.id: c for c in catalog.categories()}
    assert {cid for p in catalog for cid in p.category_ids} <= set(tree)
    hoodie = catalog.item("MH01")
    assert hoodie is not None
    links = {int(x["category_id"]) for x in hoodie["extension_attributes"]["category_links"]}
    assert {tree[c].name for c in links} >= {"Hoodies & Sweatshirts"}
    assert all(tree[c].path.startswith("1/2") for c in links)


def test_a_csv_path_the_tree_lacks_is_created_under_its_parent(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text(
        "sku,categories,name,qty\n"
        'A,"Default Category/Men/Tops/Rain Capes,Default Category/Gear",A,5\n'
        "B,Default Category/Men/Tops/Rain Capes,B,1\n",
        encoding="utf-8",
    )
    catalog = Catalog.from_csv(path)
    cape = next(c for c in catalog.categories() if c.name == "Rain Capes")
    assert (cape.id, cape.parent_id, cape.path, cape.level) == (37, 12, "1/2/11/12/37", 4)
    assert cape.position == 5  # after Tanks, the last of Men/Tops
    assert catalog.get("A").category_ids == (37, 3)  # type: ignore[union-attr]
    assert catalog.get("B").category_ids == (37,)  # type: ignore[union-attr]


def test_keyset_paging_by_id_with_a_filter_gives_every_category_once() -> None:
    app, headers = make_app(Catalog.generate(100, seed=2))
    expected = [c.id for c in app.catalog.categories() if c.is_active]
    # A change while paging shifts nothing in a keyset walk.
    seen = keyset_walk(
        app,
        headers,
        CATEGORIES,
        ("entity_id", "id"),
        0,
        where=("is_active", "1"),
        page_size=4,
        between_pages=lambda: app.catalog.update_category(30, name="Sale for Women"),
    )
    assert seen == expected


def test_updated_at_filters_see_a_rename() -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, 0))
    catalog = Catalog.generate(10, clock=clock.now)
    app, headers = make_app(catalog)
    before = catalog.categories()[5].updated_at
    clock.advance(3600)
    renamed = catalog.update_category(14, name="Coats & Jackets")
    assert renamed["updated_at"] == "2026-03-01 13:00:00" > before

    def ids(condition: str, value: str) -> list[int]:
        params = sc((0, 0, "updated_at", value, condition), sorts=(("id", "ASC"),))
        return [item["id"] for item in call(app, headers, CATEGORIES, params)[1]["items"]]

    assert ids("gt", "2026-03-01 12:00:00") == [14]
    assert ids("gteq", "2026-03-01 13:00:00") == [14]
    assert ids("eq", "2026-03-01 13:00:00") == [14]
    assert 14 not in ids("lt", "2026-03-01 13:00:00")
    assert len(ids("lt", "2026-03-01 13:00:00")) == 41
    assert by_id(call(app, headers, CATEGORIES, ALL)[1])[14]["name"] == "Coats & Jackets"


def test_store_views_answer_with_their_names_and_an_unknown_store_is_a_400() -> None:
    catalog = Catalog.generate(10, stores=("default", "fr", "de", "it"))
    app, headers = make_app(catalog)
    names = {
        store: {c["id"]: c["name"] for c in call(app, headers, CATEGORIES, ALL, store)[1]["items"]}
        for store in ("default", "fr", "de", "it")
    }
    assert (names["default"][11], names["fr"][11], names["de"][11]) == ("Men", "Hommes", "Herren")
    assert names["it"][11] == "Men"  # no translation: the default store's name
    params = sc((0, 0, "name", "Hommes", "eq"))
    assert [c["id"] for c in call(app, headers, CATEGORIES, params, "fr")[1]["items"]] == [11]
    catalog.update_category(11, store="fr", name="Homme")
    assert by_id(call(app, headers, CATEGORIES, ALL, "fr")[1])[11]["name"] == "Homme"
    assert by_id(call(app, headers, CATEGORIES, ALL)[1])[11]["name"] == "Men"
    unknown = call(app, headers, CATEGORIES, ALL, "xx")
    assert unknown == call(app, headers, PRODUCTS, ALL, "xx")
    assert unknown[0] == 400


def test_deleting_a_category_removes_its_subtree_and_links_but_not_products_updated_at() -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, 0))
    catalog = Catalog.generate(400, seed=3, clock=clock.now)
    app, headers = make_app(catalog)
    linked = {p.sku: p for p in catalog if {14, 15, 16} & set(p.category_ids)}
    assert linked
    clock.advance(60)
    assert catalog.delete_category(12) == [12, 14, 15, 16, 17]  # Men/Tops and its children
    tree = by_id(call(app, headers, CATEGORIES, ALL)[1])
    assert not {12, 14, 15, 16, 17} & set(tree)
    assert tree[11]["children"] == "13"
    # Ancestors' children_count changed, so their rows moved; untouched rows did not.
    assert tree[11]["updated_at"] == tree[2]["updated_at"] == "2026-03-01 12:01:00"
    assert tree[3]["updated_at"] < "2026-03-01 12:01:00"
    for sku, before in linked.items():
        after = catalog.item(sku)
        assert after is not None and after["updated_at"] == before.updated_at
        ids = {int(x["category_id"]) for x in after["extension_attributes"]["category_links"]}
        assert not ids & {12, 14, 15, 16, 17}
        assert ids == set(before.category_ids) - {12, 14, 15, 16, 17}
    with pytest.raises(ValueError, match="root"):
        catalog.delete_category(2)


def test_moving_and_creating_categories_renumber_positions_as_magento_does() -> None:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, 0))
    catalog = Catalog.generate(10, clock=clock.now)
    clock.advance(60)
    moved = catalog.move_category(4, 11, after_id=12)  # Gear/Bags to Men, after Tops
    assert (moved["parent_id"], moved["path"], moved["level"], moved["position"]) == (
        11,
        "1/2/11/4",
        3,
        2,
    )
    rows = {c.id: c for c in catalog.categories()}
    assert (rows[5].position, rows[6].position) == (1, 2)  # the gap in Gear closed
    assert (rows[12].position, rows[13].position) == (1, 3)  # Bottoms moved along
    assert rows[11].children == "12,4,13"
    stamp = "2026-03-01 12:01:00"
    changed = {cid for cid, c in rows.items() if c.updated_at == stamp}
    assert changed == {2, 3, 4, 5, 6, 11, 13} | {1}  # moved, shifted, and counts changed
    made = catalog.create_category("Sale", 2, include_in_menu=False)
    # Last among the store root's children: Luma's six and the generator's 37-42.
    assert (made["id"], made["path"], made["position"]) == (43, "1/2/43", 13)
    catalog.delete_category(43)
    assert catalog.create_category("Again")["id"] == 44  # ids are never reused
    with pytest.raises(ValueError, match="below itself"):
        catalog.move_category(11, 12)


def test_the_forbidden_fault_answers_401_like_magento_for_categories_only() -> None:
    app, headers = make_app()
    app.faults.update({"forbidden": ["categories"]})
    status, body = call(app, headers, CATEGORIES, ALL)
    assert status == 401
    assert body == {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_Catalog::categories"},
    }
    assert call(app, headers, PRODUCTS, ALL)[0] == 200
    app.faults.update({"forbidden": []})
    assert call(app, headers, CATEGORIES, ALL)[0] == 200
    # Without a valid token it is a 401 naming the same resource.
    status, body = call(app, {**headers, "Authorization": "Bearer nope"}, CATEGORIES, ALL)
    assert (status, body["parameters"]) == (401, {"resources": "Magento_Catalog::categories"})


def test_page_size_limit_paging_past_the_end_and_fields() -> None:
    app, headers = make_app()
    status, body = call(app, headers, CATEGORIES, sc(page_size=301))
    assert (status, body) == (
        400,
        {"message": "Maximum SearchCriteria pageSize is 300", "parameters": ["300"]},
    )
    assert call(app, headers, CATEGORIES, sc(page_size=300))[0] == 200
    status, body = call(app, headers, CATEGORIES, sc(sorts=(("id", "ASC"),), page_size=10, page=9))
    assert (status, body["items"], body["total_count"]) == (200, [], 42)
    app.faults.legacy_last_page = True
    last = call(app, headers, CATEGORIES, sc(sorts=(("id", "ASC"),), page_size=10, page=9))[1]
    assert [c["id"] for c in last["items"]] == [41, 42]
    params = [*sc(sorts=(("id", "DESC"),), page_size=2), ("fields", "items[id,name],total_count")]
    assert call(app, headers, CATEGORIES, params)[1] == {
        "items": [{"id": 42, "name": "Category 42"}, {"id": 41, "name": "Category 41"}],
        "total_count": 42,
    }


def test_faults_and_stats_cover_the_category_endpoint() -> None:
    app, headers = make_app()
    app.faults.update({"rate_limit_next": 1, "error_5xx_next": 1})
    assert call(app, headers, CATEGORIES, ALL)[0] == 429
    assert call(app, headers, CATEGORIES, ALL)[0] == 503
    app.faults.disconnect_next = 1
    assert app.handle("GET", CATEGORIES, headers, "searchCriteria=").disconnect
    app.faults.invalid_json_next = 1
    cut = app.handle("GET", CATEGORIES, headers, "searchCriteria=")
    assert cut.status == 200 and not cut.body.endswith(b"}")
    assert app.stats.as_dict()["requests"] == {"categories": 4}
    assert app.stats.list_requests() == []  # still product list requests only
    assert app.stats.max_in_flight == 1 and app.stats.in_flight == 0

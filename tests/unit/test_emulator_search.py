"""The emulator's searchCriteria: parsing like Magento's REST layer, and filtering, sorting and
paging with Magento's traps (no default order, DESC default, page-size limit, last-page repeat)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from sync.emulator import Catalog, EmulatorApp
from sync.emulator.criteria import MagentoError, parse_criteria
from sync.emulator.records import Product
from tests.unit import emulator_calls
from tests.unit.emulator_calls import TENANT, sc


def small_catalog() -> Catalog:
    rows = [
        Product(
            id=1,
            sku="A-1",
            name="Alpha",
            price=10.0,
            status=1,
            visibility=4,
            type_id="simple",
            weight=1.0,
            created_at="2024-01-01 00:00:00",
            updated_at="2024-03-01 10:00:00",
        ),
        Product(
            id=2,
            sku="B-2",
            name="Bravo",
            price=20.0,
            status=2,
            visibility=1,
            type_id="simple",
            weight=None,
            created_at="2024-01-02 00:00:00",
            updated_at="2024-03-01 10:00:00",
        ),
        Product(
            id=4,
            sku="C-4",
            name="Charlie",
            price=None,
            status=1,
            visibility=4,
            type_id="configurable",
            created_at="2024-01-03 00:00:00",
            updated_at="2024-03-02 08:00:00",
            attribute_set_id=9,
        ),
        Product(
            id=7,
            sku="D-7",
            name="Delta",
            price=30.0,
            status=1,
            visibility=2,
            type_id="virtual",
            created_at="2024-01-04 00:00:00",
            updated_at="2024-03-03 00:00:00",
        ),
        Product(
            id=9,
            sku="E-9",
            name="Echo",
            price=30.0,
            status=1,
            visibility=3,
            type_id="simple",
            weight=2.5,
            created_at=None,
            updated_at="2024-03-01 10:00:00",
        ),
    ]
    return Catalog(rows)


def make_app(catalog: Catalog | None = None, **faults: Any) -> tuple[EmulatorApp, dict[str, str]]:
    return emulator_calls.make_app(catalog or small_catalog(), **faults)


def get(
    app: EmulatorApp, headers: dict[str, str], params: list[tuple[str, str]]
) -> tuple[int, Any]:
    response = app.handle("GET", f"/{TENANT}/V1/products", headers, urlencode(params))
    return response.status, response.json()


def ids(body: dict[str, Any]) -> list[int]:
    return [item["id"] for item in body["items"]]


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("snake", [False, True])
def test_camel_and_snake_case_parse_to_the_same_criteria(snake: bool) -> None:
    c = parse_criteria(
        sc(
            (0, 0, "sku", "A-1", "eq"),
            (1, 0, "price", "5", "gt"),
            sorts=(("price", "asc"),),
            page_size=50,
            page=2,
            snake=snake,
        )
    )
    assert [[(f.field, f.value, f.condition) for f in g] for g in c.groups] == [
        [("sku", "A-1", "eq")],
        [("price", "5", "gt")],
    ]
    assert (c.sort_orders[0].field, c.sort_orders[0].descending) == ("price", False)
    assert (c.page_size, c.current_page) == (50, 2)


def test_response_echoes_criteria_in_snake_case_and_counts_all_matches() -> None:
    app, headers = make_app()
    status, body = get(
        app,
        headers,
        sc((0, 0, "status", "1", None), sorts=(("entity_id", "ASC"),), page_size=2, page=1),
    )
    assert status == 200
    assert body["search_criteria"] == {
        "filter_groups": [{"filters": [{"field": "status", "value": "1"}]}],
        "sort_orders": [{"field": "entity_id", "direction": "ASC"}],
        "page_size": 2,
        "current_page": 1,
    }
    assert ids(body) == [1, 4]
    assert body["total_count"] == 4  # all matches, not the page


def test_missing_search_criteria_and_bad_page_size_are_400() -> None:
    with pytest.raises(MagentoError) as missing:
        parse_criteria([("fields", "items[sku]")])
    assert missing.value.body["parameters"] == {"fieldName": "searchCriteria"}
    with pytest.raises(MagentoError) as bad:
        parse_criteria([("searchCriteria[pageSize]", "ten")])
    assert bad.value.status == 400


# -- filtering --------------------------------------------------------------------------------


def test_groups_are_anded_and_filters_in_a_group_are_ored() -> None:
    app, headers = make_app()
    params = sc(
        (0, 0, "sku", "A-1", "eq"),
        (0, 1, "sku", "D-7", "eq"),
        (0, 2, "sku", "E-9", "eq"),
        (1, 0, "price", "25", "gt"),
        sorts=(("entity_id", "ASC"),),
    )
    assert ids(get(app, headers, params)[1]) == [7, 9]


@pytest.mark.parametrize(
    ("field", "value", "cond", "expected"),
    [
        ("entity_id", "4", None, [4]),  # eq when conditionType is missing
        ("id", "4", "neq", [1, 2, 7, 9]),
        ("price", "20", "gt", [7, 9]),
        ("price", "20", "gteq", [2, 7, 9]),
        ("price", "20", "lt", [1]),
        ("price", "20", "lteq", [1, 2]),
        ("price", "20", "neq", [1, 7, 9]),  # SQL: NULL price matches no comparison
        ("name", "%a%", "like", [1, 2, 4, 7]),  # case-insensitive, % wildcards
        ("sku", "A-1,E-9", "in", [1, 9]),
        ("type_id", "simple,virtual", "nin", [4]),
        ("weight", "", "null", [2, 4, 7]),
        ("created_at", "", "notnull", [1, 2, 4, 7]),
        ("updated_at", "2024-03-02 08:00:00", "from", [4, 7]),
        ("updated_at", "2024-03-01 10:00:00", "to", [1, 2, 9]),
        ("updated_at", "2024-03-01T10:00:00", "gt", [4, 7]),  # ISO 'T' accepted like MySQL
        ("visibility", "4", "eq", [1, 4]),
        ("status", "2", "eq", [2]),
        ("attribute_set_id", "9", "eq", [4]),
    ],
)
def test_condition_types(field: str, value: str, cond: str | None, expected: list[int]) -> None:
    app, headers = make_app()
    status, body = get(app, headers, sc((0, 0, field, value, cond), sorts=(("entity_id", "ASC"),)))
    assert status == 200
    assert ids(body) == expected


def test_unknown_field_is_400_invalid_attribute_name() -> None:
    app, headers = make_app()
    status, body = get(app, headers, sc((0, 0, "foo", "1", "eq")))
    assert status == 400
    assert body == {"message": "Invalid attribute name: %1", "parameters": ["foo"]}
    status, _ = get(app, headers, sc(sorts=(("foo", "ASC"),)))
    assert status == 400


# -- sorting and paging -----------------------------------------------------------------------


def test_sort_order_without_direction_is_desc() -> None:
    app, headers = make_app()
    assert ids(get(app, headers, sc(sorts=(("entity_id", None),)))[1]) == [9, 7, 4, 2, 1]
    assert ids(get(app, headers, sc(sorts=(("entity_id", "asc"),)))[1]) == [1, 2, 4, 7, 9]
    by_price = ids(get(app, headers, sc(sorts=(("price", "ASC"), ("entity_id", "ASC"))))[1])
    assert by_price == [4, 1, 2, 7, 9]  # NULL first in ASC, ties broken by the second key


def test_page_size_over_the_input_limit_is_400_unless_switched_off() -> None:
    app, headers = make_app()
    status, body = get(app, headers, sc(page_size=301))
    assert status == 400
    assert body == {"message": "Maximum SearchCriteria pageSize is 300", "parameters": ["300"]}
    app.faults.max_page_size = 2
    assert (
        get(app, headers, sc(page_size=3))[1]["message"] == "Maximum SearchCriteria pageSize is 2"
    )
    app.faults.input_limit = False
    assert get(app, headers, sc(page_size=1000))[0] == 200


def test_page_past_the_end_is_empty_in_2_4_and_the_last_page_in_legacy_mode() -> None:
    app, headers = make_app()
    params = sc(sorts=(("entity_id", "ASC"),), page_size=2, page=9)
    status, body = get(app, headers, params)
    assert (status, body["items"], body["total_count"]) == (200, [], 5)
    app.faults.legacy_last_page = True
    assert ids(get(app, headers, params)[1]) == [9]  # Magento < 2.4 repeats the last page


def test_missing_page_size_returns_everything_and_current_page_defaults_to_one() -> None:
    app, headers = make_app()
    assert len(get(app, headers, sc())[1]["items"]) == 5
    assert ids(get(app, headers, sc(sorts=(("entity_id", "ASC"),), page_size=2))[1]) == [1, 2]


def test_without_sort_order_offset_paging_misses_and_repeats_products() -> None:
    """The trap: no default sort, so pages of an unsorted query do not partition the result."""
    catalog = Catalog.generate(400, seed=3)
    app, headers = make_app(catalog)
    seen: list[int] = []
    for page in range(1, 5):
        seen += ids(get(app, headers, sc(page_size=100, page=page))[1])
    assert len(seen) == 400
    assert len(set(seen)) < 400  # some repeated, so others were never served
    first = ids(get(app, headers, sc(page_size=100))[1])
    assert first != sorted(first)  # not entity-id order either
    assert first != ids(get(app, headers, sc(page_size=100))[1])  # unstable across requests


def test_ties_of_a_non_unique_sort_are_unstable_but_a_unique_tie_break_is_not() -> None:
    catalog = Catalog.generate(300, seed=4)
    catalog.touch_many(catalog.ids(), at="2025-01-01 00:00:00")
    app, headers = make_app(catalog)
    tie = sc(sorts=(("updated_at", "ASC"),), page_size=50)
    orders = {tuple(ids(get(app, headers, tie)[1])) for _ in range(3)}
    assert len(orders) > 1
    stable = sc(sorts=(("updated_at", "ASC"), ("entity_id", "ASC")), page_size=50)
    assert ids(get(app, headers, stable)[1]) == sorted(catalog.ids())[:50]


def test_keyset_paging_with_an_entity_id_filter_sees_every_product_once() -> None:
    catalog = Catalog.generate(1000, seed=5)
    app, headers = make_app(catalog)
    last, seen = 0, []
    while True:
        page = ids(
            get(
                app,
                headers,
                sc(
                    (0, 0, "entity_id", str(last), "gt"),
                    sorts=(("entity_id", "ASC"),),
                    page_size=300,
                ),
            )[1]
        )
        if not page:
            break
        seen += page
        last = page[-1]
    assert seen == catalog.ids()


def test_fields_parameter_trims_the_answer() -> None:
    app, headers = make_app()
    params = [
        *sc(sorts=(("entity_id", "ASC"),), page_size=1),
        ("fields", "items[id,sku,extension_attributes[stock_item[qty]]],total_count"),
    ]
    status, body = get(app, headers, params)
    assert status == 200
    assert body == {
        "items": [{"id": 1, "sku": "A-1", "extension_attributes": {"stock_item": {"qty": 0}}}],
        "total_count": 5,
    }


def test_unsorted_order_can_be_made_stable_until_the_catalog_changes() -> None:
    catalog = Catalog.generate(200, seed=6)
    app, headers = make_app(catalog, shuffle_per_request=False)
    first = ids(get(app, headers, sc(page_size=50))[1])
    assert first == ids(get(app, headers, sc(page_size=50))[1])
    catalog.update(catalog.skus()[0], name="changed")
    assert first != ids(get(app, headers, sc(page_size=50))[1])

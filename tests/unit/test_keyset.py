"""Keyset paging by a key of one or two fields, against a list that applies criteria the way
Magento does (filters ANDed, sorted by the key)."""

from __future__ import annotations

from typing import Any

import pytest

from sync.api.criteria import SearchCriteria
from sync.api.keyset import KeyPosition, KeysetWalk
from sync.api.paging import Page
from sync.errors import InvalidResponse


def serve(records: list[dict[str, Any]], criteria: SearchCriteria, names: dict[str, str]) -> Page:
    """Apply ``criteria`` to ``records`` (field names mapped by ``names``)."""
    matching = records
    for group in criteria.groups:
        (flt,) = group
        field = names[flt.field]
        value: Any = (
            int(flt.value) if isinstance(matching[0][field] if matching else 0, int) else flt.value
        )
        if flt.condition == "gt":
            matching = [r for r in matching if r[field] > value]
        elif flt.condition == "eq":
            matching = [r for r in matching if r[field] == value]
    matching = sorted(matching, key=lambda r: tuple(r[names[s.field]] for s in criteria.sorts))
    return Page(matching[: criteria.page_size], len(matching), criteria.page_size)


def walk_all(
    walk: KeysetWalk, records: list[dict[str, Any]], names: dict[str, str], size: int
) -> tuple[list[Any], int]:
    seen, requests = [], 0
    position: KeyPosition | None = KeyPosition()
    while position is not None:
        page = serve(records, walk.criteria(position, size), names)
        requests += 1
        seen += [walk.key_of(item) for item in page.items]
        position = walk.advance(position, page)
    return seen, requests


def source_key(item: Any) -> tuple[str, str] | None:
    return (item["source_code"], item["sku"]) if isinstance(item, dict) else None


SOURCES = [
    {"source_code": source, "sku": f"SKU-{n:03d}"}
    for source in ("default", "eu_warehouse", "us_east")
    for n in range(7)
    if not (source == "us_east" and n > 1)
]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 100])
def test_two_field_keys_are_read_once_each_in_order(size: int) -> None:
    walk = KeysetWalk(fields=["source_code", "sku"], key_of=source_key)
    names = {"source_code": "source_code", "sku": "sku"}
    seen, _ = walk_all(walk, SOURCES, names, size)
    assert seen == sorted(source_key(r) for r in SOURCES)


def test_one_field_keys_ask_key_greater_than_the_last() -> None:
    records = [{"id": n} for n in (3, 5, 8, 13, 21, 34)]
    walk = KeysetWalk(fields=["entity_id"], key_of=lambda i: (i["id"],))
    seen, requests = walk_all(walk, records, {"entity_id": "id"}, 4)
    assert [k[0] for k in seen] == [3, 5, 8, 13, 21, 34]
    assert requests == 2  # the short last page holds all that matched: no extra request
    params = dict(walk.criteria(KeyPosition((13,)), 4).params())
    assert params["searchCriteria[filterGroups][0][filters][0][field]"] == "entity_id"
    assert params["searchCriteria[filterGroups][0][filters][0][conditionType]"] == "gt"
    assert params["searchCriteria[sortOrders][0][direction]"] == "ASC"


def test_a_store_that_ignores_the_key_filter_stops_the_walk() -> None:
    walk = KeysetWalk(fields=["entity_id"], key_of=lambda i: (i["id"],))
    page = Page([{"id": 1}, {"id": 2}], total_count=10, requested=2)
    first = walk.advance(KeyPosition(), page)
    assert first is not None
    with pytest.raises(InvalidResponse, match="same full page again"):
        walk.advance(first, page)


def test_a_repeated_short_page_ends_the_walk_as_on_stores_before_2_4() -> None:
    walk = KeysetWalk(fields=["entity_id"], key_of=lambda i: (i["id"],))
    full = Page([{"id": 1}, {"id": 2}], total_count=4, requested=2)
    position = walk.advance(KeyPosition(), full)
    short = Page([{"id": 3}], total_count=4, requested=2)
    position = walk.advance(position, short)  # type: ignore[arg-type]
    assert position is not None  # total_count promised more: ask once more
    assert walk.advance(position, short) is None


def test_items_without_a_key_cannot_be_paged_on() -> None:
    walk = KeysetWalk(fields=["entity_id"], key_of=lambda i: None)
    with pytest.raises(InvalidResponse, match="no key"):
        walk.advance(KeyPosition(), Page([{"x": 1}], total_count=2, requested=1))

"""Keyset paging: the criteria sent and how positions move, without HTTP."""

from __future__ import annotations

import pytest

from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.paging import ChangesPosition, ChangesWalk, IdPosition, IdWalk, Page
from sync.errors import InvalidResponse


def items(*pairs: tuple[int, str]) -> list[dict[str, object]]:
    return [{"id": i, "sku": f"S{i}", "updated_at": t} for i, t in pairs]


def test_criteria_render_magento_query_parameters_with_explicit_direction() -> None:
    c = SearchCriteria(
        groups=(
            (Filter("updated_at", "2026-01-01 00:00:00", "gt"),),
            (Filter("entity_id", "5", "gt"),),
        ),
        sorts=(Sort("updated_at", "ASC"), Sort("entity_id", "ASC")),
        page_size=300,
    )
    params = dict(c.params())
    assert params["searchCriteria[filterGroups][0][filters][0][field]"] == "updated_at"
    assert params["searchCriteria[filterGroups][0][filters][0][conditionType]"] == "gt"
    assert params["searchCriteria[filterGroups][1][filters][0][value]"] == "5"
    assert params["searchCriteria[sortOrders][0][direction]"] == "ASC"
    assert params["searchCriteria[sortOrders][1][field]"] == "entity_id"
    assert params["searchCriteria[pageSize]"] == "300"
    assert params["searchCriteria[currentPage]"] == "1"
    with pytest.raises(ValueError):
        Sort("entity_id", "asc")


def test_id_walk_always_asks_page_one_after_the_last_id() -> None:
    walk = IdWalk()
    c = walk.criteria(IdPosition(1234), 100)
    params = dict(c.params())
    assert params["searchCriteria[filterGroups][0][filters][0][field]"] == "entity_id"
    assert params["searchCriteria[filterGroups][0][filters][0][value]"] == "1234"
    assert params["searchCriteria[currentPage]"] == "1"
    page = Page(items(*[(i, "2026-01-01 00:00:00") for i in range(1235, 1335)]), total_count=250)
    assert walk.advance(IdPosition(1234), page) == IdPosition(1334)


def test_id_walk_stops_when_everything_matching_was_returned() -> None:
    walk = IdWalk()
    assert walk.advance(IdPosition(0), Page([], 0)) is None
    last = Page(items((7, "2026-01-01 00:00:00"), (9, "2026-01-01 00:00:00")), total_count=2)
    assert walk.advance(IdPosition(5), last) is None


def test_id_walk_continues_when_the_store_silently_returns_a_short_page() -> None:
    # total_count says more products match: a smaller page is not the end.
    page = Page(items((1, "2026-01-01 00:00:00"), (2, "2026-01-01 00:00:00")), total_count=10)
    assert IdWalk().advance(IdPosition(0), page) == IdPosition(2)


def test_id_walk_refuses_a_page_that_does_not_move_forward() -> None:
    page = Page(items((3, "2026-01-01 00:00:00")), total_count=5)
    with pytest.raises(InvalidResponse, match="ignored the filter"):
        IdWalk().advance(IdPosition(3), page)


def test_bounded_id_walk_adds_an_upper_limit() -> None:
    params = IdWalk(upper_id=5000).criteria(IdPosition(0), 300).params()
    assert ("searchCriteria[filterGroups][1][filters][0][conditionType]", "lteq") in params


def test_changes_walk_steps_through_one_second_then_moves_on() -> None:
    walk = ChangesWalk()
    w = "2026-01-01 10:00:00"
    pos = ChangesPosition(w, 0)
    same = dict(walk.criteria(pos, 2).params())
    assert same["searchCriteria[filterGroups][0][filters][0][conditionType]"] == "eq"
    assert same["searchCriteria[filterGroups][1][filters][0][field]"] == "entity_id"
    # a full page inside the second: keep paging by id within it
    pos = walk.advance(pos, Page(items((4, w), (9, w)), total_count=3))
    assert pos == ChangesPosition(w, 9, "same_second")
    # the rest of the second
    pos = walk.advance(pos, Page(items((12, w)), total_count=1))
    assert pos == ChangesPosition(w, 12, "after")
    after = dict(walk.criteria(pos, 2).params())
    assert after["searchCriteria[filterGroups][0][filters][0][conditionType]"] == "gt"
    assert after["searchCriteria[sortOrders][0][field]"] == "updated_at"
    assert after["searchCriteria[sortOrders][1][field]"] == "entity_id"
    # a page of later seconds: resume inside the last item's second
    later = Page(items((2, "2026-01-01 10:00:05"), (30, "2026-01-01 10:00:07")), total_count=9)
    pos = walk.advance(pos, later)
    assert pos == ChangesPosition("2026-01-01 10:00:07", 30, "same_second")
    assert walk.advance(ChangesPosition("2026-01-01 10:00:07", 30, "after"), Page([], 0)) is None


def test_high_water_is_the_newest_updated_at_and_id_seen() -> None:
    start = ChangesPosition("2026-01-01 10:00:00", 50)
    page = Page(
        items((2, "2026-01-01 10:00:05"), (30, "2026-01-01 10:00:07"), (1, "2026-01-01 10:00:07")),
        3,
    )
    assert ChangesWalk.high_water(start, page) == ChangesPosition("2026-01-01 10:00:07", 30)
    assert ChangesWalk.high_water(start, Page([], 0)) == start


@pytest.mark.parametrize(
    "body",
    [[], {"items": "x", "total_count": 1}, {"items": [], "total_count": "3"}, {"items": []}],
)
def test_page_rejects_bodies_that_are_not_the_documented_shape(body: object) -> None:
    with pytest.raises(InvalidResponse):
        Page.from_body(body)

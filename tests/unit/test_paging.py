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


T0 = "2026-01-01 00:00:00"


def page_of(ids: range | list[int], total: int, requested: int | None = 100) -> Page:
    return Page(items(*[(i, T0) for i in ids]), total_count=total, requested=requested)


def test_page_body_keeps_the_page_size_that_was_asked_for() -> None:
    page = Page.from_body({"items": [{"id": 1, "sku": "A"}], "total_count": 1}, 100)
    assert page.requested == 100 and page.is_short and page.is_last
    assert not page_of(range(1, 101), 500).is_short
    assert not page_of([1], 5, requested=None).is_short  # unknown: never assumed short


def test_id_walk_stops_on_a_short_last_page_without_another_request() -> None:
    walk = IdWalk()
    pos = walk.advance(IdPosition(0), page_of(range(1, 101), 130))
    assert pos == IdPosition(100)
    assert walk.advance(pos, page_of(range(101, 131), 30)) is None  # type: ignore[arg-type]


def test_id_walk_stops_cleanly_when_a_legacy_store_repeats_the_last_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # total_count promised more than the short page held, so the walk asked again and the
    # store answered with the same page (Magento < 2.4 past the end).
    walk = IdWalk()
    tail = page_of(range(101, 131), 45)
    pos = walk.advance(IdPosition(100), tail)
    assert pos == IdPosition(130)
    assert pos is not None and pos.to_json() == {"last_id": 130}  # the mark is not checkpointed
    with caplog.at_level("WARNING", logger="sync.api.paging"):
        assert walk.advance(pos, tail) is None
    assert "previous page again" in caplog.text and "101..130" in caplog.text


def test_id_walk_refuses_a_repeated_full_page_that_promises_more() -> None:
    # A store (or a caching proxy) that ignores the key filter: stopping would report a partial
    # catalog as complete and let the full pass tombstone the rest.
    walk = IdWalk()
    first = page_of(range(1, 101), 750)
    pos = walk.advance(IdPosition(0), first)
    assert pos is not None
    with pytest.raises(InvalidResponse, match="ignores the key filter"):
        walk.advance(pos, first)


def test_id_walk_still_refuses_a_different_page_that_goes_backwards() -> None:
    walk = IdWalk()
    pos = walk.advance(IdPosition(0), page_of(range(1, 101), 750))
    assert pos is not None
    with pytest.raises(InvalidResponse, match="ignored the filter"):
        walk.advance(pos, page_of(range(40, 90), 700))
    # a resumed walk has no previous page: a page at or behind the checkpoint still raises
    with pytest.raises(InvalidResponse, match="ignored the filter"):
        walk.advance(IdPosition(130), page_of(range(101, 131), 30))


def test_changes_walk_stops_cleanly_on_a_repeated_short_page() -> None:
    walk = ChangesWalk()
    w = "2026-01-01 10:00:00"
    full = Page(items(*[(i, w) for i in range(1, 3)]), total_count=5, requested=2)
    pos = walk.advance(ChangesPosition(w, 0), full)
    assert pos == ChangesPosition(w, 2, "same_second")
    short = Page(items((3, w)), total_count=4, requested=2)  # total_count overstated
    pos = walk.advance(pos, short)  # type: ignore[arg-type]
    assert pos == ChangesPosition(w, 3, "same_second")
    assert walk.advance(pos, short) is None  # type: ignore[arg-type]
    # a repeated full page promising more is an error here too
    pos = walk.advance(ChangesPosition(w, 0), full)
    with pytest.raises(InvalidResponse, match="ignores the key filter"):
        walk.advance(pos, full)  # type: ignore[arg-type]


def test_changes_walk_repeat_across_phases_is_detected() -> None:
    walk = ChangesWalk()
    w = "2026-01-01 10:00:00"
    tail = Page(items((3, w), (4, w)), total_count=2, requested=5)
    pos = walk.advance(ChangesPosition(w, 2), tail)
    assert pos == ChangesPosition(w, 4, "after")
    # the store answers 'updated_at > W' with the same short page: the end, not a loop
    assert walk.advance(pos, tail) is None  # type: ignore[arg-type]

"""Page sizes per endpoint: a store's cap is learnt for the endpoint that answered it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sync.api.paging import Page
from sync.errors import PageSizeLimited
from sync.passtools import ID_LISTING, PRODUCTS_ENDPOINT, PageSizes

SOURCE_ITEMS = "/V1/inventory/source-items"


def capped(cap: int, asked: list[int]) -> Callable[[int], Page]:
    def call(size: int) -> Page:
        asked.append(size)
        if size > cap:
            raise PageSizeLimited(f"Maximum SearchCriteria pageSize is {cap}", cap)
        return Page([], 0, size)

    return call


def test_a_cap_is_learnt_for_its_endpoint_only() -> None:
    sizes = PageSizes(100, lambda call: call(), {ID_LISTING: 300})
    asked: list[int] = []
    sizes.fetch(SOURCE_ITEMS, capped(50, asked))
    assert asked == [100, 50]  # refused, then asked again with the cap
    sizes.fetch(SOURCE_ITEMS, capped(50, asked))
    assert asked[-1] == 50  # remembered
    assert sizes.size(SOURCE_ITEMS) == 50
    assert sizes.size(PRODUCTS_ENDPOINT) == 100
    assert sizes.size(ID_LISTING) == 300


def test_a_cap_that_does_not_help_is_raised() -> None:
    sizes = PageSizes(100, lambda call: call())
    with pytest.raises(PageSizeLimited):
        sizes.fetch(PRODUCTS_ENDPOINT, capped(0, []))  # "pageSize is 0": nothing to retry with
    assert sizes.size(PRODUCTS_ENDPOINT) == 100

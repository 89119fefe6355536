"""A page the client read with orjson says so, and its items then hash without the round-trip
check, to the same content hash."""

from __future__ import annotations

import json

import responses

from sync.api.criteria import SearchCriteria
from sync.clock import FakeClock
from sync.models import fingerprint
from tests.unit.test_models import KNOWN_HASH, KNOWN_ITEM
from tests.unit.test_products_client import PRODUCTS, client, rsps  # noqa: F401 - a fixture


def test_a_page_orjson_read_is_plain_and_hashes_as_before(rsps: responses.RequestsMock) -> None:  # noqa: F811
    body = b'{"items":[' + KNOWN_ITEM + b'],"total_count":1}'
    rsps.get(PRODUCTS, body=body, content_type="application/json")
    page = client(FakeClock()).search(SearchCriteria(page_size=1), "default")
    assert page.plain
    fp = fingerprint(page.items[0], decoded=page.plain)
    assert fp is not None and fp.content_hash == KNOWN_HASH


def test_a_page_only_json_could_read_is_not_plain(rsps: responses.RequestsMock) -> None:  # noqa: F811
    body = json.dumps({"items": [{"id": 1, "sku": "A", "weight": float("nan")}], "total_count": 1})
    rsps.get(PRODUCTS, body=body, content_type="application/json")
    page = client(FakeClock()).search(SearchCriteria(page_size=1), "default")
    assert not page.plain
    fp = fingerprint(page.items[0], decoded=page.plain)
    assert fp is not None and fp.problem is not None and "NaN" in fp.problem

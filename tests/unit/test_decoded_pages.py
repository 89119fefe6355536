"""A page the client read with orjson says so, and its items (products, and the resources'
items) then hash without the round-trip check, to the same content hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
import sqlalchemy as sa

from sync import jsontext
from sync.api.criteria import SearchCriteria
from sync.api.keyset import KeyPosition
from sync.api.paging import Page
from sync.clock import FakeClock
from sync.db.engine import make_engine
from sync.db.migrate import ensure_schema
from sync.db.schema import categories
from sync.engine import ResourcePass
from sync.models import content_hash, fingerprint
from sync.pipeline import Pipeline
from sync.resource_page import Step
from sync.resources import CATEGORIES
from sync.stats import ResourceStats
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


def test_a_resource_page_orjson_read_hashes_without_the_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'resources.db'}")
    ensure_schema(engine)
    body = (
        b'{"items":[{"id":7,"parent_id":2,"name":"Caf\\u00e9","is_active":true,"position":1,'
        b'"level":2,"path":"1\\/2\\/7","weight":2.5,"updated_at":"2024-01-02 03:04:05"}],'
        b'"total_count":1}'
    )
    value, plain = jsontext.decode(body)
    page = Page.from_body(value, 300, plain=plain)
    round_trips: list[object] = []
    checked = jsontext.plain_canonical
    monkeypatch.setattr(jsontext, "plain_canonical", lambda v: round_trips.append(v) or checked(v))
    pipeline = Pipeline(
        engine,
        None,
        FakeClock(),
        ["default"],
        300,
        resources=("categories",),
        lister=object(),  # type: ignore[arg-type]
    )
    stats = ResourceStats(CATEGORIES.name, "default")
    rpass = ResourcePass(
        CATEGORIES,
        pipeline.driver.pass_tools(CATEGORIES),
        None,  # type: ignore[arg-type]
        store_code="default",
        request_store="default",
        run_id=1,
        stats=stats,
    )
    rpass.writer.commit(page, set(), Step(None, KeyPosition(), None))
    assert round_trips == []
    with engine.connect() as conn:
        stored = conn.execute(sa.select(categories.c.content_hash)).scalar_one()
    assert stored == content_hash(json.loads(body)["items"][0])
    engine.dispose()

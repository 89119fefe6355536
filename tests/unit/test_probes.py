"""A full pass sends its probes (the newest ``updated_at``, the lowest and the highest id)
together, not one after another: at high latency each round trip before paging is paid once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from sync.api.limiter import RequestGate
from sync.api.products import Newest, ProductsClient
from sync.api.retry import RetryPolicy
from sync.clock import FakeClock
from sync.db.engine import make_engine
from sync.db.migrate import ensure_schema
from sync.pipeline import Pipeline
from tests.unit.test_pipeline import ScriptedCatalog, item
from tests.unit.test_products_client import ENDPOINT

WAIT = 5.0  # seconds: a probe sent alone waits this long for its partner, then fails


class TogetherCatalog(ScriptedCatalog):
    """``newest`` and ``id_bounds`` answer only when both are asked at the same time."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__(items)
        self.both = threading.Barrier(2, timeout=WAIT)
        self.threads: set[str] = set()

    def newest(self, store_code: str) -> Newest:
        self.threads.add(threading.current_thread().name)
        self.both.wait()
        return super().newest(store_code)

    def id_bounds(self, store_code: str) -> tuple[int | None, int | None]:
        self.threads.add(threading.current_thread().name)
        self.both.wait()
        return 1, len(self.items)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'probes.db'}")
    ensure_schema(engine)
    return engine


def test_a_concurrent_full_pass_asks_newest_and_id_bounds_at_the_same_time(
    engine: Engine,
) -> None:
    catalog = TogetherCatalog([item(n) for n in range(1, 21)])
    pipeline = Pipeline(engine, catalog, FakeClock(), ["default"], page_size=4, concurrency=3)
    stats = pipeline.run("backfill")
    assert stats.status == "success", stats.error
    assert stats.products == 20
    assert len(catalog.threads) == 2  # each from its own thread
    assert not [t for t in threading.enumerate() if t.name.startswith("accs-sync-")]


class TogetherSession:
    """Answers a bound probe only while the other one is asked too."""

    def __init__(self) -> None:
        self.both = threading.Barrier(2, timeout=WAIT)

    def get(self, url: str, params: Any = None, headers: Any = None) -> requests.Response:
        self.both.wait()  # a request sent alone breaks the barrier and fails the test
        first = ("searchCriteria[sortOrders][0][direction]", "ASC") in list(params)
        response = requests.Response()
        response.status_code = 200
        response.url = url
        response._content = b'{"items": [{"id": %d}], "total_count": 5}' % (3 if first else 99)
        return response


def test_id_bounds_sends_its_two_requests_together() -> None:
    gate = RequestGate(max_concurrency=2)  # SYNC_CONCURRENCY=2
    session: Any = TogetherSession()
    client = ProductsClient(session, ENDPOINT, RetryPolicy(clock=FakeClock()), gate)
    assert client.id_bounds("default") == (3, 99)
    assert client.requests == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("accs-sync-")]

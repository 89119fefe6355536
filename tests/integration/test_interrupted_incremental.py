"""An interrupted incremental pass never loses a change (issue 15, defect 1), on every database.

Six high-id records are renamed at T1 and six low-id ones at T1 + 1 h; with five items a page,
the incremental pass dies after its first page (the emulator refuses the next page), then two
syncs succeed: every rename must be mirrored. Categories are walked in id order, so their first
page holds the low ids renamed at T1 + 1 h; a watermark raised to that page's newest
``updated_at`` would skip the six renamed at T1 for good. Products are walked by
(``updated_at``, id), where a page's newest ``updated_at`` is a safe watermark: the same scenario
guards them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.engine import make_engine
from sync.db.schema import categories, products, sync_runs
from sync.emulator import Catalog, EmulatorServer, RequestRecord
from sync.emulator.criteria import MagentoError

pytestmark = pytest.mark.integration


class Clock:
    """The emulator's clock (it stamps updated_at and its Date header): still until advanced."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[EmulatorServer]:
    """A small catalog (42 categories, 40 products, all stamped before 2026)."""
    with EmulatorServer(Catalog.generate(40, seed=3, clock=clock)) as server:
        yield server


def sync() -> int:
    return main(["sync", "--quiet"])


def refuse_incremental_pages_after_the_first(kind: str) -> Callable[[RequestRecord], None]:
    """An ``on_request`` hook: the first request of ``kind`` filtered on ``updated_at`` (the
    incremental pass's first page) is answered, every later one is refused (400, not retried)."""
    answered = 0

    def hook(record: RequestRecord) -> None:
        nonlocal answered
        if record.kind != kind or "updated_at" not in dict(record.query).values():
            return
        answered += 1
        if answered > 1:
            raise MagentoError(400, {"message": "refused to interrupt the pass"})

    return hook


def names(db_url: str, table: sa.Table) -> dict[int, str]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            query = sa.select(table.c.id, table.c.name).where(table.c.store_code == "default")
            return {row.id: row.name for row in conn.execute(query)}
    finally:
        engine.dispose()


def statuses(db_url: str) -> list[str]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(sa.select(sync_runs.c.status).order_by(sync_runs.c.id)).scalars()
            )
    finally:
        engine.dispose()


class Categories:
    resource, kind, table = "categories", "categories", categories

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def ids(self) -> list[int]:
        return [c.id for c in self.catalog.categories() if c.level >= 2]

    def rename(self, key: int, name: str, updated_at: datetime) -> None:
        self.catalog.update_category(key, name=name, updated_at=updated_at)


class Products(Categories):
    resource, kind, table = "products", "list", products

    def ids(self) -> list[int]:
        return self.catalog.ids()

    def rename(self, key: int, name: str, updated_at: datetime) -> None:
        self.catalog.update(key, name=name, updated_at=updated_at)


@pytest.mark.parametrize("kind", [Categories, Products], ids=["categories", "products"])
def test_an_interrupted_incremental_pass_loses_no_rename(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    kind: type[Categories],
) -> None:
    resource = kind(emulator.catalog)
    monkeypatch.setenv("SYNC_RESOURCES", resource.resource)
    monkeypatch.setenv("SYNC_PAGE_SIZE", "5")
    assert sync() == 0
    ids = resource.ids()
    low, high = ids[:6], ids[-6:]
    t1 = emulator.catalog.now() - timedelta(hours=2)
    for key in high:
        resource.rename(key, f"Renamed at T1 {key}", t1)
    for key in low:
        resource.rename(key, f"Renamed at T1+1h {key}", t1 + timedelta(hours=1))

    emulator.faults.on_request.append(refuse_incremental_pages_after_the_first(resource.kind))
    assert sync() == 1
    emulator.faults.on_request.clear()
    assert sync() == 0
    assert sync() == 0

    mirrored = names(db_url, resource.table)
    assert {key: mirrored[key] for key in high} == {key: f"Renamed at T1 {key}" for key in high}
    assert {key: mirrored[key] for key in low} == {key: f"Renamed at T1+1h {key}" for key in low}
    assert statuses(db_url) == ["success", "failed", "success", "success"]


def test_a_category_renamed_behind_a_running_pass_is_read_next_time(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    clock: Clock,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The incremental walk (by id) has passed category L when L is renamed; H, further on, is
    renamed later and read by this pass. The watermark must not reach H's time (it covers what
    the walk began after), or L's rename would be lost with no lookback to catch it."""
    monkeypatch.setenv("SYNC_RESOURCES", "categories")
    monkeypatch.setenv("SYNC_PAGE_SIZE", "5")
    monkeypatch.setenv("SYNC_LOOKBACK_SECONDS", "0")
    assert sync() == 0
    ids = Categories(emulator.catalog).ids()
    behind, ahead = ids[0], ids[-1]
    seen = 0

    def rename_while_paging(record: RequestRecord) -> None:
        nonlocal seen
        if record.kind != "categories" or "updated_at" not in dict(record.query).values():
            return
        seen += 1
        if seen == 2:  # the first page (ids 1-5) has been read
            clock.advance(10)
            emulator.catalog.update_category(behind, name="Renamed behind the walk")
            clock.advance(10)
            emulator.catalog.update_category(ahead, name="Renamed ahead of the walk")

    emulator.faults.on_request.append(rename_while_paging)
    assert sync() == 0
    emulator.faults.on_request.clear()
    assert names(db_url, categories)[ahead] == "Renamed ahead of the walk"
    assert sync() == 0
    assert names(db_url, categories)[behind] == "Renamed behind the walk"

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

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from sync.accs_time import format_accs_time, parse_accs_time
from sync.cli import main
from sync.db.engine import make_engine
from sync.db.schema import categories, products, sync_runs
from sync.emulator import Catalog, EmulatorServer, RequestRecord
from sync.emulator.criteria import MagentoError
from tests.integration.test_resource_resume import put_state, state

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


def filters(params: dict[str, str]) -> set[tuple[str, str, str]]:
    """The (field, value, condition) filters of a ``searchCriteria`` request's ``params``."""
    found = set()
    for name, field in params.items():
        if name.startswith("searchCriteria[filterGroups]") and name.endswith("[field]"):
            stem = name.removesuffix("[field]")
            found.add((field, params[f"{stem}[value]"], params.get(f"{stem}[conditionType]", "eq")))
    return found


def test_an_interrupted_incremental_categories_pass_resumes_after_its_page(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's scenario again, looked at closely: the interrupted pass leaves where its walk
    stands (after the first page's last id), its lower bound and what it wrote; the next sync
    asks for the ids after that page only, with the same lower bound, and raises the watermark
    once it has read the rest: to the newest rename it wrote, which the first page carried."""
    monkeypatch.setenv("SYNC_RESOURCES", "categories")
    monkeypatch.setenv("SYNC_PAGE_SIZE", "5")
    assert sync() == 0
    watermark = state(db_url, "default", "categories:watermark")
    ids = Categories(emulator.catalog).ids()
    low, high = ids[:6], ids[-6:]
    t1 = emulator.catalog.now() - timedelta(hours=2)
    for key in high:
        emulator.catalog.update_category(key, name=f"T1 {key}", updated_at=t1)
    late = t1 + timedelta(hours=1)
    for key in low:
        emulator.catalog.update_category(key, name=f"T1+1h {key}", updated_at=late)

    emulator.faults.on_request.append(refuse_incremental_pages_after_the_first("categories"))
    assert sync() == 1
    emulator.faults.on_request.clear()
    since = format_accs_time(parse_accs_time(watermark["updated_at"]) - timedelta(seconds=300))
    # What the walk reads: the renamed ones and any other stamped within the lookback, by id.
    walked = sorted(
        c.id
        for c in emulator.catalog.categories()
        if (emulator.catalog.category(c.id) or {}).get("updated_at", "") >= since
    )
    assert set(low) | set(high) <= set(walked) and walked[:5] != walked[-5:]
    checkpoint = state(db_url, "default", "categories:incremental")
    assert checkpoint is not None
    assert (checkpoint["after"], checkpoint["phase"]) == ([walked[4]], "next")
    assert (checkpoint["since"], checkpoint["written_high"]) == (since, format_accs_time(late))
    assert (
        state(db_url, "default", "categories:watermark") == watermark
    )  # not raised: the walk is unfinished

    asked: list[RequestRecord] = []
    emulator.faults.on_request.append(
        lambda r: (
            asked.append(r)
            if r.kind == "categories" and r.params().get("searchCriteria[pageSize]") == "5"
            else None
        )
    )
    assert sync() == 0
    # After the committed page, never from the start, and the same lower bound: one request
    # after each page of five (a short page is the last).
    assert [filters(r.params()) for r in asked] == [
        {("updated_at", since, "gteq"), ("entity_id", str(walked[k]), "gt")}
        for k in range(4, len(walked) - 1, 5)
    ]
    mirrored = names(db_url, categories)
    assert {key: mirrored[key] for key in high} == {key: f"T1 {key}" for key in high}
    assert {key: mirrored[key] for key in low} == {key: f"T1+1h {key}" for key in low}
    assert state(db_url, "default", "categories:incremental") is None
    assert state(db_url, "default", "categories:watermark") == {
        "updated_at": format_accs_time(late)
    }


FUTURE = "2999-01-01 00:00:00"
HOSTILE = [
    ("text", "not a checkpoint", "is not a JSON object"),
    ("after", {"after": ["7; DROP"], "phase": "next"}, "not a usable key value"),
    ("since", {"since": FUTURE}, "since after the stored watermark"),
    ("began", {"began": FUTURE}, "clock 2999-01-01 00:00:00 is later than ACCS's"),
]


@pytest.mark.parametrize(
    ("hostile", "reason"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_a_hostile_incremental_checkpoint_is_reported_and_ignored(
    sync_env: dict[str, str],
    emulator: EmulatorServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    hostile: Any,
    reason: str,
) -> None:
    """Edited by hand or by another program: reported in one warning, never steering the walk
    (no id filter, no lower bound after the watermark, no cap later than ACCS's clock); the
    pass reads from the watermark (or, for a cap in the future, a full pass replaces it)."""
    monkeypatch.setenv("SYNC_RESOURCES", "categories")
    monkeypatch.setenv("SYNC_PAGE_SIZE", "5")
    assert sync() == 0
    watermark = state(db_url, "default", "categories:watermark")
    since = format_accs_time(parse_accs_time(watermark["updated_at"]) - timedelta(seconds=300))
    good = {"after": [5], "phase": "next", "since": since, "began": watermark["updated_at"]}
    value = {**good, "written_high": None, **hostile} if isinstance(hostile, dict) else hostile
    put_state(db_url, "default", "categories:incremental", value)
    asked: list[RequestRecord] = []
    emulator.faults.on_request.append(lambda r: asked.append(r) if r.kind == "categories" else None)
    with caplog.at_level(logging.WARNING):
        assert sync() == 0
    reports = [r.getMessage() for r in caplog.records if "incremental checkpoint" in r.getMessage()]
    assert len(reports) == 1 and reason in reports[0], reports
    assert "DROP" not in reports[0]
    pages = [
        filters(r.params()) for r in asked if r.params().get("searchCriteria[pageSize]") == "5"
    ]
    if "began" not in hostile:  # read from the watermark, from the first id
        assert pages[0] == {("updated_at", since, "gteq")}
    else:  # judged on the resumed walk's first page: a full pass replaces it
        assert pages[0] == {("updated_at", since, "gteq"), ("entity_id", "5", "gt")}
        assert any(all(f[0] != "updated_at" for f in page) for page in pages[1:])
    assert state(db_url, "default", "categories:incremental") is None

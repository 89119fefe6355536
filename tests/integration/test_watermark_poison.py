"""One upstream timestamp must not poison the watermark (issue 14), on every database.

Each test plants a bad ``updated_at`` upstream (a product or a category in the far future, two
days ahead, malformed: ``zzzz`` or ISO 8601 with a ``T``) or in ``sync_state`` itself, then edits
ANOTHER product or category: the next incremental ``accs-sync sync`` must mirror that edit, and no
run may fail. A complete full pass (``backfill``) sets the watermark to its starting high-water
mark even when that lowers it; ``status`` flags a watermark in the future.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from sync.app import build_app
from sync.cli import main
from sync.db.schema import categories, products, sync_runs
from sync.db.state import get_state, set_state
from sync.emulator import Catalog, EmulatorServer
from sync.observe import Observer, PageReport
from sync.settings import load_settings

pytestmark = pytest.mark.integration

FAR = "9999-12-31 23:59:59"
MALFORMED = ("zzzz", "2026-12-07T10:00:00")
WM = "watermark"
CATEGORIES_WM = "categories:watermark"


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """A small catalog: these tests are about timestamps, not volume."""
    with EmulatorServer(Catalog.generate(40, seed=3)) as server:
        yield server


@pytest.fixture
def env(sync_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("SYNC_RESOURCES", "products,categories")
    monkeypatch.setenv("SYNC_PAGE_SIZE", "10")
    return sync_env


def sync(*args: str) -> int:
    return main(["sync", "--quiet", *args])


def backfill(*args: str) -> int:
    return main(["backfill", "--quiet", *args])


def in_two_days() -> str:
    return f"{datetime.now(UTC) + timedelta(days=2):%Y-%m-%d %H:%M:%S}"


def product_name(engine: Engine, sku: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.select(products.c.name).where(products.c.sku == sku)).scalar())


def category_name(engine: Engine, cid: int) -> str:
    t = categories.c
    with engine.connect() as conn:
        query = sa.select(t.name).where(t.id == cid, t.store_code == "default")
        return str(conn.execute(query).scalar())


def state(engine: Engine, key: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        return get_state(conn, "default", key)


def put_state(engine: Engine, key: str, value: Any) -> None:
    with engine.begin() as conn:
        set_state(conn, "default", key, value, datetime.now(UTC))


def statuses(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(sync_runs.c.status)).scalars())


def usable(stamp: str) -> bool:
    """A watermark a later sync can trust: ACCS's format, not after now (plus a little)."""
    parsed = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    return parsed <= datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=5)


# -- products ---------------------------------------------------------------------------------


class Products:
    """Plants a value in a product and edits another; reads the mirror back."""

    key = WM

    def __init__(self, emulator: EmulatorServer) -> None:
        items = list(emulator.catalog.items())
        self.catalog, self.poisoned, self.other = (
            emulator.catalog,
            items[0]["sku"],
            items[-1]["sku"],
        )

    def edit(self, which: str, name: str, **fields: Any) -> None:
        self.catalog.update(getattr(self, which), name=name, **fields)

    def name(self, engine: Engine, which: str) -> str:
        return product_name(engine, getattr(self, which))


class Categories(Products):
    key = CATEGORIES_WM

    def __init__(self, emulator: EmulatorServer) -> None:
        ids = [c.id for c in emulator.catalog.categories() if c.level >= 2]
        self.catalog, self.poisoned, self.other = emulator.catalog, ids[0], ids[-1]

    def edit(self, which: str, name: str, **fields: Any) -> None:
        self.catalog.update_category(getattr(self, which), name=name, **fields)

    def name(self, engine: Engine, which: str) -> str:
        return category_name(engine, getattr(self, which))


@pytest.mark.parametrize("bad", [FAR, "two days ahead", *MALFORMED])
@pytest.mark.parametrize("when", ["before the first sync", "between incremental syncs"])
@pytest.mark.parametrize("kind", [Products, Categories], ids=["products", "categories"])
def test_a_bad_updated_at_does_not_hide_later_edits(
    env: dict[str, str],
    emulator: EmulatorServer,
    engine: Engine,
    bad: str,
    when: str,
    kind: type[Products],
) -> None:
    stamp = in_two_days() if bad == "two days ahead" else bad
    resource = kind(emulator)
    if when == "between incremental syncs":
        assert sync() == 0
    resource.edit("poisoned", "Poisoned", updated_at=stamp)
    assert sync() == 0  # H0 probe (first sync) or incremental pages see the bad value
    watermark = state(engine, resource.key)
    assert watermark is not None and usable(watermark["updated_at"]), watermark

    resource.edit("other", "Edited elsewhere")
    assert sync() == 0
    assert resource.name(engine, "other") == "Edited elsewhere"
    assert statuses(engine) == {"success"}
    if stamp not in MALFORMED:  # a future item is still mirrored (a malformed one is rejected)
        assert resource.name(engine, "poisoned") == "Poisoned"


def test_a_future_item_is_warned_about_once_per_run_and_named(
    env: dict[str, str],
    emulator: EmulatorServer,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    poisoned, category = Products(emulator).poisoned, Categories(emulator).poisoned
    emulator.catalog.update(poisoned, updated_at=FAR)
    emulator.catalog.update_category(category, updated_at=FAR)
    with caplog.at_level(logging.WARNING):
        assert sync() == 0  # the H0 probe and the full pass's page both see them
        assert sync() == 0  # incremental: the lookback reads them again
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and FAR in r.getMessage()
    ]
    assert len(warnings) == 4, warnings  # one per run for each
    assert sum(f"sku={poisoned!r}" in message for message in warnings) == 2
    assert sum(f"categories default: id '{category}'" in message for message in warnings) == 2


def test_a_backfill_lowers_a_watermark_in_the_future(
    env: dict[str, str], emulator: EmulatorServer, engine: Engine
) -> None:
    poisoned, other = Products(emulator).poisoned, Products(emulator).other
    assert sync() == 0
    # What an older accs-sync left behind: a poisoned watermark.
    put_state(engine, WM, {"updated_at": FAR, "id": 1})
    put_state(engine, CATEGORIES_WM, {"updated_at": FAR})
    emulator.catalog.update(poisoned, name="Fixed upstream")
    assert backfill() == 0
    for key in (WM, CATEGORIES_WM):
        watermark = state(engine, key)
        assert watermark is not None and usable(watermark["updated_at"]), (key, watermark)

    emulator.catalog.update(other, name="Edited after the backfill")
    assert sync() == 0
    assert product_name(engine, other) == "Edited after the backfill"


def test_a_windowed_backfill_still_leaves_the_watermark_alone(
    env: dict[str, str], emulator: EmulatorServer, engine: Engine
) -> None:
    assert sync() == 0
    before = state(engine, WM)
    assert backfill("--since", "2020-01-01") == 0
    assert state(engine, WM) == before


@pytest.mark.parametrize(
    "stored", ["zzzz", "2026-12-07T10:00:00", FAR, "bad\nline\x1b[31m", ["not", "an object"]]
)
def test_a_stored_watermark_that_is_unusable_is_replaced_by_a_full_pass(
    env: dict[str, str],
    emulator: EmulatorServer,
    engine: Engine,
    stored: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other, cat = Products(emulator).other, Categories(emulator).poisoned
    assert sync() == 0
    raw = isinstance(stored, list)  # a row edited by hand into something else
    put_state(engine, WM, stored if raw else {"updated_at": stored, "id": 0})
    put_state(engine, CATEGORIES_WM, stored if raw else {"updated_at": stored})
    emulator.catalog.update(other, name="Edited while the state was bad")
    emulator.catalog.update_category(cat, name="Renamed while the state was bad")
    with caplog.at_level(logging.WARNING):
        assert sync() == 0
    assert product_name(engine, other) == "Edited while the state was bad"
    assert category_name(engine, cat) == "Renamed while the state was bad"
    for key in (WM, CATEGORIES_WM):
        watermark = state(engine, key)
        assert watermark is not None and usable(watermark["updated_at"]), (key, watermark)
    reports = [r.getMessage() for r in caplog.records if "stored watermark" in r.getMessage()]
    assert len(reports) == 2, reports  # products and categories, each naming the store view
    assert all("default" in message for message in reports)
    assert all("\n" not in message and "\x1b" not in message for message in reports)
    assert statuses(engine) == {"success"}


# -- status -----------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_status_flags_a_watermark_in_the_future(
    env: dict[str, str], engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sync() == 0
    put_state(engine, WM, {"updated_at": FAR, "id": 0})
    capsys.readouterr()
    main(["status", "--json"])
    document = json.loads(capsys.readouterr().out)
    entries = {e["key"]: e for e in document["state"]}
    assert entries[WM]["watermark_in_future"] is True
    assert entries[WM]["value"] == {"updated_at": FAR, "id": 0}  # unchanged shape
    assert entries[CATEGORIES_WM]["watermark_in_future"] is False
    main(["status"])
    text = capsys.readouterr().out
    [line] = [line for line in text.splitlines() if FAR in line]
    assert "in the future" in line


# -- a concurrent full pass, interrupted and resumed --------------------------------------------


class StopAfter(Observer):
    """Asks the run to stop once ``pages`` pages are committed (an interrupted pass)."""

    def __init__(self, stop: threading.Event, pages: int) -> None:
        self.stop, self.left = stop, pages

    def page_written(self, store: str, report: PageReport) -> None:
        self.left -= 1
        if self.left <= 0:
            self.stop.set()


def interrupted_backfill(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A concurrent backfill stopped after its first pages; returns the checkpoint it left."""
    monkeypatch.setenv("SYNC_CONCURRENCY", "3")
    monkeypatch.setenv("SYNC_RESOURCES", "products")
    stop = threading.Event()
    with build_app(load_settings(), stop_event=stop) as app:
        app.pipeline.observer.add(StopAfter(stop, 2))  # type: ignore[attr-defined]
        assert app.run("backfill").status == "interrupted"
        with app.pipeline.engine.connect() as conn:
            checkpoint = get_state(conn, "default", "backfill_checkpoint")
    assert checkpoint is not None
    return checkpoint


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_resumed_concurrent_pass_lowers_the_watermark_to_its_own_start(
    env: dict[str, str],
    emulator: EmulatorServer,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resource = Products(emulator)
    assert sync() == 0
    checkpoint = interrupted_backfill(monkeypatch)
    put_state(engine, WM, {"updated_at": FAR, "id": 0})  # an older version's poisoned value
    resource.edit("other", "Edited while the pass was paused")
    assert sync() == 0  # resumes the full pass, then sets the watermark to the pass's H0
    assert state(engine, WM) == {"updated_at": checkpoint["high_water"], "id": 0}
    resource.edit("poisoned", "Edited after the resumed pass")
    assert sync() == 0
    assert resource.name(engine, "other") == "Edited while the pass was paused"
    assert resource.name(engine, "poisoned") == "Edited after the resumed pass"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_checkpoint_with_a_poisoned_high_water_leaves_no_watermark_behind(
    env: dict[str, str],
    emulator: EmulatorServer,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resource = Products(emulator)
    assert sync() == 0
    checkpoint = interrupted_backfill(monkeypatch)
    put_state(engine, "backfill_checkpoint", {**checkpoint, "high_water": FAR})
    put_state(engine, WM, {"updated_at": FAR, "id": 0})
    assert sync() == 0  # resumes; its H0 is unusable, so no watermark outlives it
    assert state(engine, WM) is None
    resource.edit("other", "Edited after")
    assert sync() == 0  # a full pass again, which sets a usable watermark
    assert resource.name(engine, "other") == "Edited after"
    watermark = state(engine, WM)
    assert watermark is not None and usable(watermark["updated_at"])

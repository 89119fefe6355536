"""One bad item never blocks a store view: it is written in full or rejected with a reason,
and the rest of its page is written, on every database (issue 14, "One item blocks a whole
store view").

Runs ``accs-sync`` (in-process CLI) against the emulator: a 100 KB description and a 70 KB
name (ordinary in Magento, whose columns are MEDIUMTEXT) are mirrored whole; NaN, Infinity, a
lone surrogate escape, nesting deeper than MariaDB's JSON allows and a 10 MB field are each
rejected with a reason naming what is wrong while every other product is written; the next
runs are not stuck; a rejected item's mirrored row is not tombstoned.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from sync.cli import main
from sync.db.schema import categories, inventory_source_items, product_attributes, sync_rejects
from sync.emulator import Catalog, EmulatorServer
from sync.emulator.response import RawJSON
from tests.integration.mirror import mirror_by_id, runs
from tests.integration.test_resources_e2e import rows

pytestmark = pytest.mark.integration

DESCRIPTION = "<p>" + "Lorem ipsum dolor sit amet, é ü 😀 " * 3000 + "</p>"  # > 100 KB
LONG_NAME = "N" * 70_000


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.fixture
def small() -> Iterator[EmulatorServer]:
    with EmulatorServer(Catalog.generate(40, seed=3)) as server:
        yield server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, small: EmulatorServer, db_url: str, tmp_path: Any) -> None:
    for name in list(os.environ):
        if name.startswith(("IMS_", "SYNC_", "API_", "DATABASE_", "ACCS_SYNC")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))
    for key, value in {**small.credentials, "DATABASE_URL": db_url, "SYNC_PAGE_SIZE": "10"}.items():
        monkeypatch.setenv(key, value)


def rejects(db_url: str) -> dict[int, Any]:
    t = sync_rejects.c
    query = sa.select(t.product_id, t.sku, t.reason, t.payload).where(t.resource == "products")
    return {row.product_id: row for row in rows(db_url, query)}


@pytest.mark.usefixtures("env")
def test_long_descriptions_and_names_are_mirrored_whole(small: EmulatorServer, db_url: str) -> None:
    catalog = small.catalog
    pid = catalog.ids()[12]
    catalog.update(pid, name=LONG_NAME, description=DESCRIPTION)
    category = catalog.categories()[-1].id
    catalog.update_category(category, name=LONG_NAME)
    assert main(["sync"]) == 0
    assert runs(db_url)[-1]["status"] == "success"
    assert mirror_by_id(db_url)[pid]["name"] == LONG_NAME
    t = product_attributes.c
    [(value,)] = rows(
        db_url,
        sa.select(t.value).where(t.product_id == pid, t.attribute_code == "description"),
    )
    assert value == DESCRIPTION
    c = categories.c
    [(name,)] = rows(db_url, sa.select(c.name).where(c.id == category, c.store_code == "default"))
    assert name == LONG_NAME
    assert len(mirror_by_id(db_url)) == 40


@pytest.mark.usefixtures("env")
def test_bad_items_are_rejected_with_a_reason_and_the_rest_is_written(
    small: EmulatorServer, db_url: str
) -> None:
    catalog = small.catalog
    ids = catalog.ids()
    bad = {
        ids[3]: ({"junk": float("nan")}, "NaN"),
        ids[4]: ({"junk": [1, {"x": float("inf")}]}, "Infinity"),
        ids[5]: ({"junk": float("-inf")}, "-Infinity"),
        ids[13]: ({"note": "caf\ud800e"}, "lone surrogate"),
        ids[14]: ({"deep": nested(200)}, "nested deeper than"),
        ids[23]: ({"description": "x" * 10_500_000}, "over SYNC_MAX_ITEM_BYTES=4194304"),
    }
    for pid, (fields, _) in bad.items():
        catalog.update(pid, **fields)
    assert main(["sync"]) == 0
    assert runs(db_url)[-1]["status"] == "success"
    assert runs(db_url)[-1]["products_rejected"] == len(bad)
    mirrored = mirror_by_id(db_url)
    assert set(mirrored) == set(ids) - set(bad)
    found = rejects(db_url)
    assert set(found) == set(bad)
    for pid, (_, words) in bad.items():
        assert words in found[pid].reason, found[pid].reason
        assert found[pid].sku == catalog.item(pid)["sku"]
        assert len(found[pid].payload) <= 70_000
    assert "item is 105" in found[ids[23]].reason  # "item is 10,5xx,xxx bytes"
    if db_url.startswith("sqlite"):
        # Consumers' json_extract over a whole table must keep working.
        invalid = rows(db_url, sa.text("SELECT COUNT(*) FROM products WHERE NOT json_valid(data)"))
        assert invalid == [(0,)]
        invalid = rows(
            db_url, sa.text("SELECT COUNT(*) FROM sync_rejects WHERE NOT json_valid(payload)")
        )
        assert invalid == [(0,)]
    # Not stuck: the next runs complete, and a full pass too.
    assert main(["sync"]) == 0
    assert main(["backfill"]) == 0
    assert runs(db_url)[-1]["status"] == "success"
    assert set(mirror_by_id(db_url)) == set(ids) - set(bad)


@pytest.mark.usefixtures("env")
def test_a_rejected_item_counts_as_present_and_is_not_tombstoned(
    small: EmulatorServer, db_url: str
) -> None:
    catalog = small.catalog
    pid = catalog.ids()[7]
    assert main(["sync"]) == 0
    catalog.update(pid, junk=float("nan"))
    assert main(["backfill"]) == 0
    row = mirror_by_id(db_url)[pid]
    assert row["deleted_at"] is None
    assert pid in rejects(db_url)
    live = [r for r in mirror_by_id(db_url).values() if r["deleted_at"] is None]
    assert len(live) == 40


@pytest.mark.usefixtures("env")
def test_a_category_that_cannot_be_stored_is_rejected_and_kept(
    small: EmulatorServer, db_url: str
) -> None:
    """The engine's resources (categories here) reject the same way and count the rejected
    item as present, so a full pass does not tombstone its mirrored row."""
    catalog = small.catalog
    assert main(["sync"]) == 0
    cid = catalog.categories()[-1].id
    catalog.update_category(cid, name="Bad \ud800 name")
    assert main(["backfill"]) == 0
    assert runs(db_url)[-1]["status"] == "success"
    c = categories.c
    live = rows(
        db_url,
        sa.select(c.id, c.name).where(c.store_code == "default", c.deleted_at.is_(None)),
    )
    assert cid in {row.id for row in live}
    assert len(live) == len(catalog.categories())
    t = sync_rejects.c
    [reject] = rows(db_url, sa.select(t.entity_key, t.reason).where(t.resource == "categories"))
    assert reject.entity_key == str(cid)
    assert "lone surrogate escape in the text at 'name'" in reject.reason


@pytest.mark.usefixtures("env")
def test_an_item_nested_beyond_every_parser_is_rejected_not_a_traceback(
    small: EmulatorServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """1,100 levels: more than orjson (1,024) or json (its recursion limit) reads. The page is
    still read, the item rejected, the rest written, and the next run is not stuck."""
    catalog = small.catalog
    ids = catalog.ids()
    catalog.update(ids[4], deep=RawJSON("[" * 1100 + "1" + "]" * 1100))
    catalog.update(ids[5], shallow=RawJSON("[" * 990 + "]" * 990))
    assert main(["sync"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert set(mirror_by_id(db_url)) == set(ids) - {ids[4], ids[5]}
    found = rejects(db_url)
    assert set(found) == {ids[4], ids[5]}
    assert all("nested deeper than 31 levels" in r.reason for r in found.values())
    assert main(["backfill"]) == 0
    assert runs(db_url)[-1]["status"] == "success"


@pytest.mark.usefixtures("env")
def test_a_sku_with_a_lone_surrogate_or_a_nul_does_not_stop_any_resource(
    small: EmulatorServer, db_url: str
) -> None:
    """The reject row itself must be storable: its sku and key are written without NUL (as
    the item's data is) and with a lone surrogate as its escape text."""
    catalog = small.catalog
    bad = catalog.create("SUR\ud800", price=1)["id"]
    nul = catalog.create("NUL\x00X", price=1, junk=float("nan"))["id"]
    assert main(["sync"]) == 0
    assert runs(db_url)[-1]["status"] == "success"
    found = rejects(db_url)
    assert {pid: r.sku for pid, r in found.items()} == {bad: "SUR\\ud800", nul: "NULX"}
    t = sync_rejects.c
    query = sa.select(t.reason).where(t.resource == "source_items")
    assert {r.reason for r in rows(db_url, query)} == {
        "item has no usable source_code + sku (the mirror's key)"
    }
    s = inventory_source_items.c
    assert {r.sku for r in rows(db_url, sa.select(s.sku).where(s.sku.like("NUL%")))} == {"NULX"}
    assert len(mirror_by_id(db_url)) == 40


@pytest.mark.usefixtures("env")
def test_the_deepest_item_mariadb_takes_is_mirrored_everywhere_and_one_more_level_rejected(
    small: EmulatorServer, db_url: str
) -> None:
    # item {} > custom_attributes [] > entry {} > value: 3 levels before the value's own
    # (nested(n) is n - 1 lists around a string).
    catalog = small.catalog
    ids = catalog.ids()
    catalog.update(ids[1], deep=nested(31 - 3 + 1))
    catalog.update(ids[2], deep=nested(32 - 3 + 1))
    assert main(["sync"]) == 0
    assert set(mirror_by_id(db_url)) == set(ids) - {ids[2]}
    assert set(rejects(db_url)) == {ids[2]}

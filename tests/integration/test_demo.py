"""``accs-sync demo``: the bundled emulator mirrored into a SQLite file, and a summary that
counts every resource the mirror now holds, attribute metadata and option labels included.
SQLite only (the demo's own database)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from sync.cli import main

pytestmark = pytest.mark.integration


def live(database: Path, table: str, deleted_at: bool = True) -> int:
    where = " WHERE deleted_at IS NULL" if deleted_at else ""
    with sqlite3.connect(database) as conn:
        count: int = conn.execute(f"SELECT COUNT(*) FROM {table}{where}").fetchone()[0]  # noqa: S608
    return count


def test_the_demo_counts_what_the_mirror_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "demo.db"
    assert main(["demo", "--products", "40", "--database", str(database)]) == 0
    out = capsys.readouterr().out
    held = re.search(r"The mirror holds (.*): ", out)
    assert held, out
    counts = {
        noun: int(number) for number, noun in re.findall(r"(\d+) ([a-z ]+?)(?:,| and |$)", held[1])
    }
    attributes = live(database, "product_attribute_metadata")
    options = live(database, "product_attribute_options", deleted_at=False)
    assert attributes > 0 and options > 0  # the emulator has Luma's colors, sizes, materials
    assert counts == {
        "products": live(database, "products"),
        "categories": live(database, "categories"),
        "source items": live(database, "inventory_source_items"),
        "attributes": attributes,
        "attribute options": options,
    }

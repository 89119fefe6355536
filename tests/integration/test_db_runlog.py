"""``sync_run_resources`` through :mod:`sync.db.runlog` on every database: a pass's row, page
counts added in the page's own transaction (a rolled-back page counts nothing), a sweep's
tombstones, and reading the rows back per run."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.engine import Engine

from sync.db.runlog import PassRow, count_deleted, count_page, run_resources, start_pass
from sync.db.state import start_run

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 12, 0, 0)


class Boom(Exception):
    pass


def test_a_pass_row_adds_pages_and_a_sweep_in_their_transactions(engine: Engine) -> None:
    run = start_run(engine, "sync", ["default"], T0)
    other = start_run(engine, "sync", ["default"], T0)
    with engine.begin() as conn:
        start_pass(conn, run, "categories", "default", "incremental")
        start_pass(conn, run, "source_items", "*", "full")
    with engine.begin() as conn:
        count_page(conn, run, "categories", "default", "incremental", written=3, unchanged=2)
    with pytest.raises(Boom), engine.begin() as conn:  # a page that never commits
        count_page(conn, run, "categories", "default", "incremental", written=50)
        raise Boom
    with engine.begin() as conn:
        # The incremental pass turned into a full one: the mode follows, the counts add up.
        start_pass(conn, run, "categories", "default", "incremental + full")
        count_page(
            conn, run, "categories", "default", "incremental + full", unchanged=4, rejected=1
        )
        count_deleted(conn, run, "categories", "default", 2)
        count_page(conn, run, "source_items", "*", "full", written=7, deleted=1, revived=2)
    with engine.begin() as conn:
        # No row yet (a pass whose start was not recorded): the page still counts.
        count_page(conn, other, "products", "fr", "full", written=1)
    with engine.connect() as conn:
        found = run_resources(conn, [run, other, run + other + 99])
    assert found == {
        run: [
            PassRow("categories", "default", "incremental + full", 2, 3, 6, 2, 1),
            PassRow("source_items", "*", "full", 1, 7, 0, 1, 0, revived=2),
        ],
        other: [PassRow("products", "fr", "full", 1, 1, 0, 0, 0)],
    }
    with engine.connect() as conn:
        assert run_resources(conn, []) == {}


def test_a_mode_longer_than_the_column_is_cut(engine: Engine) -> None:
    run = start_run(engine, "backfill", ["default"], T0)
    mode = "full updated_at in [2025-01-01 00:00:00, 2025-02-01 00:00:00) and then some more"
    with engine.begin() as conn:
        start_pass(conn, run, "products", "default", mode)
        count_page(conn, run, "products", "default", mode, written=1)
    with engine.connect() as conn:
        [row] = run_resources(conn, [run])[run]
    assert row.mode == mode[:64] and row.pages == 1

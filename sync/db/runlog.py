"""What each run did per resource and store view: the rows of ``sync_run_resources``.

``sync_runs`` counts products only (its ``pages`` and ``products_written`` are a public
contract), so a run over categories or source items alone used to look empty. Every pass, products
included, now has one row per (run, resource, store view; ``*`` for a resource that is the same
in every store view):

* :func:`start_pass` records the row (and the pass's mode) when a pass begins, in a transaction
  of its own, so a pass that fails before its first page is still listed;
* :func:`count_page` adds a committed page's counts **in the page's own transaction**, like
  :func:`sync.db.state.update_run`: a page rolled back (and retried) counts once, and the
  counts always equal what is committed;
* :func:`count_deleted` adds the tombstones of a sweep in the sweep's transaction.

Counts are added by one upsert (``pages = pages + 1``...), portable over SQLite, PostgreSQL and
MariaDB (:func:`sync.db.dialect.upsert_statement`); a page needs no row to exist first.
:func:`run_resources` reads them back for ``status``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.db.dialect import upsert_statement
from sync.db.schema import sync_run_resources
from sync.names import PRODUCTS_NAME

__all__ = ["COUNTS", "PassRow", "count_deleted", "count_page", "run_resources", "start_pass"]

#: The counters of a row, in column order.
COUNTS = ("pages", "written", "unchanged", "deleted", "rejected", "revived")
#: ``mode``'s column width (a windowed backfill's mode names its window).
_MODE_MAX = 64


class PassRow(NamedTuple):
    """One row of ``sync_run_resources`` (without its run id). ``written`` = inserted +
    updated + revived rows, ``revived`` those brought back from a tombstone (0 in a database
    before revision 0009); ``mode`` is None when no pass start was recorded."""

    resource: str
    store_code: str
    mode: str | None
    pages: int
    written: int
    unchanged: int
    deleted: int
    rejected: int
    revived: int = 0


def _mode(mode: str) -> str:
    return mode[:_MODE_MAX]


def _add(conn: Connection, key: tuple[int, str, str], mode: str | None, **counts: int) -> None:
    """Insert the row with ``counts``, or add them to the stored row (and set ``mode``); at
    least a mode or one count is given, so the upsert always has a column to set."""
    run_id, resource, store_code = key
    row: dict[str, object] = {"run_id": run_id, "resource": resource, "store_code": store_code}
    row |= {name: counts.get(name, 0) for name in COUNTS}
    if mode is not None:
        row["mode"] = _mode(mode)
    added = [name for name in COUNTS if counts.get(name)]
    statement = upsert_statement(
        conn, sync_run_resources, [] if mode is None else ["mode"], added_columns=added
    )
    conn.execute(statement, row)


def start_pass(conn: Connection, run_id: int, resource: str, store_code: str, mode: str) -> None:
    """A pass over ``resource`` in ``store_code`` begins in ``mode`` (full, incremental ...):
    its row exists from now on; a later pass of the same run (incremental turned full) only
    changes the mode and keeps the counts."""
    _add(conn, (run_id, resource, store_code), mode)


def count_page(
    conn: Connection,
    run_id: int,
    resource: str,
    store_code: str,
    mode: str,
    *,
    written: int = 0,
    unchanged: int = 0,
    deleted: int = 0,
    rejected: int = 0,
    revived: int = 0,
) -> None:
    """Add one committed page, in its transaction (``conn``); ``mode`` is the pass's now.
    ``revived`` rows are part of ``written``."""
    counts = {"written": written, "unchanged": unchanged, "deleted": deleted, "revived": revived}
    _add(conn, (run_id, resource, store_code), mode, pages=1, rejected=rejected, **counts)


def count_deleted(
    conn: Connection, run_id: int, resource: str, store_code: str, deleted: int
) -> None:
    """Add the rows a sweep tombstoned, in the sweep's transaction (``conn``)."""
    if deleted:
        _add(conn, (run_id, resource, store_code), None, deleted=deleted)


def run_resources(conn: Connection, run_ids: Iterable[int]) -> dict[int, list[PassRow]]:
    """The rows of ``run_ids`` by run: products first, then by resource and store view. A run
    without rows (one from before revision 0006, or that did nothing) is left out."""
    wanted = sorted(set(run_ids))
    if not wanted:
        return {}
    t = sync_run_resources.c
    # ``status`` may read a database not yet upgraded: a count added since reads 0.
    have = {c["name"] for c in sa.inspect(conn).get_columns(sync_run_resources.name)}
    counts = (t[n] if n in have else sa.literal(0).label(n) for n in COUNTS)
    query = sa.select(t.run_id, t.resource, t.store_code, t.mode, *counts)
    found: dict[int, list[PassRow]] = {}
    for row in conn.execute(query.where(t.run_id.in_(wanted))):
        found.setdefault(int(row.run_id), []).append(PassRow(*row[1:]))
    for passes in found.values():
        passes.sort(key=lambda p: (p.resource != PRODUCTS_NAME, p.resource, p.store_code))
    return found

"""The id listing: which products exist upstream, so deletions and gaps can be repaired.

ACCS has no deletion feed and a deleted product leaves no ``updated_at`` behind, so the only way
to notice a deletion is to list what exists. A full pass lists everything anyway and finds
deletions page by page (:mod:`sync.fullpass`); an incremental run, which sees only what
changed, uses this listing when the counts say something is gone or missing. The listing asks
for every id of a store view with ``fields=items[id,sku,updated_at],total_count`` (a few bytes
per product), keyset-paged by entity id like a full pass, with large pages (shrunk to the
store's pageSize limit if it has one).

Only after the listing completed is anything tombstoned: a live row whose id was not listed gets
``deleted_at`` and a ``delete`` in the change log (never a hard delete). Ids listed but missing
locally, tombstoned locally (the product came back: revived, logged as ``insert``) or with a
different ``updated_at`` are fetched in full and written like any page. A product created or
deleted while the listing runs is caught by the next run.

:func:`counts_differ` is the cheap test an incremental run does at its end: one request for the
store's ``total_count``, compared with the live rows plus the items that are upstream but
rejected. Only when they differ does the incremental run pay for a listing.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from sync.accs_time import format_accs_time
from sync.api.criteria import Filter, SearchCriteria, Sort
from sync.api.paging import IdPosition, IdWalk, Page
from sync.db.changes import CHUNK, local_index, tombstone
from sync.db.rejects import pending_rejects
from sync.db.retry import after_commit
from sync.db.runlog import count_deleted
from sync.db.schema import products
from sync.db.state import update_run
from sync.observe import PageReport
from sync.passtools import ProductTools
from sync.resources import PRODUCTS
from sync.stats import StoreStats

__all__ = ["IdDiff", "counts_differ", "diff_upstream_ids", "reconcile_ids"]

log = logging.getLogger(__name__)


@dataclass
class IdDiff:
    """What an id listing found different from the mirror: only the differences are kept, so
    memory does not grow with the catalog (a listing of 200,000 ids holds one page at a time)."""

    upstream: int = 0
    live: int = 0
    gone: list[int] = field(default_factory=list)
    fetch: list[int] = field(default_factory=list)


def diff_upstream_ids(tools: ProductTools, store_code: str, skip: set[int]) -> IdDiff:
    """Walk the id listing page by page, comparing each page with the mirror's rows in the same
    id range. Raises if the listing fails, so an incomplete listing never tombstones anything."""
    walk = IdWalk()
    position = IdPosition()
    diff = IdDiff()
    while True:
        page = tools.fetch_ids(functools.partial(walk.criteria, position), store_code)
        listed: dict[int, str | None] = {}
        for item in page.items:
            if not isinstance(item, dict):
                continue
            pid, stamp = item.get("id"), item.get("updated_at")
            if isinstance(pid, int) and not isinstance(pid, bool):
                listed[pid] = stamp if isinstance(stamp, str) else None
        following = walk.advance(position, page)
        # This page covers ids after the previous page's last id, up to its own last id; the
        # last page also covers every higher id (mirrored rows beyond upstream's newest id).
        upto = None if following is None else following.last_id
        local = tools.db.read(
            functools.partial(local_index, store_code=store_code, after=position.last_id, upto=upto)
        )
        _compare(listed, local, skip, diff)
        if following is None:
            return diff
        position = following


def _compare(
    listed: dict[int, str | None],
    local: dict[int, tuple[datetime | None, bool]],
    skip: set[int],
    diff: IdDiff,
) -> None:
    diff.upstream += len(listed)
    for pid, (_, dead) in local.items():
        if not dead:
            diff.live += 1
            if pid not in listed:
                diff.gone.append(pid)
    for pid, stamp in listed.items():
        if pid in skip:
            continue  # rejected earlier in this run: fetching it again would not help
        mine = local.get(pid)
        if mine is None or mine[1]:
            diff.fetch.append(pid)
        elif stamp is not None and (mine[0] is None or format_accs_time(mine[0]) != stamp):
            diff.fetch.append(pid)


def reconcile_ids(tools: ProductTools, store: StoreStats, run_id: int) -> None:
    """List every id; tombstone the gone, fetch the missing, revived and stale."""
    code = store.store_code
    diff = diff_upstream_ids(tools, code, store.rejected_ids)
    gone = diff.gone
    log.info(
        "store %s: id listing found %d products upstream, %d live here; %d gone, %d to fetch",
        code,
        diff.upstream,
        diff.live,
        len(gone),
        len(diff.fetch),
    )
    for start in range(0, len(gone), CHUNK):

        def bury(conn: Connection, part: list[int] = gone[start : start + CHUNK]) -> int:
            deleted = tombstone(conn, code, part, tools.now(), run_id)
            update_run(conn, run_id, 0, 0, deleted=deleted)
            count_deleted(conn, run_id, PRODUCTS.name, code, deleted)
            report = PageReport(deleted=deleted, pages=0)
            after_commit(functools.partial(tools.observer.page_written, code, report))
            return deleted

        store.deleted += tools.db.write(bury)
    if store.deleted:
        log.info("store %s: %d products deleted upstream", code, store.deleted)
    _fetch_by_id(tools, store, run_id, sorted(diff.fetch))


def _fetch_by_id(tools: ProductTools, store: StoreStats, run_id: int, ids: list[int]) -> None:
    """Fetch ``ids`` in full, a page at a time (``entity_id in (...)``), and write them."""
    position = 0
    while position < len(ids):
        part = ids[position : position + tools.page_size()]

        def criteria(_: object, size: int, part: list[int] = part) -> SearchCriteria:
            return SearchCriteria(
                groups=((Filter("entity_id", ",".join(map(str, part[:size])), "in"),),),
                sorts=(Sort("entity_id", "ASC"),),
                page_size=size,
            )

        page = tools.fetch(criteria, None, store.store_code)

        def write(conn: Connection, page: Page = page) -> None:
            tools.write_page(conn, store, run_id, page, None)

        tools.db.write(write)
        position += min(len(part), tools.page_size())  # read after the fetch: it may learn a cap


def counts_differ(tools: ProductTools, store: StoreStats) -> bool:
    """Whether ACCS's ``total_count`` differs from the live rows plus pending rejects."""
    code = store.store_code
    upstream = tools.count(code)

    def local(conn: Connection) -> tuple[int, int]:
        live = conn.execute(
            sa.select(sa.func.count())
            .select_from(products)
            .where(products.c.store_code == code, products.c.deleted_at.is_(None))
        ).scalar_one()
        return int(live), pending_rejects(conn, code)

    live, rejected = tools.db.read(local)
    if live + rejected == upstream:
        return False
    log.info(
        "store %s: ACCS has %d products, the mirror %d live (+%d rejected); listing ids",
        code,
        upstream,
        live,
        rejected,
    )
    return True

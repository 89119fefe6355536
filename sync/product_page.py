"""The products' page writer: validate one page of products and write what changed.

One page is written in the caller's transaction, so it lands together with the state that says
how far the pass got (a checkpoint or the watermark), the change logs the declaration names
(:data:`sync.resources.PRODUCTS`: ``product_changes`` and ``catalog_changes``), its child
tables (attributes, category links) and the run's counters. An item whose content hash equals
its live row's was accepted before with exactly this content and is neither parsed nor
rewritten: most of a pass over an unchanged catalog is that comparison.

A page of a keyset walk over ids covers an id interval; the live rows of that interval that the
page did not carry are tombstoned there (the declaration's ``interval`` deletions), a rejected
item counting as present.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from sync.api.paging import Page
from sync.db.changes import IdInterval, stored_rows, tombstone_missing, write_products
from sync.db.rejects import Reject, clear_rejects, has_rejects, record_rejects
from sync.db.retry import after_commit
from sync.db.runlog import count_page
from sync.db.state import update_run
from sync.item_fields import ItemRejected
from sync.logcontext import log_context
from sync.models import Fingerprint, ProductRecord, fingerprint
from sync.observe import Observer, PageReport
from sync.resources import PRODUCTS
from sync.stats import StoreStats
from sync.watermark import Stamps

__all__ = ["ProductPageWriter"]

log = logging.getLogger(__name__)


class ProductPageWriter:
    """Writes pages of products (thread-safe for one writer at a time: the run's)."""

    def __init__(
        self,
        stamps: Stamps,
        observer: Observer,
        now: Callable[[], datetime],
        max_item_bytes: int,
    ) -> None:
        self.stamps = stamps
        self.observer = observer
        self.now = now
        #: SYNC_MAX_ITEM_BYTES: an item whose JSON text is larger is rejected.
        self.max_item_bytes = max_item_bytes

    def write_page(
        self,
        conn: Connection,
        store: StoreStats,
        run_id: int,
        page: Page,
        interval: IdInterval | None = None,
    ) -> None:
        """Validate one page and write what changed, in the caller's transaction.

        ``interval``: the ids the page covers in a keyset walk; live rows there that the page
        did not carry are tombstoned (a rejected item counts as present).
        """
        with log_context(page=store.pages + 1):
            self._write_page(conn, store, run_id, page, interval)

    def _write_page(
        self,
        conn: Connection,
        store: StoreStats,
        run_id: int,
        page: Page,
        interval: IdInterval | None,
    ) -> None:
        code = store.store_code
        limit = self.stamps.limit(page.server_time)
        field = PRODUCTS.incremental
        assert field is not None
        self.stamps.future(
            page.items, field, limit, resource=PRODUCTS.name, scope=code, name=_product_name
        )
        # The id and content hash of every item first: an item whose hash equals its live
        # row's was accepted before with exactly this content, so only the others are
        # validated in full (most of a pass over an unchanged catalog is this comparison).
        prints: dict[int, Fingerprint] = {}
        unprinted: list[Any] = []
        for item in page.items:
            fp = fingerprint(item, self.max_item_bytes, decoded=page.plain)
            if fp is None:
                unprinted.append(item)
            else:
                prints[fp.id] = fp  # a repeated id in one page: the last one wins
        stored = stored_rows(conn, code, list(prints), interval)
        rejects: list[Reject] = []
        records: dict[int, ProductRecord] = {}
        unchanged: list[int] = []
        for pid, fp in prints.items():
            row = stored.get(pid)
            if row is not None and row.deleted_at is None and row.content_hash == fp.content_hash:
                unchanged.append(pid)
                continue
            _parse(fp.received, code, fp, records, rejects)
        for item in unprinted:  # no usable id: the parser says what is wrong with it
            _parse(item, code, None, records, rejects)
        now = self.now()
        outcome = write_products(conn, code, records.values(), now, run_id, stored=stored)
        outcome.unchanged += len(unchanged)
        rejected_ids = {r.product_id for r in rejects if r.product_id is not None}
        if store.rejects_pending is None:
            store.rejects_pending = has_rejects(conn, code)
        if store.rejects_pending:
            # An unchanged item may have been rejected in between with other content.
            accepted = [pid for pid in [*records, *unchanged] if pid not in rejected_ids]
            if accepted:
                clear_rejects(conn, code, accepted)
        if rejects:
            record_rejects(conn, code, rejects, run_id, now)
            store.rejects_pending = True
        deleted = 0
        if interval is not None:
            present = _present([*records, *unchanged], rejects, stored)
            if present is None:
                log.warning(
                    "store %s: a rejected item in ids (%s, %s] has neither an id nor a known "
                    "sku; deletions in that interval wait for the next full pass",
                    code,
                    interval[0],
                    "end" if interval[1] is None else interval[1],
                )
            else:
                deleted = tombstone_missing(conn, code, stored, present, now, run_id)
        update_run(
            conn,
            run_id,
            1,
            outcome.written,
            unchanged=outcome.unchanged,
            rejected=len(rejects),
            revived=outcome.revived,
            deleted=deleted,
        )
        count_page(
            conn,
            run_id,
            PRODUCTS.name,
            code,
            store.mode,
            written=outcome.written,
            unchanged=outcome.unchanged,
            deleted=deleted,
            rejected=len(rejects),
            revived=outcome.revived,
        )
        report = PageReport(
            items=len(page.items),
            inserted=outcome.inserted,
            updated=outcome.updated,
            revived=outcome.revived,
            unchanged=outcome.unchanged,
            deleted=deleted,
            rejected=len(rejects),
        )

        def counted() -> None:  # once the page is committed (a retried page counts once)
            self.observer.page_written(code, report)
            store.pages += 1
            store.products += outcome.written
            store.unchanged += outcome.unchanged
            store.revived += outcome.revived
            store.rejected += len(rejects)
            store.deleted += deleted
            store.rejected_ids |= rejected_ids
            with log_context(page=store.pages):
                log.debug(
                    "store %s: page %d wrote %d products (%d unchanged, %d deleted)",
                    code,
                    store.pages,
                    outcome.written,
                    outcome.unchanged,
                    deleted,
                )

        after_commit(counted)


def _parse(
    item: Any,
    code: str,
    fp: Fingerprint | None,
    records: dict[int, ProductRecord],
    rejects: list[Reject],
) -> None:
    """Parse ``item`` with the declaration's parser into ``records``, or reject it."""
    try:
        record: ProductRecord = PRODUCTS.parse(item, code, fingerprint=fp)
    except ItemRejected as exc:
        reject = Reject.of(item, exc.reason)
        rejects.append(reject)
        log.warning("store %s: rejected item sku=%r: %s", code, reject.sku, exc.reason)
        return
    records[record.id] = record


def _product_name(item: dict[str, Any]) -> str:
    return f"product sku={item.get('sku')!r} id={item.get('id')!r}"


def _present(carried: list[int], rejects: list[Reject], stored: dict[int, Any]) -> set[int] | None:
    """The ids a page carried, rejected items included (found by sku when they have no
    usable id); None when a rejected item cannot be matched to an id at all."""
    present = set(carried)
    by_sku: dict[str, int] | None = None
    for reject in rejects:
        if reject.product_id is not None:
            present.add(reject.product_id)
            continue
        if by_sku is None:
            by_sku = {row.sku: pid for pid, row in stored.items() if getattr(row, "sku", None)}
        pid = by_sku.get(reject.sku) if reject.sku else None
        if pid is None:
            return None
        present.add(pid)
    return present

"""The resource engine's page writer and end-of-pass sweep: one page of any declared resource
(:mod:`sync.resources`) compared with the mirror and written, and the live rows a complete pass
did not see tombstoned.

A page is written in one transaction: every item's key and content hash first, only new,
changed or revived rows parsed (the declaration's ``parse``) and upserted, their child rows
replaced (:class:`~sync.resources.ChildTable`), each write logged in ``catalog_changes``,
rejects recorded and cleared. A repeated key in one page: the last one wins. An item without a
usable key is rejected and makes the pass's sweep untrustworthy (it could be any key), so the
writer says whether every item had one. The counts reach the run's
stats and the observer once the page is committed (a retried page counts once).

The sweep (the declaration's ``sweep`` deletions, for text keys whose collation the mirror
cannot compare) runs once a pass is complete: live rows whose key the pass did not see get
``deleted_at`` and a ``delete`` in the change log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from sync import jsontext
from sync.api.paging import Page
from sync.db.changes import chunks, log_catalog_changes
from sync.db.children import delete_children, replace_children
from sync.db.dialect import upsert_rows
from sync.db.rejects import clear_resource_rejects, payload_text, record_resource_rejects
from sync.db.retry import after_commit
from sync.db.runlog import count_deleted, count_page
from sync.db.schema import naive_utc
from sync.models import ItemRejected, format_accs_time
from sync.models import cleaned as _cleaned
from sync.observe import PageReport
from sync.passtools import PassTools
from sync.redact import escape_control
from sync.resources import GLOBAL_STORE, Resource
from sync.stats import ResourceStats

__all__ = ["Key", "ResourcePageWriter"]

log = logging.getLogger(__name__)

Key = tuple[Any, ...]
INSERT, UPDATE, DELETE = "insert", "update", "delete"


class ResourcePageWriter:
    """Writes the pages of one pass over ``resource`` in one store view (``*`` for a resource
    that is the same in every store view); ``stats`` collects the counts."""

    def __init__(
        self,
        resource: Resource,
        context: PassTools,
        *,
        store_code: str,
        run_id: int,
        stats: ResourceStats,
    ) -> None:
        self.resource = resource
        self.context = context
        self.store_code = store_code if resource.per_store else GLOBAL_STORE
        self.run_id = run_id
        self.stats = stats
        #: The newest usable ``updated_at`` written by the committed pages of an incremental
        #: pass (``stats.mode``): its watermark once the walk is complete (:mod:`sync.engine`).
        self.written_high: str | None = None

    def commit(self, page: Page, seen: set[Key] | None) -> bool:
        """Write ``page`` in a transaction of its own (retried whole, the same page, after a
        lost connection or a deadlock). Returns whether every item had a key."""
        return self.context.db.write(lambda conn: self.write_page(conn, page, seen))

    def write_page(self, conn: Connection, page: Page, seen: set[Key] | None) -> bool:
        """Validate ``page`` and write what changed, in ``conn``'s transaction. Returns whether
        every item had a key."""
        resource, now = self.resource, self.context.now()
        limit = self.context.stamps.limit(page.server_time)
        if resource.incremental:
            self.context.stamps.future(
                page.items,
                resource.incremental,
                limit,
                resource=resource.name,
                scope=self.store_code,
                name=self._item_name,
            )
        hashed: dict[Key, tuple[dict[str, Any], str, bool]] = {}
        rejects: list[tuple[str | None, str, str]] = []
        unhashable: dict[Key, tuple[str | None, str, str]] = {}
        keyed = True
        for item in page.items:
            key = resource.key_of(item)
            if key is None:
                keyed = False
                reason = f"item has no usable {resource.describe_key()} (the mirror's key)"
                rejects.append((None, reason, payload_text(item)))
                continue
            # A repeated key in one page: the last one wins, whether it is written or rejected.
            try:
                hashed[key] = _cleaned(item, self.context.max_item_bytes)
                unhashable.pop(key, None)
            except ItemRejected as exc:  # too big, or JSON text cannot hold it
                hashed.pop(key, None)
                unhashable[key] = (resource.key_text(key), exc.reason, payload_text(item))
        rejects.extend(unhashable.values())
        if seen is not None:
            seen.update(unhashable)  # a rejected item is still present upstream
        stored = self._stored(conn, list(hashed))
        rows: list[tuple[Any, ...]] = []
        changes: list[tuple[Key, str]] = []
        report = {"inserted": 0, "updated": 0, "revived": 0, "unchanged": 0}
        families: list[tuple[Key, list[list[dict[str, Any]]]]] = []  # child rows by row
        high = None
        for key, (item, digest, plain) in hashed.items():
            row = stored.get(key)
            if row is not None and row.deleted_at is None and row.content_hash == digest:
                report["unchanged"] += 1
                continue
            try:
                values = resource.parse(item)
                families.append((key, [child.rows(item) for child in resource.children]))
            except ItemRejected as exc:
                rejects.append((resource.key_text(key), exc.reason, payload_text(item)))
                continue
            op = INSERT if row is None or row.deleted_at is not None else UPDATE
            report["inserted" if row is None else "revived" if op == INSERT else "updated"] += 1
            data = jsontext.plain_compact(item) if plain else jsontext.compact(item)
            rows.append(self._row(key, values, data, digest, now))
            changes.append((key, op))
            stamp = values.get("updated_at") if resource.incremental else None
            if stamp is not None and stamp <= limit and (high is None or stamp > high):
                high = stamp
        written = [resource.key_text(key) for key, _ in changes]
        if rows:
            self._upsert(conn, rows)
            self._write_children(conn, families)
            ops = [(text, op) for text, (_, op) in zip(written, changes, strict=True)]
            log_catalog_changes(conn, resource.name, self.store_code, ops, now, self.run_id)
            clear_resource_rejects(conn, resource.name, self.store_code, written)
        if seen is not None:
            seen.update(hashed)
        if rejects:
            for key_text, reason, _ in rejects:
                log.warning(
                    "%s %s: rejected item %s: %s",
                    resource.name,
                    self.store_code,
                    escape_control(key_text) if key_text else "(no key)",
                    reason,
                )
            record_resource_rejects(conn, resource.name, self.store_code, rejects, self.run_id, now)
        written_count = report["inserted"] + report["updated"] + report["revived"]
        count_page(
            conn,
            self.run_id,
            resource.name,
            self.store_code,
            self.stats.mode,
            written=written_count,
            unchanged=report["unchanged"],
            rejected=len(rejects),
        )
        if high is not None and self.stats.mode == "incremental":
            after_commit(functools.partial(self._wrote_stamp, format_accs_time(high)))
        after_commit(functools.partial(self._counted, len(page.items), len(rejects), report))
        return keyed

    def _wrote_stamp(self, stamp: str) -> None:
        """A committed incremental page wrote rows up to ``stamp`` (a usable ``updated_at``)."""
        if self.written_high is None or stamp > self.written_high:
            self.written_high = stamp

    def _counted(self, items: int, rejected: int, report: dict[str, int]) -> None:
        """A committed page in the run's counters and metrics (once, a retried page too)."""
        self.stats.pages += 1
        self.stats.written += report["inserted"] + report["updated"] + report["revived"]
        self.stats.unchanged += report["unchanged"]
        self.stats.rejected += rejected
        self.context.observer.page_written(
            self.store_code,
            PageReport(items=items, rejected=rejected, resource=self.resource.name, **report),
        )

    def _scope(self) -> dict[str, str]:
        return {"store_code": self.store_code} if self.resource.per_store else {}

    def _key_names(self) -> list[str]:
        return [k.column for k in self.resource.keys]

    def _write_children(
        self, conn: Connection, families: list[tuple[Key, list[list[dict[str, Any]]]]]
    ) -> None:
        """Each written row's child rows, replaced whole (:class:`~sync.resources.ChildTable`)."""
        for n, child in enumerate(self.resource.children):
            rows = [(key, kids[n]) for key, kids in families]
            replace_children(conn, child.table, self._scope(), self._key_names(), rows)

    def _key_columns(self) -> list[sa.Column[Any]]:
        table = self.resource.table
        scope = [table.c.store_code] if self.resource.per_store else []
        return [*scope, *(table.c[k.column] for k in self.resource.keys)]

    def _stored(self, conn: Connection, keys: list[Key]) -> dict[Key, Any]:
        """The stored hash and tombstone of ``keys``."""
        table, found = self.resource.table, {}
        columns = [table.c[k.column] for k in self.resource.keys]
        for part in chunks(keys):
            query = sa.select(*columns, table.c.content_hash, table.c.deleted_at).where(
                sa.tuple_(*columns).in_([tuple(k) for k in part])
                if len(columns) > 1
                else columns[0].in_([k[0] for k in part])
            )
            if self.resource.per_store:
                query = query.where(table.c.store_code == self.store_code)
            for row in conn.execute(query):
                found[tuple(row[: len(columns)])] = row
        return found

    def _row(
        self, key: Key, values: dict[str, Any], data: str, digest: str, now: datetime
    ) -> tuple[Any, ...]:
        scope = (self.store_code,) if self.resource.per_store else ()
        other = tuple(values[name] for name in self._value_columns())
        return (*scope, *key, *other, jsontext.Encoded(data), digest, naive_utc(now))

    def _value_columns(self) -> list[str]:
        fixed = {"store_code", "data", "content_hash", "synced_at", "deleted_at"}
        fixed |= {k.column for k in self.resource.keys}
        return [c.name for c in self.resource.table.columns if c.name not in fixed]

    def _upsert(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        keys = [c.name for c in self._key_columns()]
        columns = [*keys, *self._value_columns(), "data", "content_hash", "synced_at"]
        upsert_rows(
            conn,
            self.resource.table,
            columns,
            rows,
            [c for c in columns if c not in keys],
            literal_updates={"deleted_at": sa.null()},
        )

    # -- deletions ---------------------------------------------------------------------------

    def _live_keys(self, conn: Connection) -> Iterator[list[Key]]:
        """The live rows' keys, a thousand at a time, in the database's own key order."""
        columns = [self.resource.table.c[k.column] for k in self.resource.keys]
        table, last = self.resource.table, None
        while True:
            query = (
                sa.select(*columns)
                .where(table.c.deleted_at.is_(None))
                .order_by(*columns)
                .limit(1000)
            )
            if self.resource.per_store:
                query = query.where(table.c.store_code == self.store_code)
            if last is not None:
                query = query.where(sa.tuple_(*columns) > sa.tuple_(*last))
            batch = [tuple(row) for row in conn.execute(query)]
            if not batch:
                return
            yield batch
            last = batch[-1]

    def sweep(self, conn: Connection, seen: set[Key], live: Iterable[Key] | None = None) -> int:
        """Tombstone the live rows a complete pass did not see (of ``live``, default every live
        row). Returns how many."""
        if live is None:
            live = (key for batch in self._live_keys(conn) for key in batch)
        gone = [key for key in live if key not in seen]
        if not gone:
            return 0
        table, now = self.resource.table, naive_utc(self.context.now())
        columns = [table.c[k.column] for k in self.resource.keys]
        for part in chunks(gone):
            match = (
                sa.tuple_(*columns).in_(list(part))
                if len(columns) > 1
                else columns[0].in_([k[0] for k in part])
            )
            query = sa.update(table).where(match, table.c.deleted_at.is_(None))
            if self.resource.per_store:
                query = query.where(table.c.store_code == self.store_code)
            conn.execute(query.values(deleted_at=now))
        for child in self.resource.children:
            if child.cleared_on_delete:
                delete_children(conn, child.table, self._scope(), self._key_names(), gone)
        log_catalog_changes(
            conn,
            self.resource.name,
            self.store_code,
            [(self.resource.key_text(key), DELETE) for key in gone],
            now,
            self.run_id,
        )
        count_deleted(conn, self.run_id, self.resource.name, self.store_code, len(gone))
        report = PageReport(deleted=len(gone), resource=self.resource.name, pages=0)
        after_commit(functools.partial(self.context.observer.page_written, self.store_code, report))
        return len(gone)

    def _item_name(self, item: dict[str, Any]) -> str:
        key = self.resource.key_of(item)
        return (
            self.resource.describe_key()
            + " "
            + ("(none)" if key is None else repr(self.resource.key_text(key)))
        )

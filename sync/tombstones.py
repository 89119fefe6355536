"""How the resource engine finds and records deletions, as the declaration says
(:data:`sync.resources.Deletions`).

* ``interval`` (a key of one number): each page of a full pass tombstones, in its own
  transaction, the live rows whose key lies in the page's interval (after the key it was
  fetched after, or its id range's start, up to the key its walk goes on after, or its range's
  end) that the page did not carry; a rejected item counts as present.
* ``sweep`` (text keys, ordered by the store's collation, which the mirror cannot compare):
  once a pass is complete, the live rows whose key it did not see.

A tombstone sets ``deleted_at`` (never a hard delete), clears the row's child rows when its
:class:`~sync.resources.ChildTable` says so, and logs a ``delete`` in ``catalog_changes``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from sync.db.changes import chunks, log_catalog_changes
from sync.db.children import delete_children
from sync.db.retry import after_commit
from sync.db.runlog import count_deleted
from sync.db.schema import naive_utc
from sync.observe import PageReport
from sync.passtools import PassTools
from sync.resources import Resource

__all__ = ["Key", "Tombstones"]

log = logging.getLogger(__name__)

Key = tuple[Any, ...]


class Tombstones:
    """Deletions of ``resource`` in one store view (``*``: the same in every one)."""

    def __init__(
        self, resource: Resource, context: PassTools, *, store_code: str, run_id: int
    ) -> None:
        self.resource = resource
        self.context = context
        self.store_code = store_code
        self.run_id = run_id

    @property
    def scope(self) -> dict[str, str]:
        """The store view columns of the resource's rows (none for a global resource)."""
        return {"store_code": self.store_code} if self.resource.per_store else {}

    @property
    def key_names(self) -> list[str]:
        return [k.column for k in self.resource.keys]

    def interval(
        self, conn: Connection, lower: int | None, upper: int | None, present: set[Key] | None
    ) -> int:
        """Tombstone the live rows with ``lower < key <= upper`` (either None: open) that
        ``present`` lacks (the page's keys, rejected items included; None when an item had no
        key, so nothing can be told gone). Returns how many."""
        if present is None:
            log.warning(
                "%s %s: a rejected item in keys (%s, %s] has no key; deletions in that interval "
                "wait for the next full pass",
                self.resource.name,
                self.store_code,
                "start" if lower is None else lower,
                "end" if upper is None else upper,
            )
            return 0
        table = self.resource.table
        column = table.c[self.resource.keys[0].column]
        query = sa.select(column).where(table.c.deleted_at.is_(None))
        if self.resource.per_store:
            query = query.where(table.c.store_code == self.store_code)
        if lower is not None:
            query = query.where(column > lower)
        if upper is not None:
            query = query.where(column <= upper)
        gone = [key for key in ((row[0],) for row in conn.execute(query)) if key not in present]
        return self.tombstone(conn, gone)

    def sweep(
        self,
        conn: Connection,
        seen: set[Key],
        only: set[Any] | None = None,
        live: Iterable[Key] | None = None,
    ) -> int:
        """Tombstone the live rows a complete pass did not see (of ``live``, default every live
        row; ``only``: those whose key's first field is one of these, the partitions a resumed
        pass read whole). Returns how many."""
        if live is None:
            live = (key for batch in self._live_keys(conn) for key in batch)
        gone = [key for key in live if key not in seen and (only is None or key[0] in only)]
        deleted = self.tombstone(conn, gone)
        count_deleted(conn, self.run_id, self.resource.name, self.store_code, deleted)
        if deleted:
            report = PageReport(deleted=deleted, resource=self.resource.name, pages=0)
            observed = functools.partial(self.context.observer.page_written, self.store_code)
            after_commit(functools.partial(observed, report))
        return deleted

    def tombstone(self, conn: Connection, gone: list[Key]) -> int:
        """Tombstone the live rows of ``gone`` and log each as a ``delete``. Returns how many."""
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
                delete_children(conn, child.table, self.scope, self.key_names, gone)
        log_catalog_changes(
            conn,
            self.resource.name,
            self.store_code,
            [(self.resource.key_text(key), "delete") for key in gone],
            now,
            self.run_id,
        )
        return len(gone)

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

"""The resource engine's page writer: one page of any declared resource (:mod:`sync.resources`)
compared with the mirror and written, in one transaction with what a full pass keeps there.

Every item's key and content hash first; only new, changed or revived rows are parsed (the
declaration's ``parse``) and upserted, their child rows replaced
(:class:`~sync.resources.ChildTable`), each write logged in ``catalog_changes``; rejects are
recorded and cleared, the run's per-resource counts (``sync_run_resources``) kept. A repeated
key in one page: the last one wins. An item without a usable key is rejected and makes a sweep
untrustworthy (it could be any key), so the writer says whether every item had one. In a full
pass the same transaction tombstones the page's key interval (``interval`` deletions,
:mod:`sync.tombstones`) and saves the checkpoint as it stands once the page is in
(:mod:`sync.resume`); in an incremental pass the walk's own checkpoint (its position, lower
bound, clock and newest ``updated_at`` written). The counts reach the run's stats and the
observer once the page is committed (a retried page counts once).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from sync import jsontext
from sync.accs_time import format_accs_time
from sync.api.keyset import KeyPosition
from sync.api.paging import Page
from sync.db.changes import chunks, log_catalog_changes
from sync.db.children import replace_children
from sync.db.dialect import upsert_rows
from sync.db.rejects import clear_resource_rejects, payload_text, record_resource_rejects
from sync.db.retry import after_commit
from sync.db.runlog import count_page
from sync.db.schema import naive_utc
from sync.db.state import set_state
from sync.item_fields import ItemRejected
from sync.models import cleaned as _cleaned
from sync.observe import PageReport
from sync.passtools import PassTools
from sync.planner import NO_WINDOW, Window
from sync.ranges import IdRange, RangeSet
from sync.ranges import Step as RangeStep
from sync.redact import escape_control
from sync.resources import GLOBAL_STORE, Resource
from sync.resume import Progress, Walked, save, save_progress
from sync.stats import ResourceStats
from sync.tombstones import Key, Tombstones

__all__ = ["Key", "Ranged", "ResourcePageWriter", "Step"]

log = logging.getLogger(__name__)

INSERT, UPDATE = "insert", "update"


@dataclass(frozen=True)
class Step:
    """Where a page was fetched (``before``) and where its walk goes next (``following``,
    None at the end), in its partition (:attr:`sync.partitions.Partition.value`)."""

    partition: Any
    before: KeyPosition
    following: KeyPosition | None


@dataclass(frozen=True)
class Ranged:
    """A page of an id range that splits (:mod:`sync.ranges`, ``id_ranges`` partitions): its
    range and what the range set made of the page (its id interval, where the range goes on)."""

    rng: IdRange
    step: RangeStep


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
        self.tombstones = Tombstones(resource, context, store_code=self.store_code, run_id=run_id)
        #: An incremental walk's checkpoint, saved with each page (None: not an incremental
        #: pass); its ``written_high`` is the newest usable ``updated_at`` committed so far, the
        #: watermark once the walk is complete (:mod:`sync.engine`).
        self.progress: Progress | None = None
        #: A full pass's committed position per partition, in the order they are
        #: checkpointed; None while no checkpoint is kept (incremental passes).
        self.positions: dict[Any, KeyPosition] | None = None
        #: Where each id range starts (a key of one number: its partition's ``lower``).
        self.lower: dict[Any, int] = {}
        #: What the checkpoint says besides positions: the pass's high water and window.
        self.covers: tuple[str | None, Window] = (None, NO_WINDOW)
        #: Each page tombstones what its key interval no longer holds (numeric keys).
        self.intervals = False
        #: A full pass over id ranges that split: the checkpoint is theirs (None: not one).
        self.ranges: RangeSet | None = None

    def commit(self, page: Page, seen: set[Key] | None, step: Step | Ranged) -> bool:
        """Write ``page`` (fetched at ``step``) in a transaction of its own (retried whole, the
        same page, after a lost connection or a deadlock). Returns whether every item had a
        key."""
        keyed: bool = self.context.db.write(lambda conn: self.write_page(conn, page, seen, step))
        if self.positions is not None and isinstance(step, Step):  # committed: it goes on here
            if step.following is None:
                self.positions.pop(step.partition, None)
            else:
                self.positions[step.partition] = step.following
        return keyed

    def write_page(
        self, conn: Connection, page: Page, seen: set[Key] | None, step: Step | Ranged
    ) -> bool:
        """Validate ``page`` and write what changed, in ``conn``'s transaction, with what a
        full pass keeps in it: the tombstones of the page's key interval (numeric keys) and
        the checkpoint as it stands once the page is in. Returns whether every item had a
        key."""
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
                hashed[key] = _cleaned(item, self.context.max_item_bytes, page.plain)
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
        families: list[tuple[Key, list[list[dict[str, Any]]]]] = []  # child rows by row
        report = {"inserted": 0, "updated": 0, "revived": 0, "unchanged": 0}
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
        if self.intervals:
            present = {*hashed, *unhashable} if keyed else None
            report["deleted"] = self._tombstone_interval(conn, step, present)
        if self.positions is not None or self.ranges is not None:
            self._save_checkpoint(conn, step)
        elif self.progress is not None and isinstance(step, Step):
            self._save_progress(conn, step, None if high is None else format_accs_time(high))
        count_page(
            conn,
            self.run_id,
            resource.name,
            self.store_code,
            self.stats.mode,
            written=report["inserted"] + report["updated"] + report["revived"],
            unchanged=report["unchanged"],
            deleted=report.get("deleted", 0),
            rejected=len(rejects),
            revived=report["revived"],
        )
        if high is not None and self.progress is not None:
            after_commit(functools.partial(self._wrote_stamp, format_accs_time(high)))
        after_commit(functools.partial(self._counted, len(page.items), len(rejects), report))
        return keyed

    def _save_checkpoint(self, conn: Connection, step: Step | Ranged) -> None:
        """The checkpoint as it will be once the page of ``step`` is committed (its partition
        moved on, or gone when finished), in ``conn``'s transaction."""
        key = self.resource.state.checkpoint
        assert key is not None  # the engine checks it
        if isinstance(step, Ranged):
            assert self.ranges is not None
            left = self.ranges.checkpoint(after=(step.rng, step.step))
            walks = [
                Walked(
                    r["upto"],
                    KeyPosition((r["after"],)) if r["after"] else KeyPosition(),
                    r["after"],
                )
                for r in left
            ]
            value = save(walks, *self.covers, ranges=True)
            set_state(conn, self.store_code, key, value, self.context.now())
            return
        assert self.positions is not None
        positions = dict(self.positions)
        if step.following is None:
            positions.pop(step.partition, None)
        else:
            positions[step.partition] = step.following
        walks = [Walked(part, at, self.lower.get(part, 0)) for part, at in positions.items()]
        value = save(walks, *self.covers, ranges=self.resource.deletions == "interval")
        set_state(conn, self.store_code, key, value, self.context.now())

    def _save_progress(self, conn: Connection, step: Step, high: str | None) -> None:
        """The incremental walk's checkpoint once the page of ``step`` is committed: where the
        walk goes on (a last page: where it was fetched, so a resumed walk reads it again and
        completes) and the newest usable ``updated_at`` written, this page's included."""
        key, progress = self.resource.state.incremental_checkpoint, self.progress
        assert key is not None and progress is not None  # the declaration checks it
        newest = progress.written_high
        if high is not None and (newest is None or high > newest):
            newest = high
        position = step.before if step.following is None else step.following
        value = save_progress(dataclasses.replace(progress, written_high=newest), position)
        set_state(conn, self.store_code, key, value, self.context.now())

    def _tombstone_interval(
        self, conn: Connection, step: Step | Ranged, present: set[Key] | None
    ) -> int:
        """The page's interval: after the key it was fetched after (its id range's start for a
        first page), up to the key its walk goes on after (its range's end, or the end, for a
        last page). Returns how many rows it tombstoned."""
        if isinstance(step, Ranged):
            start, end = step.step.interval
            return self.tombstones.interval(conn, start or None, end, present)
        lower = step.before.after[0] if step.before.after is not None else None
        if lower is None:
            lower = self.lower.get(step.partition) or None
        upper = step.partition  # the range's end
        if step.following is not None:
            if step.following.after is None:
                return 0  # no key bounds the interval (not for a walk of one numeric field)
            upper = step.following.after[0]
        return self.tombstones.interval(conn, lower, upper, present)

    def _wrote_stamp(self, stamp: str) -> None:
        """A committed incremental page wrote rows up to ``stamp`` (a usable ``updated_at``)."""
        progress = self.progress
        if progress is not None and (
            progress.written_high is None or stamp > progress.written_high
        ):
            progress.written_high = stamp

    def _counted(self, items: int, rejected: int, report: dict[str, int]) -> None:
        """A committed page in the run's counters and metrics (once, a retried page too)."""
        self.stats.pages += 1
        self.stats.deleted += report.get("deleted", 0)
        self.stats.written += report["inserted"] + report["updated"] + report["revived"]
        self.stats.revived += report["revived"]
        self.stats.unchanged += report["unchanged"]
        self.stats.rejected += rejected
        self.context.observer.page_written(
            self.store_code,
            PageReport(items=items, rejected=rejected, resource=self.resource.name, **report),
        )

    def _write_children(
        self, conn: Connection, families: list[tuple[Key, list[list[dict[str, Any]]]]]
    ) -> None:
        """Each written row's child rows, replaced whole (:class:`~sync.resources.ChildTable`)."""
        scope, names = self.tombstones.scope, self.tombstones.key_names
        for n, child in enumerate(self.resource.children):
            rows = [(key, kids[n]) for key, kids in families]
            replace_children(conn, child.table, scope, names, rows)

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
        keys = [*self.tombstones.scope, *self.tombstones.key_names]
        columns = [*keys, *self._value_columns(), "data", "content_hash", "synced_at"]
        upsert_rows(
            conn,
            self.resource.table,
            columns,
            rows,
            [c for c in columns if c not in keys],
            literal_updates={"deleted_at": sa.null()},
        )

    def _item_name(self, item: dict[str, Any]) -> str:
        key = self.resource.key_of(item)
        return (
            self.resource.describe_key()
            + " "
            + ("(none)" if key is None else repr(self.resource.key_text(key)))
        )

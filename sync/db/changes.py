"""Write what really changed: products, their attributes, and the change log, in one transaction.

A page of products goes through :func:`write_products`: one SELECT loads the stored
``content_hash`` and ``deleted_at`` of the page's ids, and only new, changed or revived products
are upserted, get their ``product_attributes`` replaced and a ``product_changes`` entry. An
unchanged product is never rewritten, so ``synced_at`` and the change log mean "really changed".
:func:`tombstone` soft-deletes and logs ``delete``. Everything runs on the caller's connection
and commits with the caller's transaction (with the state and run counters of that page).

Change log ``op``: ``insert`` for a product new to the mirror *or revived* (it was tombstoned and
is back upstream), ``update`` for a changed one, ``delete`` for a tombstone. ``seq`` increases
in commit order because the run lock (:mod:`sync.db.lock`) allows a single writer per database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.db.dialect import dialect_name, insert_rows
from sync.db.schema import (
    catalog_changes,
    naive_utc,
    product_attributes,
    product_categories,
    product_changes,
    products,
)
from sync.db.upsert import upsert_products
from sync.models import ProductRecord
from sync.names import PRODUCTS_NAME

__all__ = [
    "CHUNK",
    "IdInterval",
    "PageOutcome",
    "chunks",
    "local_index",
    "log_catalog_changes",
    "stored_rows",
    "tombstone",
    "tombstone_missing",
    "write_products",
]

T = TypeVar("T")

#: Ids per IN list: well under SQLite's 999 bound parameters (older builds) and small enough
#: for MariaDB's packet and PostgreSQL's planner.
CHUNK = 500

INSERT, UPDATE, DELETE = "insert", "update", "delete"

_ATTRIBUTE_COLUMNS = ("store_code", "product_id", "attribute_code", "value")
_CHANGE_COLUMNS = ("store_code", "product_id", "sku", "op", "changed_at", "run_id")
_CATALOG_COLUMNS = ("resource", "store_code", "entity_key", "op", "changed_at", "run_id")
_LINK_COLUMNS = ("store_code", "product_id", "category_id", "position")


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass
class PageOutcome:
    """What :func:`write_products` did with one batch."""

    inserted: int = 0
    updated: int = 0
    revived: int = 0
    unchanged: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.revived


def _stored(conn: Connection, store_code: str, ids: Sequence[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for part in chunks(ids):
        rows = conn.execute(
            sa.select(products.c.id, products.c.content_hash, products.c.deleted_at).where(
                products.c.store_code == store_code, _id_in(conn, part)
            )
        )
        found.update({row.id: row for row in rows})
    return found


def _id_in(conn: Connection, ids: Sequence[int]) -> sa.ColumnElement[bool]:
    """``products.id IN ids``; on PostgreSQL ``= ANY(array)``, one parameter instead of hundreds
    (psycopg's parsing of a 500-parameter statement cost more than the query)."""
    if dialect_name(conn) == "postgresql":
        from sqlalchemy.dialects import postgresql  # here: a SQLite process never imports it

        array = sa.bindparam("ids", list(ids), type_=postgresql.ARRAY(sa.BigInteger()))
        return products.c.id == sa.any_(array)
    return products.c.id.in_(ids)


IdInterval = tuple[int, int | None]
"""Ids ``lo < id <= hi`` (``hi`` None: no upper bound)."""


def stored_rows(
    conn: Connection, store_code: str, ids: Sequence[int], interval: IdInterval | None = None
) -> dict[int, Any]:
    """The stored ``content_hash``, ``deleted_at`` and ``sku`` of ``ids``, or of every mirrored
    row in ``interval`` when one is given (one range scan of the primary key)."""
    if interval is None:
        return _stored(conn, store_code, ids) if ids else {}
    lo, hi = interval
    t = products.c
    query = sa.select(t.id, t.content_hash, t.deleted_at, t.sku).where(
        t.store_code == store_code, t.id > lo
    )
    if hi is not None:
        query = query.where(t.id <= hi)
    found = {row.id: row for row in conn.execute(query)}
    outside = [pid for pid in ids if pid <= lo or (hi is not None and pid > hi)]
    if outside:  # not in a well-behaved page, but then they are still looked up
        found.update(_stored(conn, store_code, outside))
    return found


def write_products(
    conn: Connection,
    store_code: str,
    records: Iterable[ProductRecord],
    now: datetime,
    run_id: int | None,
    *,
    stored: dict[int, Any] | None = None,
) -> PageOutcome:
    """Write the new, changed and revived ``records`` of ``store_code``; skip unchanged ones.

    ``stored``: what :func:`stored_rows` returned for these records (looked up when omitted).
    A repeated id keeps its last record. Does not commit.
    """
    latest = {r.id: r for r in records}
    outcome = PageOutcome()
    if not latest:
        return outcome
    if stored is None:
        stored = _stored(conn, store_code, list(latest))
    changed: list[ProductRecord] = []
    log: list[tuple[ProductRecord, str]] = []
    for record in latest.values():
        if record.store_code != store_code:
            raise ValueError(f"record for store {record.store_code!r} in a {store_code!r} batch")
        row = stored.get(record.id)
        if row is None:
            outcome.inserted += 1
            op = INSERT
        elif row.deleted_at is not None:
            outcome.revived += 1
            op = INSERT
        elif row.content_hash != record.content_hash or not record.content_hash:
            outcome.updated += 1
            op = UPDATE
        else:
            outcome.unchanged += 1
            continue
        changed.append(record)
        log.append((record, op))
    if changed:
        upsert_products(conn, changed, now)
        # A product new to the mirror has no attribute rows yet: nothing to delete for it.
        known = [r.id for r, op in log if r.id in stored]
        attributes = [(store_code, r.id, c, v) for r in changed for c, v in r.attributes]
        _replace_rows(conn, product_attributes, _ATTRIBUTE_COLUMNS, store_code, attributes, known)
        links = [(store_code, r.id, c, p) for r in changed for c, p in r.categories]
        _replace_rows(conn, product_categories, _LINK_COLUMNS, store_code, links, known)
        _log(conn, [(store_code, r.id, r.sku, op) for r, op in log], now, run_id)
    return outcome


def _replace_rows(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    store_code: str,
    rows: Sequence[tuple[Any, ...]],
    existing: Sequence[int],
) -> None:
    """A product child table's rows (``product_attributes``, ``product_categories``) for the
    products written: the old rows of the ``existing`` ids go first."""
    for part in chunks(existing):
        conn.execute(
            sa.delete(table).where(table.c.store_code == store_code, table.c.product_id.in_(part))
        )
    insert_rows(conn, table, columns, rows)


def _log(
    conn: Connection,
    entries: Sequence[tuple[str, int, str, str]],
    now: datetime,
    run_id: int | None,
) -> None:
    """Append to ``product_changes`` and ``catalog_changes`` in the given order (so ``seq``
    follows it)."""
    stamp = naive_utc(now)
    rows = [(store, pid, sku, op, stamp, run_id) for store, pid, sku, op in entries]
    insert_rows(conn, product_changes, _CHANGE_COLUMNS, rows)
    catalog = [(PRODUCTS_NAME, store, str(pid), op, stamp, run_id) for store, pid, _, op in entries]
    insert_rows(conn, catalog_changes, _CATALOG_COLUMNS, catalog)


def log_catalog_changes(
    conn: Connection,
    resource: str,
    store_code: str,
    entries: Sequence[tuple[str, str]],
    now: datetime,
    run_id: int | None,
) -> None:
    """Append (entity key, op) entries of ``resource`` to ``catalog_changes``, in order."""
    stamp = naive_utc(now)
    rows = [(resource, store_code, key, op, stamp, run_id) for key, op in entries]
    insert_rows(conn, catalog_changes, _CATALOG_COLUMNS, rows)


def tombstone_missing(
    conn: Connection,
    store_code: str,
    stored: dict[int, Any],
    present: Iterable[int],
    now: datetime,
    run_id: int | None,
) -> int:
    """Tombstone the live rows of ``stored`` (one id interval's rows, from :func:`stored_rows`)
    whose id is not in ``present``: a keyset page that covers the interval did not carry them,
    so they are gone upstream. Returns how many. Does not commit."""
    seen = set(present)
    gone = [pid for pid, row in stored.items() if row.deleted_at is None and pid not in seen]
    return tombstone(conn, store_code, gone, now, run_id) if gone else 0


def tombstone(
    conn: Connection, store_code: str, ids: Sequence[int], now: datetime, run_id: int | None
) -> int:
    """Set ``deleted_at`` on the live rows among ``ids`` and log a ``delete`` for each.

    Never a hard delete: the row (and its attributes) stays for consumers to see the deletion.
    Returns how many rows were tombstoned. Does not commit.
    """
    stamp = naive_utc(now)
    count = 0
    for part in chunks(sorted(ids)):
        alive = sa.and_(
            products.c.store_code == store_code,
            products.c.id.in_(part),
            products.c.deleted_at.is_(None),
        )
        victims = conn.execute(
            sa.select(products.c.id, products.c.sku).where(alive).order_by(products.c.id)
        ).all()
        if not victims:
            continue
        conn.execute(sa.update(products).where(alive).values(deleted_at=stamp))
        _log(conn, [(store_code, v.id, v.sku, DELETE) for v in victims], now, run_id)
        count += len(victims)
    return count


def local_index(
    conn: Connection, store_code: str, after: int | None = None, upto: int | None = None
) -> dict[int, tuple[datetime | None, bool]]:
    """Mirrored ids of ``store_code`` in ``(after, upto]`` (unbounded where ``None``):
    (``updated_at``, whether it is tombstoned)."""
    query = sa.select(products.c.id, products.c.updated_at, products.c.deleted_at).where(
        products.c.store_code == store_code
    )
    if after is not None:
        query = query.where(products.c.id > after)
    if upto is not None:
        query = query.where(products.c.id <= upto)
    rows = conn.execute(query)
    return {row.id: (row.updated_at, row.deleted_at is not None) for row in rows}

"""``sync_rejects``: items ACCS sent that failed validation, kept with their raw payload.

Bounded: one row per item, the latest rejection. An item is identified by (``store_code``,
``product_id``), or by (``store_code``, ``sku``) when it has no usable id; rejecting it again
replaces its row, and writing it successfully later removes the row. Rows not refreshed for
:data:`RETENTION` (the item was deleted upstream or has neither id nor sku) are pruned at the end
of each run, since a nightly reconcile would have rejected it again had it still been there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.db.changes import chunks
from sync.db.schema import naive_utc, products, sync_rejects
from sync.names import PRODUCTS_NAME

__all__ = [
    "PAYLOAD_LIMIT",
    "REASON_LIMIT",
    "RETENTION",
    "Reject",
    "clear_rejects",
    "clear_resource_rejects",
    "has_rejects",
    "payload_text",
    "pending_rejects",
    "prune_rejects",
    "record_rejects",
    "record_resource_rejects",
    "rejects_of_run",
]

RETENTION = timedelta(days=30)
_SKU_MAX = 255
#: ``sync_rejects.entity_key``'s width.
_KEY_MAX = 320
#: The rows of products (the resource that has its own id and sku columns here).
_PRODUCTS = sync_rejects.c.resource == PRODUCTS_NAME


@dataclass(frozen=True)
class Reject:
    """One rejected item: what we could read of its key, why, and the item as received."""

    product_id: int | None
    sku: str | None
    reason: str
    payload: str

    @classmethod
    def of(cls, item: Any, reason: str) -> Reject:
        product_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(product_id, str) and product_id.isdigit():
            product_id = int(product_id)
        if isinstance(product_id, bool) or not isinstance(product_id, int):
            product_id = None
        elif not 0 < product_id < 2**63:
            product_id = None
        sku = item.get("sku") if isinstance(item, dict) else None
        sku = _column_text(sku)[:_SKU_MAX] if isinstance(sku, str) else None
        sku = sku or None
        return cls(product_id, sku, reason, payload_text(item))


def payload_text(item: Any) -> str:
    """A rejected item as the JSON text ``sync_rejects.payload`` keeps: always valid JSON, at
    most :data:`PAYLOAD_LIMIT` bytes of UTF-8, storable on every database.

    JSON escapes NUL (PostgreSQL refuses raw NULs). What JSON text cannot hold is written as
    text: NaN and the infinities as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, a
    lone surrogate as the six characters of its escape, values nested deeper than
    :data:`_PAYLOAD_DEPTH` levels as ``"..."``. An item whose text is still over the limit
    keeps only its top-level fields, each value over 1 KiB replaced by ``"<N bytes, not
    stored>"`` (its id and sku stay readable; the reason says how big the item was).
    """
    try:
        text = json.dumps(item, ensure_ascii=False, default=str, allow_nan=False)
        size = len(text.encode("utf-8"))
    except (ValueError, UnicodeEncodeError, RecursionError):
        text = json.dumps(_storable(item, 0), ensure_ascii=False)
        size = len(text.encode("utf-8"))
    if size <= PAYLOAD_LIMIT:
        return text
    if isinstance(item, dict):
        summary = {str(k): _small(v) for k, v in item.items()}
        text = json.dumps(summary, ensure_ascii=False)
        if len(text.encode("utf-8")) <= PAYLOAD_LIMIT:
            return text
    return json.dumps(f"<{size} bytes, not stored>")


#: The most ``sync_rejects.payload`` keeps of one item (UTF-8 bytes; see :func:`payload_text`).
PAYLOAD_LIMIT = 64 * 1024
#: ``sync_rejects.reason`` keeps at most this many characters (a reason may quote a value).
REASON_LIMIT = 1000
_PAYLOAD_DEPTH = 16
_FIELD_LIMIT = 1024


def _storable(value: Any, depth: int) -> Any:
    """A copy of ``value`` that JSON text can hold (see :func:`payload_text`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, dict | list) and depth >= _PAYLOAD_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {_storable(str(k), depth): _storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v, depth + 1) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _storable(str(value), depth)


def _small(value: Any) -> Any:
    kept = _storable(value, 0)
    size = len(json.dumps(kept, ensure_ascii=False).encode("utf-8"))
    return kept if size <= _FIELD_LIMIT else f"<{size} bytes, not stored>"


def record_rejects(
    conn: Connection,
    store_code: str,
    rejects: Sequence[Reject],
    run_id: int | None,
    now: datetime,
) -> None:
    """Store ``rejects``, replacing earlier rows of the same items. Does not commit."""
    if not rejects:
        return
    latest: dict[tuple[str, Any], Reject] = {}
    for reject in rejects:
        key = ("id", reject.product_id) if reject.product_id is not None else ("sku", reject.sku)
        latest[key] = reject
    ids = [k[1] for k in latest if k[0] == "id"]
    skus = [k[1] for k in latest if k[0] == "sku" and k[1] is not None]
    clear_rejects(conn, store_code, ids)
    for part in chunks(skus):
        conn.execute(
            sa.delete(sync_rejects).where(
                sync_rejects.c.store_code == store_code,
                _PRODUCTS,
                sync_rejects.c.product_id.is_(None),
                sync_rejects.c.sku.in_(part),
            )
        )
    stamp = naive_utc(now)
    conn.execute(
        sa.insert(sync_rejects),
        [
            {
                "run_id": run_id,
                "store_code": store_code,
                "product_id": r.product_id,
                "sku": r.sku,
                "reason": _reason(r.reason),
                "payload": r.payload,
                "rejected_at": stamp,
            }
            for r in latest.values()
        ],
    )


def _utf8(text: str) -> str:
    """``text`` with each lone surrogate (not UTF-8: no database takes it) as its escape."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _column_text(text: str) -> str:
    """``text`` storable in a text column on every database: UTF-8 (see :func:`_utf8`), and
    without NUL characters (PostgreSQL refuses them)."""
    return _utf8(text.replace("\x00", ""))


def _reason(reason: str) -> str:
    reason = _column_text(reason)
    return reason if len(reason) <= REASON_LIMIT else reason[: REASON_LIMIT - 3] + "..."


def clear_rejects(conn: Connection, store_code: str, ids: Sequence[int]) -> None:
    """Forget rejections of ``ids`` (they were just written, or are rejected anew)."""
    for part in chunks(list(ids)):
        conn.execute(
            sa.delete(sync_rejects).where(
                sync_rejects.c.store_code == store_code,
                _PRODUCTS,
                sync_rejects.c.product_id.in_(part),
            )
        )


def prune_rejects(engine: Engine, now: datetime) -> int:
    """Drop rejections not refreshed for :data:`RETENTION`; returns how many."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.delete(sync_rejects).where(sync_rejects.c.rejected_at < naive_utc(now - RETENTION))
        )
    return int(result.rowcount)


def has_rejects(conn: Connection, store_code: str) -> bool:
    """Whether ``sync_rejects`` holds any row of ``store_code``."""
    query = sa.select(sync_rejects.c.store_code).where(
        sync_rejects.c.store_code == store_code, _PRODUCTS
    )
    return conn.execute(query.limit(1)).first() is not None


def pending_rejects(conn: Connection, store_code: str) -> int:
    """Rejected items of ``store_code`` that have no live row: upstream, yet not mirrored."""
    live = (
        sa.select(products.c.id)
        .where(
            products.c.store_code == sync_rejects.c.store_code,
            products.c.id == sync_rejects.c.product_id,
            products.c.deleted_at.is_(None),
        )
        .exists()
    )
    query = (
        sa.select(sa.func.count())
        .select_from(sync_rejects)
        .where(sync_rejects.c.store_code == store_code, _PRODUCTS, ~live)
    )
    return int(conn.execute(query).scalar_one())


def rejects_of_run(conn: Connection, run_id: int) -> int:
    """How many rows of ``sync_rejects`` a run left (for ``status``)."""
    query = (
        sa.select(sa.func.count()).select_from(sync_rejects).where(sync_rejects.c.run_id == run_id)
    )
    return int(conn.execute(query).scalar_one())


def record_resource_rejects(
    conn: Connection,
    resource: str,
    store_code: str,
    rejects: Sequence[tuple[str | None, str, str]],
    run_id: int | None,
    now: datetime,
) -> None:
    """Store rejected items of another resource than products: (key text or None, reason,
    payload) each, replacing earlier rows of the same keys. Does not commit."""
    if not rejects:
        return
    clear_resource_rejects(conn, resource, store_code, [k for k, _, _ in rejects if k])
    stamp = naive_utc(now)
    conn.execute(
        sa.insert(sync_rejects),
        [
            {
                "run_id": run_id,
                "store_code": store_code,
                "resource": resource,
                "entity_key": None if key is None else _column_text(key)[:_KEY_MAX],
                "reason": _reason(reason),
                "payload": payload,
                "rejected_at": stamp,
            }
            for key, reason, payload in rejects
        ],
    )


def clear_resource_rejects(
    conn: Connection, resource: str, store_code: str, keys: Sequence[str]
) -> None:
    """Forget rejections of ``keys`` of ``resource`` (written now, or rejected anew)."""
    for part in chunks([_column_text(key)[:_KEY_MAX] for key in keys]):
        conn.execute(
            sa.delete(sync_rejects).where(
                sync_rejects.c.store_code == store_code,
                sync_rejects.c.resource == resource,
                sync_rejects.c.entity_key.in_(part),
            )
        )

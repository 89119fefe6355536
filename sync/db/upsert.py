"""Write validated products into ``products``: one native upsert statement per batch.

The pipeline calls this (through :func:`sync.db.changes.write_products`, which first drops the
unchanged rows) inside its page transaction, together with the watermark update in
:mod:`sync.db.state`, so a crash leaves either both or neither.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.db.dialect import dialect_name, upsert_statement
from sync.db.schema import naive_utc, products
from sync.models import ProductRecord

__all__ = ["dialect_name", "upsert_products"]

logger = logging.getLogger(__name__)

# Everything but the key is replaced by what ACCS sent last.
_UPDATE_COLUMNS = [
    c.name for c in products.columns if c.name not in ("store_code", "id", "deleted_at")
]


def _row(record: ProductRecord, synced_at: datetime) -> dict[str, Any]:
    return {
        "store_code": record.store_code,
        "id": record.id,
        "sku": record.sku,
        "name": record.name,
        "type_id": record.type_id,
        "attribute_set_id": record.attribute_set_id,
        "status": record.status,
        "visibility": record.visibility,
        "price": record.price,
        "weight": record.weight,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "data": record.data,
        "content_hash": record.content_hash or None,
        "qty": record.qty,
        "is_in_stock": record.is_in_stock,
        "synced_at": synced_at,
        "deleted_at": None,
    }


def upsert_products(conn: Connection, records: Sequence[ProductRecord], synced_at: datetime) -> int:
    """Insert or update ``records`` and mark them alive (``deleted_at`` cleared).

    Runs in the caller's transaction and does not commit. Returns the number of distinct
    products written; if a batch names the same (store_code, id) twice, the later item wins,
    as it would have had the two arrived in separate pages.
    """
    if not records:
        return 0
    stamp = naive_utc(synced_at)
    rows_by_key: dict[tuple[str, int], dict[str, Any]] = {}
    for record in records:
        rows_by_key[(record.store_code, record.id)] = _row(record, stamp)
    if len(rows_by_key) != len(records):
        # Magento can repeat an item across a page boundary when rows change mid-paging;
        # PostgreSQL refuses to update one row twice in a statement, so keep the last.
        logger.debug(
            "batch of %d products had %d duplicate keys; keeping the last of each",
            len(records),
            len(records) - len(rows_by_key),
        )
    statement = upsert_statement(
        conn, products, _UPDATE_COLUMNS, literal_updates={"deleted_at": sa.null()}
    )
    conn.execute(statement, list(rows_by_key.values()))
    return len(rows_by_key)

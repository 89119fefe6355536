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

from sync import jsontext
from sync.db.dialect import dialect_name, upsert_rows
from sync.db.schema import naive_utc, products
from sync.models import ProductRecord

__all__ = ["dialect_name", "upsert_products"]

logger = logging.getLogger(__name__)

# Everything but the key is replaced by what ACCS sent last.
_UPDATE_COLUMNS = [
    c.name for c in products.columns if c.name not in ("store_code", "id", "deleted_at")
]
#: The columns written, in the order of :func:`_row`'s values.
_COLUMNS = (
    "store_code", "id", "sku", "name", "type_id", "attribute_set_id", "status", "visibility",
    "price", "weight", "created_at", "updated_at", "data", "content_hash", "qty", "is_in_stock",
    "synced_at",
)  # fmt: skip


def _row(record: ProductRecord, synced_at: datetime) -> tuple[Any, ...]:
    return (
        record.store_code,
        record.id,
        record.sku,
        record.name,
        record.type_id,
        record.attribute_set_id,
        record.status,
        record.visibility,
        record.price,
        record.weight,
        record.created_at,
        record.updated_at,
        jsontext.Encoded(record.data_json()),
        record.content_hash or None,
        record.qty,
        record.is_in_stock,
        synced_at,
    )


def upsert_products(conn: Connection, records: Sequence[ProductRecord], synced_at: datetime) -> int:
    """Insert or update ``records`` and mark them alive (``deleted_at`` cleared).

    Runs in the caller's transaction and does not commit. Returns the number of distinct
    products written; if a batch names the same (store_code, id) twice, the later item wins,
    as it would have had the two arrived in separate pages.
    """
    if not records:
        return 0
    stamp = naive_utc(synced_at)
    rows_by_key: dict[tuple[str, int], tuple[Any, ...]] = {}
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
    # A new row gets deleted_at NULL by default; an existing one has it cleared.
    upsert_rows(
        conn,
        products,
        _COLUMNS,
        list(rows_by_key.values()),
        _UPDATE_COLUMNS,
        literal_updates={"deleted_at": sa.null()},
    )
    return len(rows_by_key)

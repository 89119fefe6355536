"""Item text as long as Magento's: LONGTEXT for names and attribute values on MySQL/MariaDB.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:00:00

``products.name``, ``categories.name`` and ``product_attributes.value`` were TEXT, which
MySQL and MariaDB stop at 64 KiB, while Magento keeps descriptions in MEDIUMTEXT: one long
description failed its page's transaction on every run ("Data too long") and a full pass
resumed at that page for ever. They become LONGTEXT there (an item's size is bounded by
SYNC_MAX_ITEM_BYTES instead); SQLite's and PostgreSQL's TEXT have no such limit, so nothing
changes on them. Every row is kept. ``ALTER TABLE ... MODIFY`` of a column to the type it
already has is harmless, so a rerun after an interrupted upgrade just repeats it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("products", "name"), ("categories", "name"), ("product_attributes", "value"))


def _on_mysql() -> bool:
    return op.get_context().dialect.name in ("mysql", "mariadb")


def upgrade() -> None:
    if not _on_mysql():
        return
    for table, column in _COLUMNS:
        op.alter_column(
            table, column, type_=mysql.LONGTEXT(), existing_type=sa.Text(), existing_nullable=True
        )


def downgrade() -> None:
    # Fails, as it should, on a value longer than 64 KiB.
    if not _on_mysql():
        return
    for table, column in _COLUMNS:
        op.alter_column(
            table, column, type_=sa.Text(), existing_type=mysql.LONGTEXT(), existing_nullable=True
        )

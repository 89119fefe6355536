"""Initial schema: products, sync_runs, sync_state.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Written by hand with explicit types rather than imported from sync.db.schema: a revision must
keep creating exactly what it created when it shipped, whatever the models become later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.postgresql import JSONB

from migrations.resumable import create_index, create_table

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc_datetime() -> sa.types.TypeEngine[Any]:
    """Naive UTC; DATETIME(6) on MySQL/MariaDB, whose plain DATETIME drops microseconds."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


# InnoDB for transactions; utf8mb4 so product data may hold any character (emoji included),
# whatever the database's default character set is.
_MYSQL_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    create_table(
        "products",
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("type_id", sa.String(32), nullable=True),
        sa.Column("attribute_set_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("visibility", sa.Integer(), nullable=True),
        sa.Column("price", sa.Numeric(20, 6), nullable=True),
        sa.Column("weight", sa.Numeric(20, 6), nullable=True),
        sa.Column("created_at", _utc_datetime(), nullable=True),
        sa.Column("updated_at", _utc_datetime(), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.Column("synced_at", _utc_datetime(), nullable=False),
        sa.Column("deleted_at", _utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("store_code", "id", name=op.f("pk_products")),
        **_MYSQL_OPTIONS,
    )
    create_index(op.f("ix_products_store_code_sku"), "products", ["store_code", "sku"])
    create_index(
        op.f("ix_products_store_code_updated_at"), "products", ["store_code", "updated_at"]
    )
    create_index(op.f("ix_products_synced_at"), "products", ["synced_at"])

    create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("store_codes", sa.String(255), nullable=False),
        sa.Column("started_at", _utc_datetime(), nullable=False),
        sa.Column("finished_at", _utc_datetime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("products_written", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
        **_MYSQL_OPTIONS,
    )

    create_table(
        "sync_state",
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", _json(), nullable=False),
        sa.Column("updated_at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("store_code", "key", name=op.f("pk_sync_state")),
        **_MYSQL_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("sync_state")
    op.drop_table("sync_runs")
    op.drop_index(op.f("ix_products_synced_at"), table_name="products")
    op.drop_index(op.f("ix_products_store_code_updated_at"), table_name="products")
    op.drop_index(op.f("ix_products_store_code_sku"), table_name="products")
    op.drop_table("products")

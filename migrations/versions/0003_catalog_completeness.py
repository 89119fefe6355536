"""Catalog completeness: content hash and stock columns, attributes, change log, rejects.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:00:00

Adds to ``products`` the ``content_hash`` that lets a pass skip unchanged rows and the stock
columns; creates ``product_attributes``, ``product_changes`` (the change log consumers read by
``seq``) and ``sync_rejects``; adds outcome counters to ``sync_runs``. Existing rows keep a NULL
``content_hash``, so the first pass after upgrading rewrites each product once (and logs it as
an update); from then on only real changes are written.

Written by hand with explicit types, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from migrations.resumable import add_column, create_index, create_table

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc_datetime() -> sa.types.TypeEngine[Any]:
    """Naive UTC; DATETIME(6) on MySQL/MariaDB, whose plain DATETIME drops microseconds."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


_MYSQL_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
_RUN_COUNTERS = ("products_unchanged", "products_rejected", "products_deleted", "products_revived")


def upgrade() -> None:
    add_column("products", sa.Column("content_hash", sa.String(64), nullable=True))
    add_column("products", sa.Column("qty", sa.Numeric(20, 6), nullable=True))
    add_column(
        "products", sa.Column("is_in_stock", sa.Boolean(create_constraint=False), nullable=True)
    )

    create_table(
        "product_attributes",
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("attribute_code", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint(
            "store_code", "product_id", "attribute_code", name=op.f("pk_product_attributes")
        ),
        **_MYSQL_OPTIONS,
    )
    create_index(
        op.f("ix_product_attributes_store_code_attribute_code"),
        "product_attributes",
        ["store_code", "attribute_code"],
    )

    create_table(
        "product_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("changed_at", _utc_datetime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_product_changes")),
        **_MYSQL_OPTIONS,
    )
    create_index(
        op.f("ix_product_changes_store_code_seq"), "product_changes", ["store_code", "seq"]
    )
    create_index(
        op.f("ix_product_changes_store_code_product_id"),
        "product_changes",
        ["store_code", "product_id"],
    )

    create_table(
        "sync_rejects",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=True, autoincrement=False),
        sa.Column("sku", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "payload",
            sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("rejected_at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_rejects")),
        **_MYSQL_OPTIONS,
    )
    create_index(
        op.f("ix_sync_rejects_store_code_product_id"), "sync_rejects", ["store_code", "product_id"]
    )
    create_index(op.f("ix_sync_rejects_store_code_sku"), "sync_rejects", ["store_code", "sku"])
    create_index(op.f("ix_sync_rejects_run_id"), "sync_rejects", ["run_id"])

    for name in _RUN_COUNTERS:
        add_column(
            "sync_runs",
            sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0")),
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        for name in reversed(_RUN_COUNTERS):
            batch.drop_column(name)
    op.drop_table("sync_rejects")
    op.drop_table("product_changes")
    op.drop_table("product_attributes")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("is_in_stock")
        batch.drop_column("qty")
        batch.drop_column("content_hash")

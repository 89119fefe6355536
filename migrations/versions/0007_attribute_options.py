"""Attribute metadata and option labels, and the view that decodes product attribute values.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:00:00

Creates ``product_attribute_metadata`` (one row per store view and product attribute of
``GET /V1/products/attributes``), ``product_attribute_options`` (each attribute's options in
that store view: option id, label, sort order, store-view labels) and the view
``product_attribute_labels``: each live product's attribute values with their labels, select
and boolean values decoded to their option's label, multiselect values (comma-separated option
ids) to one row per option. New tables and a view only, so a rerun after an interrupted upgrade
on MySQL/MariaDB skips the tables and replaces the view.

Written by hand with explicit types, like 0001. The view's SQL is in
``migrations/attribute_labels.py``, which a new SQLite mirror created at head uses too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.postgresql import JSONB

from migrations.attribute_labels import VIEW, view_sql
from migrations.resumable import create_index, create_table

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _item_text() -> sa.types.TypeEngine[Any]:
    return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    create_table(
        "product_attribute_metadata",
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("attribute_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("attribute_code", sa.String(255), nullable=False),
        sa.Column("frontend_input", sa.String(50), nullable=True),
        sa.Column("label", _item_text(), nullable=True),
        sa.Column("is_user_defined", sa.Boolean(create_constraint=False), nullable=True),
        sa.Column("scope", sa.String(16), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("synced_at", _utc_datetime(), nullable=False),
        sa.Column("deleted_at", _utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint(
            "store_code", "attribute_id", name=op.f("pk_product_attribute_metadata")
        ),
        **_MYSQL_OPTIONS,
    )
    create_index(
        op.f("ix_product_attribute_metadata_store_code_attribute_code"),
        "product_attribute_metadata",
        ["store_code", "attribute_code"],
    )
    create_table(
        "product_attribute_options",
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("attribute_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("attribute_code", sa.String(255), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("label", _item_text(), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=True),
        sa.Column("store_labels", _json(), nullable=True),
        sa.PrimaryKeyConstraint(
            "store_code", "attribute_id", "value", name=op.f("pk_product_attribute_options")
        ),
        **_MYSQL_OPTIONS,
    )
    if op.get_context().dialect.name == "sqlite":
        op.execute(f"DROP VIEW IF EXISTS {VIEW}")
    op.execute(view_sql(op.get_context().dialect))


def downgrade() -> None:
    op.execute(f"DROP VIEW IF EXISTS {VIEW}")
    op.drop_table("product_attribute_options")
    op.drop_index(
        op.f("ix_product_attribute_metadata_store_code_attribute_code"),
        table_name="product_attribute_metadata",
    )
    op.drop_table("product_attribute_metadata")

"""Categories and inventory source items beside products; one change log for every resource.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 00:00:00

Creates ``categories``, ``product_categories`` (filled here from the category links every
mirrored product already carries in ``data``, so an upgrade loses nothing and needs no new
pass), ``inventory_source_items`` and ``catalog_changes`` (the change log of every resource,
products included from now on; ``product_changes`` is still written as before). Adds
``resource`` and ``entity_key`` to ``sync_rejects``; existing rows are products'.

Written by hand with explicit types, like 0001.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.postgresql import JSONB

from migrations.resumable import add_column, create_index, create_table

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
_BATCH = 1000


def _utc_datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _bool() -> sa.types.TypeEngine[Any]:
    return sa.Boolean(create_constraint=False)


def upgrade() -> None:
    create_table(
        "categories",
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("is_active", _bool(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(255), nullable=True),
        sa.Column("include_in_menu", _bool(), nullable=True),
        sa.Column("created_at", _utc_datetime(), nullable=True),
        sa.Column("updated_at", _utc_datetime(), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("synced_at", _utc_datetime(), nullable=False),
        sa.Column("deleted_at", _utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("store_code", "id", name=op.f("pk_categories")),
        **_MYSQL_OPTIONS,
    )
    create_index(
        op.f("ix_categories_store_code_parent_id"), "categories", ["store_code", "parent_id"]
    )
    create_index(
        op.f("ix_categories_store_code_updated_at"), "categories", ["store_code", "updated_at"]
    )

    create_table(
        "product_categories",
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint(
            "store_code", "product_id", "category_id", name=op.f("pk_product_categories")
        ),
        **_MYSQL_OPTIONS,
    )
    create_index(
        op.f("ix_product_categories_store_code_category_id"),
        "product_categories",
        ["store_code", "category_id"],
    )

    create_table(
        "inventory_source_items",
        sa.Column("source_code", sa.String(255), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Numeric(20, 6), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("data", _json(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("synced_at", _utc_datetime(), nullable=False),
        sa.Column("deleted_at", _utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("source_code", "sku", name=op.f("pk_inventory_source_items")),
        **_MYSQL_OPTIONS,
    )
    create_index(op.f("ix_inventory_source_items_sku"), "inventory_source_items", ["sku"])

    create_table(
        "catalog_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("resource", sa.String(32), nullable=False),
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("entity_key", sa.String(320), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("changed_at", _utc_datetime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_catalog_changes")),
        **_MYSQL_OPTIONS,
    )
    create_index(op.f("ix_catalog_changes_resource_seq"), "catalog_changes", ["resource", "seq"])

    add_column(
        "sync_rejects",
        sa.Column("resource", sa.String(32), nullable=False, server_default=sa.text("'products'")),
    )
    add_column("sync_rejects", sa.Column("entity_key", sa.String(320), nullable=True))

    if context.is_offline_mode():
        # SQL for a DBA cannot read each product's JSON: the links are filled as products are
        # next written; clearing the hashes makes the next reconcile write every product once.
        op.execute("UPDATE products SET content_hash = NULL")
    else:
        _fill_product_categories(op.get_bind())


def _links(data: Any) -> Iterator[tuple[int, int | None]]:
    """(category id, position) of a stored product's ``extension_attributes.category_links``,
    read as the sync reads them (see ``sync.models``)."""
    if isinstance(data, str):
        data = json.loads(data)
    ext = data.get("extension_attributes") if isinstance(data, dict) else None
    links = ext.get("category_links") if isinstance(ext, dict) else None
    if not isinstance(links, list):
        return
    seen: set[int] = set()
    for link in links:
        if not isinstance(link, dict):
            continue
        try:
            category = int(str(link.get("category_id")))
        except ValueError:
            continue
        if category in seen or not 0 < category < 2**63:
            continue
        seen.add(category)
        position = link.get("position")
        try:
            yield category, None if position is None else int(str(position))
        except ValueError:
            yield category, None


def _fill_product_categories(conn: sa.Connection) -> None:
    products = sa.table(
        "products", sa.column("store_code"), sa.column("id"), sa.column("data", sa.JSON())
    )
    target = sa.table(
        "product_categories",
        sa.column("store_code"),
        sa.column("product_id"),
        sa.column("category_id"),
        sa.column("position"),
    )
    # Rows a MySQL/MariaDB migration interrupted after its DDL may have left: start afresh.
    conn.execute(sa.delete(target))
    last: tuple[str, int] = ("", 0)
    while True:
        rows = conn.execute(
            sa.select(products.c.store_code, products.c.id, products.c.data)
            .where(sa.tuple_(products.c.store_code, products.c.id) > sa.tuple_(*last))
            .order_by(products.c.store_code, products.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        values = [
            {"store_code": row.store_code, "product_id": row.id, "category_id": c, "position": p}
            for row in rows
            for c, p in _links(row.data)
        ]
        if values:
            conn.execute(sa.insert(target), values)
        last = (rows[-1].store_code, rows[-1].id)


def downgrade() -> None:
    with op.batch_alter_table("sync_rejects") as batch:
        batch.drop_column("entity_key")
        batch.drop_column("resource")
    op.drop_table("catalog_changes")
    op.drop_table("inventory_source_items")
    op.drop_table("product_categories")
    op.drop_table("categories")

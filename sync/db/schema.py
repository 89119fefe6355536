"""The tables accs-sync writes: the public contract that downstream consumers read.

One :class:`~sqlalchemy.MetaData` with a naming convention, so every constraint and index has
the same predictable name on SQLite, PostgreSQL and MySQL/MariaDB; Alembic uses it as
``target_metadata`` and a test compares it with the migrated database so the two cannot drift.

Every ``DateTime`` column holds a *naive UTC* value: the databases disagree on what a zone-aware
timestamp means (MySQL has none, SQLite stores text), so the zone is fixed by convention instead
and :func:`naive_utc` is applied to every value on the way in. docs/schema.md documents it all.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from sync.db.types import (
    DialectType,
    _MySQLDateTime6,
    _MySQLLongText,
    _MySQLMediumText,
    _PostgresJSONB,
    render_item,
)

__all__ = [
    "ITEM_TEXT",
    "JSON_TYPE",
    "NAMING_CONVENTION",
    "NULLABLE_JSON",
    "PAYLOAD_TEXT",
    "UTC_DATETIME",
    "DialectType",
    "catalog_changes",
    "categories",
    "inventory_source_items",
    "metadata",
    "naive_utc",
    "product_attribute_metadata",
    "product_attribute_options",
    "product_attributes",
    "product_categories",
    "product_changes",
    "products",
    "render_item",
    "sync_auth_events",
    "sync_rejects",
    "sync_run_resources",
    "sync_runs",
    "sync_state",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


UTC_DATETIME = sa.DateTime().with_variant(_MySQLDateTime6(), "mysql", "mariadb")

#: JSONB on PostgreSQL (indexable, queryable with ->>), native JSON elsewhere (MariaDB stores it
#: as LONGTEXT with a json_valid check; SQLite as TEXT).
JSON_TYPE = sa.JSON().with_variant(_PostgresJSONB(), "postgresql")

#: JSON_TYPE for an optional value: Python None is SQL NULL (JSON_TYPE stores JSON ``null``).
NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(
    _PostgresJSONB(none_as_null=True), "postgresql"
)

#: Raw item text of a rejected product: MySQL/MariaDB TEXT stops at 64 KiB, so MEDIUMTEXT there.
PAYLOAD_TEXT = sa.Text().with_variant(_MySQLMediumText(), "mysql", "mariadb")

#: Text copied from an item (names, attribute values such as a description): MySQL/MariaDB
#: TEXT stops at 64 KiB where Magento's own columns are MEDIUMTEXT, so LONGTEXT there (revision
#: 0005); an item's size is bounded by SYNC_MAX_ITEM_BYTES instead.
ITEM_TEXT = sa.Text().with_variant(_MySQLLongText(), "mysql", "mariadb")

#: The change log's sequence: BIGINT, except on SQLite where only an INTEGER PRIMARY KEY is the
#: rowid (autoincrementing, 64-bit anyway).
SEQ_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Every table: mysql_engine InnoDB for transactions, mysql_charset utf8mb4 so product data may
# hold any character (emoji included) whatever the database's default character set is.
# SQLAlchemy checks such options against their dialect when a table is defined, so every
# process imports the MySQL dialect here, whatever its database (DialectType spares PostgreSQL's).
products = sa.Table(
    "products",
    metadata,
    sa.Column("store_code", sa.String(64), nullable=False),
    # Magento's entity id; assigned by Magento, never by us.
    sa.Column("id", sa.BigInteger(), nullable=False, autoincrement=False),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("name", ITEM_TEXT, nullable=True),
    sa.Column("type_id", sa.String(32), nullable=True),
    sa.Column("attribute_set_id", sa.Integer(), nullable=True),
    sa.Column("status", sa.Integer(), nullable=True),
    sa.Column("visibility", sa.Integer(), nullable=True),
    sa.Column("price", sa.Numeric(20, 6), nullable=True),
    sa.Column("weight", sa.Numeric(20, 6), nullable=True),
    sa.Column("created_at", UTC_DATETIME, nullable=True),
    sa.Column("updated_at", UTC_DATETIME, nullable=True),
    sa.Column("data", JSON_TYPE, nullable=False),
    sa.Column("synced_at", UTC_DATETIME, nullable=False),
    sa.Column("deleted_at", UTC_DATETIME, nullable=True),
    # sha256 (hex) of the item as received, canonical JSON: equal hash = nothing to write.
    sa.Column("content_hash", sa.String(64), nullable=True),
    # extension_attributes.stock_item.qty / .is_in_stock; NULL when the item has no stock_item.
    sa.Column("qty", sa.Numeric(20, 6), nullable=True),
    sa.Column("is_in_stock", sa.Boolean(create_constraint=False), nullable=True),
    sa.PrimaryKeyConstraint("store_code", "id"),
    # Not unique: Magento lets a sku be reused after delete + recreate, under a new id.
    sa.Index(None, "store_code", "sku"),
    sa.Index(None, "store_code", "updated_at"),
    sa.Index(None, "synced_at"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

product_attributes = sa.Table(
    "product_attributes",
    metadata,
    sa.Column("store_code", sa.String(64), nullable=False),
    sa.Column("product_id", sa.BigInteger(), nullable=False, autoincrement=False),
    sa.Column("attribute_code", sa.String(255), nullable=False),
    # Strings as sent; numbers, booleans, lists and objects as JSON text; JSON null as NULL.
    sa.Column("value", ITEM_TEXT, nullable=True),
    sa.PrimaryKeyConstraint("store_code", "product_id", "attribute_code"),
    sa.Index(None, "store_code", "attribute_code"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

product_changes = sa.Table(
    "product_changes",
    metadata,
    # Increases in commit order: the run lock allows one writer per database (docs/schema.md).
    sa.Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    sa.Column("store_code", sa.String(64), nullable=False),
    sa.Column("product_id", sa.BigInteger(), nullable=False, autoincrement=False),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("op", sa.String(8), nullable=False),
    sa.Column("changed_at", UTC_DATETIME, nullable=False),
    sa.Column("run_id", sa.Integer(), nullable=True),
    sa.Index(None, "store_code", "seq"),
    sa.Index(None, "store_code", "product_id"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

# -- revision 0004: categories, inventory source items, one change log for every resource --------

categories = sa.Table(
    "categories",
    metadata,
    sa.Column("store_code", sa.String(64), nullable=False),
    # Magento's category entity id (1 is the tree's root, 2 "Default Category").
    sa.Column("id", sa.BigInteger(), nullable=False, autoincrement=False),
    sa.Column("parent_id", sa.BigInteger(), nullable=True),
    sa.Column("name", ITEM_TEXT, nullable=True),
    sa.Column("is_active", sa.Boolean(create_constraint=False), nullable=True),
    sa.Column("position", sa.Integer(), nullable=True),
    sa.Column("level", sa.Integer(), nullable=True),
    # Ids from the root, "1/2/20/21".
    sa.Column("path", sa.String(255), nullable=True),
    sa.Column("include_in_menu", sa.Boolean(create_constraint=False), nullable=True),
    sa.Column("created_at", UTC_DATETIME, nullable=True),
    sa.Column("updated_at", UTC_DATETIME, nullable=True),
    sa.Column("data", JSON_TYPE, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=True),
    sa.Column("synced_at", UTC_DATETIME, nullable=False),
    sa.Column("deleted_at", UTC_DATETIME, nullable=True),
    sa.PrimaryKeyConstraint("store_code", "id"),
    sa.Index(None, "store_code", "parent_id"),
    sa.Index(None, "store_code", "updated_at"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

product_categories = sa.Table(
    "product_categories",
    metadata,
    # From each product's extension_attributes.category_links; replaced when the product is
    # written, kept (like its attributes) when it is tombstoned.
    sa.Column("store_code", sa.String(64), nullable=False),
    sa.Column("product_id", sa.BigInteger(), nullable=False, autoincrement=False),
    sa.Column("category_id", sa.BigInteger(), nullable=False, autoincrement=False),
    sa.Column("position", sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint("store_code", "product_id", "category_id"),
    sa.Index(None, "store_code", "category_id"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

inventory_source_items = sa.Table(
    "inventory_source_items",
    metadata,
    # Multi-source inventory: one row per source and sku, for every store view alike.
    sa.Column("source_code", sa.String(255), nullable=False),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("quantity", sa.Numeric(20, 6), nullable=True),
    sa.Column("status", sa.Integer(), nullable=True),
    sa.Column("data", JSON_TYPE, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=True),
    sa.Column("synced_at", UTC_DATETIME, nullable=False),
    sa.Column("deleted_at", UTC_DATETIME, nullable=True),
    sa.PrimaryKeyConstraint("source_code", "sku"),
    sa.Index(None, "sku"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

# -- revision 0007: attribute metadata and option labels ------------------------------------------

product_attribute_metadata = sa.Table(
    "product_attribute_metadata",
    metadata,
    # One row per store view and product attribute (GET /V1/products/attributes).
    sa.Column("store_code", sa.String(64), nullable=False),
    sa.Column("attribute_id", sa.BigInteger(), nullable=False, autoincrement=False),
    sa.Column("attribute_code", sa.String(255), nullable=False),
    # select, multiselect, boolean, text, textarea, price, date, ...
    sa.Column("frontend_input", sa.String(50), nullable=True),
    # default_frontend_label; the store views' own labels are in data's frontend_labels.
    sa.Column("label", ITEM_TEXT, nullable=True),
    sa.Column("is_user_defined", sa.Boolean(create_constraint=False), nullable=True),
    sa.Column("scope", sa.String(16), nullable=True),
    sa.Column("data", JSON_TYPE, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=True),
    sa.Column("synced_at", UTC_DATETIME, nullable=False),
    sa.Column("deleted_at", UTC_DATETIME, nullable=True),
    sa.PrimaryKeyConstraint("store_code", "attribute_id"),
    sa.Index(None, "store_code", "attribute_code"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

product_attribute_options = sa.Table(
    "product_attribute_options",
    metadata,
    # An attribute's options in one store view; replaced whenever its metadata row is
    # written, deleted when the attribute is tombstoned (same transaction).
    sa.Column("store_code", sa.String(64), nullable=False),
    sa.Column("attribute_id", sa.BigInteger(), nullable=False, autoincrement=False),
    sa.Column("attribute_code", sa.String(255), nullable=False),
    # The option id as text ("49"): what product_attributes.value holds for this option.
    sa.Column("value", sa.String(255), nullable=False),
    # The label in this store view (the admin label where the store view has none).
    sa.Column("label", ITEM_TEXT, nullable=True),
    sa.Column("sort_order", sa.Integer(), nullable=True),
    # [{"store_id": 2, "label": "Noir"}, ...] as sent; SQL NULL (not JSON null) when not sent.
    sa.Column("store_labels", NULLABLE_JSON, nullable=True),
    sa.PrimaryKeyConstraint("store_code", "attribute_id", "value"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

catalog_changes = sa.Table(
    "catalog_changes",
    metadata,
    # Every resource's inserts, updates and deletes, in commit order (one writer per database).
    sa.Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    sa.Column("resource", sa.String(32), nullable=False),
    # The store view; "*" for resources that are the same in every store view (source items).
    sa.Column("store_code", sa.String(64), nullable=False),
    # The row's key as text: a product or category id; "<source_code>/<sku>" for a source item.
    sa.Column("entity_key", sa.String(320), nullable=False),
    sa.Column("op", sa.String(8), nullable=False),
    sa.Column("changed_at", UTC_DATETIME, nullable=False),
    sa.Column("run_id", sa.Integer(), nullable=True),
    sa.Index(None, "resource", "seq"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

sync_rejects = sa.Table(
    "sync_rejects",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer(), nullable=True),
    sa.Column("store_code", sa.String(64), nullable=False),
    sa.Column("product_id", sa.BigInteger(), nullable=True, autoincrement=False),
    sa.Column("sku", sa.String(255), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("payload", PAYLOAD_TEXT, nullable=False),
    sa.Column("rejected_at", UTC_DATETIME, nullable=False),
    # The two columns revision 0004 added, last as in every migrated database.
    # Which resource the item came from (older rows are products).
    sa.Column("resource", sa.String(32), nullable=False, server_default=sa.text("'products'")),
    # A rejected item's key as text when it has one (categories, source items).
    sa.Column("entity_key", sa.String(320), nullable=True),
    sa.Index(None, "store_code", "product_id"),
    sa.Index(None, "store_code", "sku"),
    sa.Index(None, "run_id"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("store_codes", sa.String(255), nullable=False),
    sa.Column("started_at", UTC_DATETIME, nullable=False),
    sa.Column("finished_at", UTC_DATETIME, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pages", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("products_written", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("error", sa.Text(), nullable=True),
    # What authentication did during the run (revision 0002).
    sa.Column("token_mints", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("token_refreshes", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("auth_retries", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("secret_fallbacks", sa.Integer(), nullable=False, server_default=sa.text("0")),
    # Counters added by 0003; products_written = inserted + updated + revived rows.
    sa.Column("products_unchanged", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("products_rejected", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("products_deleted", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("products_revived", sa.Integer(), nullable=False, server_default=sa.text("0")),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

#: What each run did per resource and store view (revision 0006): one row per run, resource
#: and store view (``*`` for a resource that is the same in every store view), counted in each
#: page's own transaction. ``written`` = inserted + updated + revived rows.
sync_run_resources = sa.Table(
    "sync_run_resources",
    metadata,
    sa.Column("run_id", sa.Integer(), nullable=False, autoincrement=False),
    sa.Column("resource", sa.String(32), nullable=False),
    sa.Column("store_code", sa.String(64), nullable=False),
    sa.Column("mode", sa.String(64), nullable=True),
    sa.Column("pages", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("written", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("unchanged", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("deleted", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("rejected", sa.Integer(), nullable=False, server_default=sa.text("0")),
    # Tombstoned rows brought back (part of ``written``; revision 0009).
    sa.Column("revived", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.PrimaryKeyConstraint("run_id", "resource", "store_code"),
    sa.Index(None, "resource"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

#: What authentication did that an operator audits (revision 0008): logins, logouts,
#: revocations, forgotten tokens, secret fallbacks and mints, one row each; ``detail`` names
#: settings and grants, never a secret or a token. ``run_id``: the run it happened in, if any.
sync_auth_events = sa.Table(
    "sync_auth_events",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("occurred_at", UTC_DATETIME, nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("detail", sa.String(255), nullable=False, server_default=""),
    sa.Column("run_id", sa.Integer(), nullable=True),
    sa.Index(None, "occurred_at"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("store_code", sa.String(64), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("value", JSON_TYPE, nullable=False),
    sa.Column("updated_at", UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint("store_code", "key"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)


def naive_utc(value: datetime) -> datetime:
    """``value`` as the naive UTC datetime every table stores.

    Aware values (the clock's ``now()``) are converted; naive ones are taken to be UTC already.
    Without this, PostgreSQL would shift an aware value by the session time zone on its way into
    a ``timestamp without time zone`` column.
    """
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)

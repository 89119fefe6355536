"""The view ``product_attribute_labels`` (revision 0007), importable without Alembic.

Revision 0007 creates it; :func:`sync.db.migrate.ensure_schema` creates a new, empty SQLite
mirror at head in one step (``metadata.create_all``, this view, the head revision stamped)
with the same SQL, so the two cannot drift apart (``tests/unit/test_schema_at_head.py``
compares them). A later revision that changes the view gives its new SQL here.

The view's SELECT is built with SQLAlchemy Core and compiled for the database being migrated
(string concatenation is ``||`` on SQLite and PostgreSQL, ``concat()`` on MySQL/MariaDB);
docs/schema.md shows it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = ["DECODED", "VIEW", "view_select", "view_sql"]

VIEW = "product_attribute_labels"
#: Inputs whose values are option ids (a boolean's options are Yes "1" and No "0").
DECODED = ("select", "multiselect", "boolean")


def view_select() -> sa.CompoundSelect[Any]:
    """The view's query: decoded values of select, multiselect and boolean attributes whose
    metadata the mirror has (LEFT JOIN: an option it does not know shows its value and a NULL
    label), then every other value as it is, label NULL."""
    products = sa.table(
        "products", sa.column("store_code"), sa.column("id"), sa.column("deleted_at")
    )
    values = sa.table(
        "product_attributes",
        sa.column("store_code"),
        sa.column("product_id"),
        sa.column("attribute_code"),
        sa.column("value", sa.Text()),
    )
    meta = sa.table(
        "product_attribute_metadata",
        sa.column("store_code"),
        sa.column("attribute_id"),
        sa.column("attribute_code"),
        sa.column("frontend_input"),
        sa.column("deleted_at"),
    )
    options = sa.table(
        "product_attribute_options",
        sa.column("store_code"),
        sa.column("attribute_id"),
        sa.column("value", sa.Text()),
        sa.column("label"),
    )
    live = products.join(
        values,
        sa.and_(values.c.store_code == products.c.store_code, values.c.product_id == products.c.id),
    )
    described = sa.and_(
        meta.c.store_code == values.c.store_code,
        meta.c.attribute_code == values.c.attribute_code,
        meta.c.deleted_at.is_(None),
        meta.c.frontend_input.in_(DECODED),
    )
    # ",49,50," contains ",50,": replace() is the same function on all three databases (a
    # LIKE pattern would need "%", which drivers with "format" parameters read as a marker).
    comma = sa.literal(",", sa.Text())
    listed = comma + values.c.value + comma
    matches = sa.or_(
        sa.and_(meta.c.frontend_input != "multiselect", options.c.value == values.c.value),
        sa.and_(
            meta.c.frontend_input == "multiselect",
            sa.func.replace(listed, comma + options.c.value + comma, "") != listed,
        ),
    )
    decoded = (
        sa.select(
            values.c.store_code,
            values.c.product_id,
            values.c.attribute_code,
            sa.func.coalesce(options.c.value, values.c.value).label("value"),
            options.c.label.label("label"),
        )
        .select_from(
            live.join(meta, described).outerjoin(
                options,
                sa.and_(
                    options.c.store_code == meta.c.store_code,
                    options.c.attribute_id == meta.c.attribute_id,
                    matches,
                ),
            )
        )
        .where(products.c.deleted_at.is_(None))
    )
    plain = (
        sa.select(
            values.c.store_code,
            values.c.product_id,
            values.c.attribute_code,
            values.c.value,
            sa.null().label("label"),
        )
        .select_from(live)
        .where(
            products.c.deleted_at.is_(None),
            ~sa.exists(sa.select(sa.literal(1)).select_from(meta).where(described)),
        )
    )
    return sa.union_all(decoded, plain)


def view_sql(dialect: sa.Dialect) -> str:
    """``CREATE VIEW`` for ``dialect`` (``OR REPLACE`` where the database has it)."""
    query = view_select().compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    create = "CREATE VIEW" if dialect.name == "sqlite" else "CREATE OR REPLACE VIEW"
    return f"{create} {VIEW} AS {query}"

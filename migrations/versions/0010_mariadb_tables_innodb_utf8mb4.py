"""Tables a ``mariadb://`` URL made: InnoDB and utf8mb4, as every other MySQL/MariaDB mirror's.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 17:00:00

Every table declares ``mysql_engine="InnoDB"`` and ``mysql_charset="utf8mb4"``, but a
``DATABASE_URL`` written ``mariadb://`` used SQLAlchemy's ``mariadb`` dialect, which ignores
options named ``mysql_``: its tables took the database's default character set (latin1 on many
servers, so a product name with an emoji failed or lost it) and the server's default storage
engine (Aria or MyISAM on some, so a page's transaction was not atomic). Such URLs now use the
``mysql`` dialect, as ``mysql://`` always did; this revision repairs what they made.

On MySQL/MariaDB only, for each of accs-sync's tables at revision 0009 (``alembic_version`` is
Alembic's, holds ASCII revision ids, and a ``mysql://`` mirror has it on the server's defaults
too): a table not InnoDB becomes InnoDB; a table whose default character set is not utf8mb4
gets utf8mb4 as its default, and each of its text columns not in utf8mb4 is converted to
utf8mb4 with the column's own type, nullability and default. That is exactly what a new
mirror's ``CREATE TABLE ... CHARSET=utf8mb4`` makes (utf8mb4's default collation on the
server). ``CONVERT TO CHARACTER SET`` is not used: it would turn TEXT into MEDIUMTEXT and the
JSON columns' utf8mb4_bin (MariaDB) into the default collation, so the schema would differ
from a new mirror's. Stored text is converted, not reinterpreted: latin1 text reads the same.

Each table is read from ``information_schema`` first and only what is wrong is changed, so a
database a ``mysql://`` URL made is untouched, and a rerun after an interrupted upgrade
repeats only what is left. Offline (``--sql``) there is nothing to read, and nothing is
emitted. Downgrade changes nothing: the old tables were the mistake, not a schema to return to.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: accs-sync's tables at revision 0009.
_TABLES = (
    "products",
    "product_attributes",
    "product_changes",
    "sync_state",
    "sync_runs",
    "sync_rejects",
    "categories",
    "product_categories",
    "inventory_source_items",
    "catalog_changes",
    "sync_run_resources",
    "product_attribute_metadata",
    "product_attribute_options",
    "sync_auth_events",
)


def _on_mysql() -> bool:
    return op.get_context().dialect.name in ("mysql", "mariadb")


def upgrade() -> None:
    if not _on_mysql() or context.is_offline_mode():
        return
    conn = op.get_bind()
    quote = conn.dialect.identifier_preparer.quote
    tables = conn.execute(
        sa.text(
            "SELECT table_name, engine, table_collation FROM information_schema.tables "
            "WHERE table_schema = database() AND table_type = 'BASE TABLE'"
        )
    ).all()
    for name, engine, collation in sorted(tables):
        if name not in _TABLES:
            continue
        changes = []
        if (engine or "").lower() != "innodb":
            changes.append("ENGINE=InnoDB")
        if not (collation or "").lower().startswith("utf8mb4"):
            changes.append("DEFAULT CHARACTER SET utf8mb4")
        changes += [_to_utf8mb4(conn, name, column) for column in _other_text_columns(conn, name)]
        if changes:
            conn.exec_driver_sql(f"ALTER TABLE {quote(name)} {', '.join(changes)}")


def _other_text_columns(conn: sa.Connection, table: str) -> list[str]:
    """The table's text columns whose character set is not utf8mb4."""
    return list(
        conn.execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "database() AND table_name = :table AND character_set_name IS NOT NULL "
                "AND character_set_name <> 'utf8mb4' ORDER BY ordinal_position"
            ),
            {"table": table},
        ).scalars()
    )


def _to_utf8mb4(conn: sa.Connection, table: str, column: str) -> str:
    """``MODIFY`` clause: the column as it is, in utf8mb4 (its charset's default collation).

    The type comes from ``information_schema`` (``varchar(64)``, ``text``: the same on MySQL
    and MariaDB); nullability and default from SQLAlchemy's reflection, which gives a default
    as SQL text on both (``information_schema`` quotes it on MariaDB only). Text columns carry
    no CHECK here (MariaDB's JSON columns, which do, are utf8mb4 already and never modified).
    """
    column_type = conn.execute(
        sa.text(
            "SELECT column_type FROM information_schema.columns WHERE table_schema = database() "
            "AND table_name = :table AND column_name = :column"
        ),
        {"table": table, "column": column},
    ).scalar_one()
    reflected = next(c for c in sa.inspect(conn).get_columns(table) if c["name"] == column)
    clause = f"MODIFY {conn.dialect.identifier_preparer.quote(column)} {column_type} "
    clause += "CHARACTER SET utf8mb4 " + ("NULL" if reflected["nullable"] else "NOT NULL")
    if reflected.get("default") is not None:
        clause += f" DEFAULT {reflected['default']}"
    return clause


def downgrade() -> None:
    # Nothing to undo: latin1 or non-transactional tables were never a schema to return to.
    pass

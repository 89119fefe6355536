"""What authentication did outside runs: ``auth_events``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 11:00:00

``sync_runs`` counts what authentication did during each run (mints, refreshes, 401 re-sends,
secret fallbacks). A client secret rotation (``accs-sync secret rotate``) is no run: it is one
row here, with its outcome and a detail that names secrets by uuid only, never a secret or a
token. A new table only, so a rerun after an interrupted upgrade on MySQL/MariaDB skips it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from migrations.resumable import create_index, create_table

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_table(
        "auth_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_events")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    create_index(op.f("ix_auth_events_occurred_at"), "auth_events", ["occurred_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_events_occurred_at"), table_name="auth_events")
    op.drop_table("auth_events")

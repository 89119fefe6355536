"""The auth audit's events: sync_auth_events.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 11:00:00

One row per login, logout, revocation, forgotten token, secret fallback and mint (issue 18),
with when it happened, a detail that names settings and grants (never a secret or a token) and
the run it happened in, if any. A new table only, so a rerun after an interrupted upgrade skips
it.
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
        "sync_auth_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(255), nullable=False, server_default=""),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_auth_events")),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    create_index(op.f("ix_sync_auth_events_occurred_at"), "sync_auth_events", ["occurred_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sync_auth_events_occurred_at"), table_name="sync_auth_events")
    op.drop_table("sync_auth_events")

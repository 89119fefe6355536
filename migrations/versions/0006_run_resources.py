"""What every run did per resource and store view: ``sync_run_resources``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 08:00:00

``sync_runs`` counts products only (``pages``, ``products_written`` ...), so a run that mirrored
categories or source items looked empty in the run log. This table holds one row per run,
resource and store view (``*`` for a resource that is the same in every store view), written
in the same transaction as each page: pages, rows written (inserted + updated + revived),
unchanged, deleted and rejected, and the pass's mode. ``sync_runs`` keeps its columns and their
meaning. A new table only, so a rerun after an interrupted upgrade on MySQL/MariaDB skips it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.resumable import create_index, create_table

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))


def upgrade() -> None:
    create_table(
        "sync_run_resources",
        sa.Column("run_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("resource", sa.String(32), nullable=False),
        sa.Column("store_code", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(64), nullable=True),
        _count("pages"),
        _count("written"),
        _count("unchanged"),
        _count("deleted"),
        _count("rejected"),
        sa.PrimaryKeyConstraint(
            "run_id", "resource", "store_code", name=op.f("pk_sync_run_resources")
        ),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    create_index(op.f("ix_sync_run_resources_resource"), "sync_run_resources", ["resource"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sync_run_resources_resource"), table_name="sync_run_resources")
    op.drop_table("sync_run_resources")

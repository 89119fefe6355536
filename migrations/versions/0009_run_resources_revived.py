"""Revived rows per run, resource and store view: ``sync_run_resources.revived``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 14:00:00

Products count the tombstoned rows a run brought back in ``sync_runs.products_revived``; every
resource now counts them in its own row of ``sync_run_resources`` (part of ``written``, as
there), in the same transaction as each page. Rows logged before read 0. One added column, so
a rerun after an interrupted upgrade on MySQL/MariaDB skips it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.resumable import add_column

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_column(
        "sync_run_resources",
        sa.Column("revived", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    with op.batch_alter_table("sync_run_resources") as batch:
        batch.drop_column("revived")

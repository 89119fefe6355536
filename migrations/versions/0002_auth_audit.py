"""Authentication audit counters on sync_runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:00:00

Each run records how many IMS access tokens it minted, how many it renewed with a refresh
token, how many requests it re-sent after a 401 and how many mints needed the fallback secret
(IMS_CLIENT_SECRET_NEXT). Additive: NOT NULL with a server default of 0, so existing rows and
older readers are unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.resumable import add_column

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("token_mints", "token_refreshes", "auth_retries", "secret_fallbacks")


def upgrade() -> None:
    # A plain ADD COLUMN on every dialect (SQLite accepts NOT NULL with a default), so
    # `alembic upgrade --sql` can print it for a DBA.
    for name in _COLUMNS:
        add_column(
            "sync_runs",
            sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0")),
        )


def downgrade() -> None:
    # SQLite cannot drop a column in place everywhere: batch mode copies the table.
    with op.batch_alter_table("sync_runs") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)

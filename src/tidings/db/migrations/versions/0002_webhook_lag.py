"""webhook lag: when a webhook started lagging, and deliveries by webhook and status

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 07:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tidings.db.types

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("lagging_since", tidings.db.types.UTCDateTime(), nullable=True))
    op.create_index(
        "ix_deliveries_webhook_status",
        "deliveries",
        ["webhook_id", "status", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_webhook_status", table_name="deliveries")
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("lagging_since")

"""identity sketches on event_metrics (userIds, anonymous-only ids, linked anonymous ids)

Revision ID: 0006_identity
Revises: 0001_foundation
Create Date: 2026-11-28 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_identity"
down_revision = "0001_foundation"
branch_labels = ("identity",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event_metrics") as batch:
        batch.add_column(sa.Column("uid_hll", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("anon_only_hll", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("linked_hll", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("event_metrics") as batch:
        batch.drop_column("linked_hll")
        batch.drop_column("anon_only_hll")
        batch.drop_column("uid_hll")

"""findings.baseline: what a person chose for the detector's baseline when marking a finding expected

Revision ID: 0007_baseline
Revises: 0001_foundation
Create Date: 2026-11-29 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_baseline"
down_revision = "0001_foundation"
branch_labels = ("baseline",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("baseline", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("baseline")

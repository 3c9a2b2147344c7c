"""property_keys: the property keys each series has had (the property-key budget's known keys)

Revision ID: 0008_property_keys
Revises: 0001_foundation
Create Date: 2026-11-29 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_property_keys"
down_revision = "0001_foundation"
branch_labels = ("property_keys",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "property_keys",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("property", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("series_id", "property"),
    )
    # the keys stored before this table existed are known keys too
    op.execute("INSERT INTO property_keys (series_id, property) SELECT DISTINCT series_id, property FROM property_stats")


def downgrade() -> None:
    op.drop_table("property_keys")

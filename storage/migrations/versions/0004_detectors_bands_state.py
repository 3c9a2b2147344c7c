"""detector tables: expected bands per series and bucket, detector state per series

Revision ID: 0004_detectors
Revises: 0001_foundation
Create Date: 2026-11-28 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0004_detectors"
down_revision = "0001_foundation"
branch_labels = ("detectors",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "expected_bands",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("lower", sa.Float(), nullable=False),
        sa.Column("upper", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("anomalous", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("series_id", "metric", "bucket_start", name=op.f("pk_expected_bands")),
    )
    with op.batch_alter_table("expected_bands", schema=None) as batch_op:
        batch_op.create_index("ix_expected_bands_bucket", ["bucket_start"], unique=False)
    op.create_table(
        "detector_state",
        sa.Column("detector", sa.String(length=48), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("through", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("detector", "series_id", name=op.f("pk_detector_state")),
    )


def downgrade() -> None:
    op.drop_table("detector_state")
    with op.batch_alter_table("expected_bands", schema=None) as batch_op:
        batch_op.drop_index("ix_expected_bands_bucket")
    op.drop_table("expected_bands")

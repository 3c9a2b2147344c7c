"""warehouse tables: named leases, warehouse watermarks and partials, hour/day rollups

Revision ID: 0005_warehouse
Revises: 0001_foundation
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0005_warehouse"
down_revision = "0001_foundation"
branch_labels = ("warehouse",)
depends_on = None

RESOLUTIONS = ("hour", "day")


def _rollups(suffix: str) -> None:
    op.create_table(
        f"event_metrics_{suffix}",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("conforming", sa.BigInteger(), nullable=False),
        sa.Column("identified", sa.BigInteger(), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("users_hll", sa.LargeBinary(), nullable=False),
        sa.Column("uid_hll", sa.LargeBinary(), nullable=True),
        sa.Column("anon_only_hll", sa.LargeBinary(), nullable=True),
        sa.Column("linked_hll", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("series_id", "bucket_start", name=op.f(f"pk_event_metrics_{suffix}")),
    )
    op.create_index(f"ix_event_metrics_{suffix}_bucket", f"event_metrics_{suffix}", ["bucket_start"])
    op.create_table(
        f"latency_sketches_{suffix}",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("hop", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("bins", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("series_id", "bucket_start", "hop", name=op.f(f"pk_latency_sketches_{suffix}")),
    )
    op.create_table(
        f"violations_{suffix}",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("vtype", sa.String(length=48), nullable=False),
        sa.Column("property", sa.String(length=255), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "series_id", "bucket_start", "vtype", "property", name=op.f(f"pk_violations_{suffix}")
        ),
    )


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "warehouse_state",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("watermark", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("live_from", sa.BigInteger(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_warehouse_state")),
    )
    op.create_table(
        "warehouse_partials",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("slice_start", sa.BigInteger(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("conforming", sa.BigInteger(), nullable=False),
        sa.Column("identified", sa.BigInteger(), nullable=False),
        sa.Column("users_hll", sa.LargeBinary(), nullable=False),
        sa.Column("uid_hll", sa.LargeBinary(), nullable=False),
        sa.Column("anon_only_hll", sa.LargeBinary(), nullable=False),
        sa.Column("linked_hll", sa.LargeBinary(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source", "slice_start", "series_id", "bucket_start", name=op.f("pk_warehouse_partials")
        ),
    )
    op.create_index("ix_warehouse_partials_key", "warehouse_partials", ["series_id", "bucket_start"])
    for suffix in RESOLUTIONS:
        _rollups(suffix)


def downgrade() -> None:
    for suffix in RESOLUTIONS:
        op.drop_table(f"violations_{suffix}")
        op.drop_table(f"latency_sketches_{suffix}")
        op.drop_index(f"ix_event_metrics_{suffix}_bucket", table_name=f"event_metrics_{suffix}")
        op.drop_table(f"event_metrics_{suffix}")
    op.drop_index("ix_warehouse_partials_key", table_name="warehouse_partials")
    op.drop_table("warehouse_partials")
    op.drop_table("warehouse_state")
    op.drop_table("leases")

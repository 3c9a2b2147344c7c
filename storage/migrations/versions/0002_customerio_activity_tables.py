"""customerio activity tables

Revision ID: 0002_customerio
Revises: 0001_foundation
Create Date: 2026-11-28 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0002_customerio"
down_revision = "0001_foundation"
branch_labels = ("customerio",)
depends_on = None


def _latency() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("latency_n", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("latency_max", sa.Float(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "cio_activity_metrics",
        sa.Column("workspace", sa.String(length=128), nullable=False),
        sa.Column("atype", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        *_latency(),
        sa.PrimaryKeyConstraint("workspace", "atype", "name", "bucket_start", name=op.f("pk_cio_activity_metrics")),
    )
    op.create_index("ix_cio_activity_metrics_bucket", "cio_activity_metrics", ["bucket_start"])
    op.create_table(
        "cio_resume",
        sa.Column("workspace", sa.String(length=128), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("newest_ts", sa.BigInteger(), nullable=False),
        sa.Column("boundary_ids", sa.Text(), nullable=False),
        sa.Column("covered_from", sa.BigInteger(), nullable=False),
        sa.Column("covered_until", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "stream", name=op.f("pk_cio_resume")),
    )
    op.create_table(
        "cio_health",
        sa.Column("workspace", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("last_success_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("rate_limited", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", name=op.f("pk_cio_health")),
    )
    op.create_table(
        "cio_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(length=128), nullable=False),
        sa.Column("started_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("rate_limited", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("activities", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cio_runs")),
    )
    op.create_index("ix_cio_runs_workspace", "cio_runs", ["workspace", "started_at"])
    op.create_table(
        "cio_flap_state",
        sa.Column("workspace", sa.String(length=128), nullable=False),
        sa.Column("attribute", sa.String(length=255), nullable=False),
        sa.Column("person", sa.String(length=32), nullable=False),
        sa.Column("day_start", sa.BigInteger(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("reversals", sa.Integer(), nullable=False),
        sa.Column("last_from", sa.String(length=32), nullable=True),
        sa.Column("last_to", sa.String(length=32), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "attribute", "person", "day_start", name=op.f("pk_cio_flap_state")),
    )
    op.create_table(
        "cio_delivery",
        sa.Column("workspace", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=255), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        *_latency(),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "event", "bucket_start", name=op.f("pk_cio_delivery")),
    )
    op.create_index("ix_cio_delivery_bucket", "cio_delivery", ["bucket_start"])


def downgrade() -> None:
    op.drop_index("ix_cio_delivery_bucket", table_name="cio_delivery")
    op.drop_table("cio_delivery")
    op.drop_table("cio_flap_state")
    op.drop_index("ix_cio_runs_workspace", table_name="cio_runs")
    op.drop_table("cio_runs")
    op.drop_table("cio_health")
    op.drop_table("cio_resume")
    op.drop_index("ix_cio_activity_metrics_bucket", table_name="cio_activity_metrics")
    op.drop_table("cio_activity_metrics")

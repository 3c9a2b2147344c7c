"""Tables owned by :mod:`monitors.customerio`: activity metrics, resume points, health, runs,
attribute-flapping state and sent-versus-received reconciliation.

Person keys and attribute values in ``cio_flap_state`` are truncated SHA-256 hashes, never the
raw identifiers or values.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from storage.tables import metadata
from storage.types import UTCDateTime

cio_activity_metrics = Table(
    "cio_activity_metrics",
    metadata,
    Column("workspace", String(128), nullable=False),
    Column("atype", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("estimated", Boolean, nullable=False),
    Column("sample_rate", Float, nullable=False),
    Column("latency_n", BigInteger, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_max", Float, nullable=False),
    PrimaryKeyConstraint("workspace", "atype", "name", "bucket_start"),
)
Index("ix_cio_activity_metrics_bucket", cio_activity_metrics.c.bucket_start)

cio_resume = Table(
    "cio_resume",
    metadata,
    Column("workspace", String(128), nullable=False),
    Column("stream", String(64), nullable=False),
    Column("newest_ts", BigInteger, nullable=False),
    Column("boundary_ids", Text, nullable=False),
    Column("covered_from", BigInteger, nullable=False),
    Column("covered_until", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("workspace", "stream"),
)

cio_health = Table(
    "cio_health",
    metadata,
    Column("workspace", String(128), primary_key=True),
    Column("status", String(24), nullable=False),
    Column("message", Text, nullable=False),
    Column("last_success_at", UTCDateTime(), nullable=True),
    Column("last_error_at", UTCDateTime(), nullable=True),
    Column("requests", BigInteger, nullable=False),
    Column("rate_limited", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

cio_runs = Table(
    "cio_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace", String(128), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("status", String(24), nullable=False),
    Column("message", Text, nullable=False),
    Column("requests", Integer, nullable=False),
    Column("rate_limited", Integer, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("activities", BigInteger, nullable=False),
    Column("complete", Boolean, nullable=False),
    Column("sample_rate", Float, nullable=False),
)
Index("ix_cio_runs_workspace", cio_runs.c.workspace, cio_runs.c.started_at)

cio_flap_state = Table(
    "cio_flap_state",
    metadata,
    Column("workspace", String(128), nullable=False),
    Column("attribute", String(255), nullable=False),
    Column("person", String(32), nullable=False),
    Column("day_start", BigInteger, nullable=False),
    Column("changes", Integer, nullable=False),
    Column("reversals", Integer, nullable=False),
    Column("last_from", String(32), nullable=True),
    Column("last_to", String(32), nullable=True),
    Column("flagged", Boolean, nullable=False),
    PrimaryKeyConstraint("workspace", "attribute", "person", "day_start"),
)

cio_delivery = Table(
    "cio_delivery",
    metadata,
    Column("workspace", String(128), nullable=False),
    Column("event", String(255), nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("sent", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    Column("estimated", Boolean, nullable=False),
    Column("latency_n", BigInteger, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_max", Float, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("workspace", "event", "bucket_start"),
)
Index("ix_cio_delivery_bucket", cio_delivery.c.bucket_start)

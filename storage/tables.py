"""SQLAlchemy Core tables of the foundation: series, bucket metrics, sketches, rejects, checkpoints.

Metric tables key buckets by ``bucket_start`` in integer epoch seconds (UTC, half-open
``[start, start + width)``); the width is fixed per store and kept in ``meta``.
Other components add their tables to the same :data:`metadata` in their own modules.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from storage.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(128), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("event", String(255), nullable=False),
    Column("msg_type", String(16), nullable=False),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    UniqueConstraint("source", "environment", "event", name="uq_series_key"),
)

event_metrics = Table(
    "event_metrics",
    metadata,
    Column("series_id", Integer, nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("checked", BigInteger, nullable=False),
    Column("conforming", BigInteger, nullable=False),
    Column("identified", BigInteger, nullable=False),
    Column("sample_rate", Float, nullable=False),
    Column("users_hll", LargeBinary, nullable=False),
    Column("uid_hll", LargeBinary, nullable=True),
    Column("anon_only_hll", LargeBinary, nullable=True),
    Column("linked_hll", LargeBinary, nullable=True),
    PrimaryKeyConstraint("series_id", "bucket_start"),
)
Index("ix_event_metrics_bucket", event_metrics.c.bucket_start)

latency_sketches = Table(
    "latency_sketches",
    metadata,
    Column("series_id", Integer, nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("hop", String(16), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("bins", LargeBinary, nullable=False),
    PrimaryKeyConstraint("series_id", "bucket_start", "hop"),
)

violations = Table(
    "violations",
    metadata,
    Column("series_id", Integer, nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("vtype", String(48), nullable=False),
    Column("property", String(255), nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("series_id", "bucket_start", "vtype", "property"),
)

property_stats = Table(
    "property_stats",
    metadata,
    Column("series_id", Integer, nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("property", String(255), nullable=False),
    Column("json_type", String(16), nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("series_id", "bucket_start", "property", "json_type"),
)

# every property key a series has had, once (the property-key budget's known keys:
# monitors/ingest/propkeys.py), so that a run need not scan property_stats for them
property_keys = Table(
    "property_keys",
    metadata,
    Column("series_id", Integer, nullable=False),
    Column("property", String(255), nullable=False),
    PrimaryKeyConstraint("series_id", "property"),
)

violation_samples = Table(
    "violation_samples",
    metadata,
    Column("series_id", Integer, nullable=False),
    Column("vtype", String(48), nullable=False),
    Column("property", String(255), nullable=False),
    Column("slot", Integer, nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("sample", Text, nullable=False),
    PrimaryKeyConstraint("series_id", "vtype", "property", "slot"),
)

rejects = Table(
    "rejects",
    metadata,
    Column("source", String(128), nullable=False),
    Column("reason", String(48), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("source", "reason"),
)

reject_samples = Table(
    "reject_samples",
    metadata,
    Column("source", String(128), nullable=False),
    Column("reason", String(48), nullable=False),
    Column("slot", Integer, nullable=False),
    Column("file", Text, nullable=False),
    Column("sample", Text, nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("source", "reason", "slot"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(128), nullable=False),
    Column("file", Text, nullable=False),
    Column("reason", String(48), nullable=False),
    Column("line", Text, nullable=False),
    Column("ingested_at", UTCDateTime(), nullable=False),
)
Index("ix_quarantine_source", quarantine.c.source, quarantine.c.reason)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("source", String(128), nullable=False),
    Column("file_key", String(64), nullable=False),
    Column("fp_len", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime", Float, nullable=False),
    Column("compressed", Boolean, nullable=False),
    Column("complete", Boolean, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("source", "file_key"),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(128), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("status", String(16), nullable=False),
    Column("files", Integer, nullable=False, default=0),
    Column("bytes", BigInteger, nullable=False, default=0),
    Column("events", BigInteger, nullable=False, default=0),
    Column("rejected", BigInteger, nullable=False, default=0),
    Column("error", Text, nullable=True),
)
Index("ix_ingest_runs_source", ingest_runs.c.source, ingest_runs.c.started_at)

"""Tables of the warehouse sources, of the hour/day rollups and of coordination between workers.

* ``leases``: generic named leases (holder, expiry, fencing token) — see :mod:`storage.leases_store`.
* ``warehouse_state``: per warehouse source, the watermark (newest load/receive time read) and the
  start of the live window (slices at or after it are re-aggregated by the next run).
* ``warehouse_partials``: what each *slice* of the watermark column (e.g. one hour of
  ``received_at``) contributed to each (series, bucket), for the keys that live slices touch, plus
  the settled remainder of those keys (``slice_start = -1``). Replacing a slice then rebuilds the
  bucket exactly, without ever subtracting a sketch. See :mod:`storage.warehouse_store`.
* ``event_metrics_{hour,day}``, ``latency_sketches_{hour,day}``, ``violations_{hour,day}``: the raw
  tables rolled up (counts added, sketches merged), maintained by :mod:`storage.rollups`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from storage.tables import metadata
from storage.types import UTCDateTime

SETTLED = -1
RESOLUTIONS = {"hour": 3600, "day": 86400}

leases = Table(
    "leases",
    metadata,
    Column("name", String(200), nullable=False),
    Column("holder", String(200), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("name"),
)

warehouse_state = Table(
    "warehouse_state",
    metadata,
    Column("source", String(128), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("watermark", UTCDateTime(), nullable=True),
    Column("live_from", BigInteger, nullable=False),
    Column("runs", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("source"),
)

warehouse_partials = Table(
    "warehouse_partials",
    metadata,
    Column("source", String(128), nullable=False),
    Column("slice_start", BigInteger, nullable=False),
    Column("series_id", Integer, nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("checked", BigInteger, nullable=False),
    Column("conforming", BigInteger, nullable=False),
    Column("identified", BigInteger, nullable=False),
    Column("users_hll", LargeBinary, nullable=False),
    Column("uid_hll", LargeBinary, nullable=False),
    Column("anon_only_hll", LargeBinary, nullable=False),
    Column("linked_hll", LargeBinary, nullable=False),
    Column("detail", Text, nullable=False),
    PrimaryKeyConstraint("source", "slice_start", "series_id", "bucket_start"),
)
Index("ix_warehouse_partials_key", warehouse_partials.c.series_id, warehouse_partials.c.bucket_start)


def _rollup_tables(suffix: str) -> tuple[Table, Table, Table]:
    metrics = Table(
        f"event_metrics_{suffix}",
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
    Index(f"ix_event_metrics_{suffix}_bucket", metrics.c.bucket_start)
    latency = Table(
        f"latency_sketches_{suffix}",
        metadata,
        Column("series_id", Integer, nullable=False),
        Column("bucket_start", BigInteger, nullable=False),
        Column("hop", String(16), nullable=False),
        Column("count", BigInteger, nullable=False),
        Column("bins", LargeBinary, nullable=False),
        PrimaryKeyConstraint("series_id", "bucket_start", "hop"),
    )
    violations = Table(
        f"violations_{suffix}",
        metadata,
        Column("series_id", Integer, nullable=False),
        Column("bucket_start", BigInteger, nullable=False),
        Column("vtype", String(48), nullable=False),
        Column("property", String(255), nullable=False),
        Column("count", BigInteger, nullable=False),
        PrimaryKeyConstraint("series_id", "bucket_start", "vtype", "property"),
    )
    return metrics, latency, violations


event_metrics_hour, latency_sketches_hour, violations_hour = _rollup_tables("hour")
event_metrics_day, latency_sketches_day, violations_day = _rollup_tables("day")
ROLLUP_TABLES = {
    "hour": (event_metrics_hour, latency_sketches_hour, violations_hour),
    "day": (event_metrics_day, latency_sketches_day, violations_day),
}

"""Tables of the detectors: expected bands per series and bucket, and detector state per series."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
)

from storage.tables import metadata
from storage.types import UTCDateTime

expected_bands = Table(
    "expected_bands",
    metadata,
    Column("series_id", Integer, nullable=False),
    Column("metric", String(32), nullable=False),
    Column("bucket_start", BigInteger, nullable=False),
    Column("observed", Float, nullable=True),
    Column("expected", Float, nullable=False),
    Column("lower", Float, nullable=False),
    Column("upper", Float, nullable=False),
    Column("score", Float, nullable=True),
    Column("anomalous", Boolean, nullable=False),
    PrimaryKeyConstraint("series_id", "metric", "bucket_start"),
)
Index("ix_expected_bands_bucket", expected_bands.c.bucket_start)

detector_state = Table(
    "detector_state",
    metadata,
    Column("detector", String(48), nullable=False),
    Column("series_id", Integer, nullable=False),
    Column("through", BigInteger, nullable=False),
    Column("version", String(64), nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("detector", "series_id"),
)

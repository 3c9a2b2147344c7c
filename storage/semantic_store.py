"""Reads for the semantic detectors (rename, names, leakage, schema, latency, identity).

Every frame is keyed by (source, environment, event) and integer ``bucket_start`` (epoch s) in
``[since, until)``; empty frames keep their columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Select, and_, func, select
from sqlalchemy.engine import Engine

from storage.tables import (
    event_metrics,
    latency_sketches,
    property_stats,
    series,
    violation_samples,
    violations,
)

SERIES_COLUMNS = ["source", "environment", "event"]
METRIC_COLUMNS = [*SERIES_COLUMNS, "bucket_start", "count", "checked", "conforming", "identified"]
VIOLATION_COLUMNS = [*SERIES_COLUMNS, "bucket_start", "vtype", "property", "count"]
PROPERTY_COLUMNS = [*SERIES_COLUMNS, "bucket_start", "property", "json_type", "count"]
LATENCY_COLUMNS = [*SERIES_COLUMNS, "bucket_start", "hop", "count", "bins"]
SAMPLE_COLUMNS = [*SERIES_COLUMNS, "vtype", "property", "slot", "bucket_start", "sample"]
IDENTITY_COLUMNS = [*SERIES_COLUMNS, "bucket_start", "uid_hll", "anon_only_hll", "linked_hll"]
TOTAL_COLUMNS = [*SERIES_COLUMNS, "property", "json_type", "count"]


class SemanticStore:
    """Frames of bucket metrics, violations, property types, latency bins and sample payloads."""

    engine: Engine

    def _sem_frame(self, query: Select[Any], columns: list[str], ints: Sequence[str]) -> pd.DataFrame:
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
        return frame.astype({c: "int64" for c in ints})

    @staticmethod
    def _sem_span(table: Any, since: int | None, until: int | None) -> list[Any]:
        conds: list[Any] = []
        if since is not None:
            conds.append(table.c.bucket_start >= since)
        if until is not None:
            conds.append(table.c.bucket_start < until)
        return conds

    def _sem_select(self, table: Any, cols: list[Any], since: int | None, until: int | None) -> Select[Any]:
        return (
            select(series.c.source, series.c.environment, series.c.event, *cols)
            .select_from(table.join(series, series.c.id == table.c.series_id))
            .where(and_(True, *self._sem_span(table, since, until)))
        )

    def read_bucket_metrics(self, since: int | None, until: int | None) -> pd.DataFrame:
        """Per series and bucket: count, checked, conforming and identified messages."""
        t = event_metrics
        cols = [t.c.bucket_start, t.c["count"], t.c.checked, t.c.conforming, t.c.identified]
        return self._sem_frame(self._sem_select(t, cols, since, until), METRIC_COLUMNS, METRIC_COLUMNS[3:])

    def read_violations(self, since: int | None, until: int | None, vtypes: Sequence[str] | None = None) -> pd.DataFrame:
        """Per series, bucket, violation type and property: messages (vtype ``leak`` included)."""
        t = violations
        query = self._sem_select(t, [t.c.bucket_start, t.c.vtype, t.c.property, t.c["count"]], since, until)
        if vtypes is not None:
            query = query.where(t.c.vtype.in_(list(vtypes)))
        return self._sem_frame(query, VIOLATION_COLUMNS, ["bucket_start", "count"])

    def read_property_stats(self, since: int | None, until: int | None) -> pd.DataFrame:
        """Per series, bucket, property and JSON type: checked messages carrying that key."""
        t = property_stats
        query = self._sem_select(t, [t.c.bucket_start, t.c.property, t.c.json_type, t.c["count"]], since, until)
        return self._sem_frame(query, PROPERTY_COLUMNS, ["bucket_start", "count"])

    def read_latency_bins(self, since: int | None, until: int | None) -> pd.DataFrame:
        """Per series, bucket and hop: number of latencies and the encoded sketch bins."""
        t = latency_sketches
        query = self._sem_select(t, [t.c.bucket_start, t.c.hop, t.c["count"], t.c.bins], since, until)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pd.DataFrame([(*r[:6], bytes(r[6])) for r in rows], columns=LATENCY_COLUMNS)
        return frame.astype({"bucket_start": "int64", "count": "int64"})

    def read_sample_payloads(self, since: int | None = None) -> pd.DataFrame:
        """Up to 3 redacted sample payloads per series, violation type and property (newest bucket
        first kept by ingest), with the bucket they came from."""
        t = violation_samples
        cols = [t.c.vtype, t.c.property, t.c.slot, t.c.bucket_start, t.c.sample]
        return self._sem_frame(self._sem_select(t, cols, since, None), SAMPLE_COLUMNS, ["slot", "bucket_start"])

    def read_identity_blobs(self, since: int | None, until: int | None) -> pd.DataFrame:
        """Identity sketches per series and bucket as stored bytes (``b""`` when absent):
        ``uid_hll`` (userIds), ``anon_only_hll`` (anonymousIds without a userId), ``linked_hll``
        (anonymousIds seen with a userId)."""
        t = event_metrics
        cols = [t.c.bucket_start, t.c.uid_hll, t.c.anon_only_hll, t.c.linked_hll]
        with self.engine.connect() as conn:
            rows = conn.execute(self._sem_select(t, cols, since, until)).all()
        frame = pd.DataFrame(
            [(*r[:4], *(bytes(b) if b is not None else b"" for b in r[4:])) for r in rows], columns=IDENTITY_COLUMNS
        )
        return frame.astype({"bucket_start": "int64"})

    def read_property_totals(self, since: int | None, until: int | None) -> pd.DataFrame:
        """Per series, property and JSON type: messages carrying that key over ``[since, until)``."""
        t = property_stats
        total = func.sum(t.c["count"]).label("count")
        query = self._sem_select(t, [t.c.property, t.c.json_type, total], since, until).group_by(
            series.c.source, series.c.environment, series.c.event, t.c.property, t.c.json_type
        )
        return self._sem_frame(query, TOTAL_COLUMNS, ["count"])

    def read_event_totals(self, since: int | None, until: int | None) -> pd.DataFrame:
        """Per series: messages over ``[since, until)`` (series without any are absent)."""
        t = event_metrics
        query = self._sem_select(t, [func.sum(t.c["count"]).label("count")], since, until).group_by(
            series.c.source, series.c.environment, series.c.event
        )
        return self._sem_frame(query, [*SERIES_COLUMNS, "count"], ["count"])

"""Metrics part of the Store: series, bucket metrics, sketches, rejects and checkpoints."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from storage.tables import event_metrics, series


class MetricsStore:
    """Reads and writes bucket metrics, sketches, rejects and checkpoints."""

    engine: Engine

    def list_series(self) -> pd.DataFrame:
        """Every known series: id, source, environment, event, msg_type, first_seen, last_seen (epoch s)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(series).order_by(series.c.source, series.c.environment, series.c.event)).all()
        return pd.DataFrame([r._asdict() for r in rows], columns=[c.name for c in series.columns])

    def read_counts(
        self,
        since: int | None = None,
        until: int | None = None,
        *,
        source: str | None = None,
        environment: str | None = None,
        event: str | None = None,
    ) -> pd.DataFrame:
        """Event counts per (source, environment, event, bucket_start) for buckets in ``[since, until)``.

        ``bucket_start`` is epoch seconds (UTC). Missing buckets are absent (callers treat them as 0).
        """
        conds: list[Any] = []
        if since is not None:
            conds.append(event_metrics.c.bucket_start >= since)
        if until is not None:
            conds.append(event_metrics.c.bucket_start < until)
        for col, val in (("source", source), ("environment", environment), ("event", event)):
            if val is not None:
                conds.append(series.c[col] == val)
        query = (
            select(
                series.c.source,
                series.c.environment,
                series.c.event,
                event_metrics.c.bucket_start,
                event_metrics.c["count"],
            )
            .select_from(event_metrics.join(series, series.c.id == event_metrics.c.series_id))
            .where(and_(True, *conds))
            .order_by(series.c.source, series.c.environment, series.c.event, event_metrics.c.bucket_start)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame(
            [tuple(r) for r in rows], columns=["source", "environment", "event", "bucket_start", "count"]
        ).astype({"bucket_start": "int64", "count": "int64"})

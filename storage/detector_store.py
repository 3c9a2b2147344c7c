"""Detector part of the Store: the expected bands drawn on charts, and each detector's saved state
per series (so a run reads only the buckets since the previous one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Table, and_, delete, select, tuple_
from sqlalchemy.engine import Engine

from storage.bulk import upsert
from storage.tables import series
from storage.tables_detectors import detector_state, expected_bands

SeriesTuple = tuple[str, str, str]


class DetectorStore:
    """Bands and detector state; mixed into :class:`storage.Store`."""

    engine: Engine

    # -- expected bands --------------------------------------------------------------------------

    def series_ids(self) -> dict[SeriesTuple, int]:
        """Id of every known series by (source, environment, event)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(series.c.id, series.c.source, series.c.environment, series.c.event)
            ).all()
        return {(r.source, r.environment, r.event): int(r.id) for r in rows}

    def _ds_upsert(self, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
        with self.engine.begin() as conn:
            upsert(conn, table, rows, keys)

    def write_bands(self, frame: pd.DataFrame, *, metric: str = "count") -> int:
        """Store expected bands (columns: source, environment, event, bucket_start, observed,
        expected, lower, upper, score, anomalous); rows of unknown series are skipped."""
        if frame.empty:
            return 0
        ids = self.series_ids()
        keys = list(zip(frame["source"], frame["environment"], frame["event"], strict=True))
        sid = pd.Series([ids.get(k) for k in keys], index=frame.index)
        data = frame.assign(series_id=sid, metric=metric)[sid.notna()]
        data = data.astype({"series_id": "int64", "bucket_start": "int64", "anomalous": "bool"})
        cols = [
            "series_id",
            "metric",
            "bucket_start",
            "observed",
            "expected",
            "lower",
            "upper",
            "score",
            "anomalous",
        ]
        records = data[cols].astype(object).where(data[cols].notna(), None).to_dict("records")
        self._ds_upsert(expected_bands, records, ["series_id", "metric", "bucket_start"])
        return len(records)

    def read_bands(
        self,
        since: int | None = None,
        until: int | None = None,
        *,
        source: str | None = None,
        environment: str | None = None,
        event: str | None = None,
        metric: str = "count",
    ) -> pd.DataFrame:
        """Expected bands for buckets in ``[since, until)``: source, environment, event, bucket_start
        (epoch s), observed, expected, lower, upper, score, anomalous — for charts."""
        conds: list[Any] = [expected_bands.c.metric == metric]
        if since is not None:
            conds.append(expected_bands.c.bucket_start >= since)
        if until is not None:
            conds.append(expected_bands.c.bucket_start < until)
        for col, val in (("source", source), ("environment", environment), ("event", event)):
            if val is not None:
                conds.append(series.c[col] == val)
        cols = ["observed", "expected", "lower", "upper", "score", "anomalous"]
        query = (
            select(
                series.c.source,
                series.c.environment,
                series.c.event,
                expected_bands.c.bucket_start,
                *[expected_bands.c[c] for c in cols],
            )
            .select_from(expected_bands.join(series, series.c.id == expected_bands.c.series_id))
            .where(and_(*conds))
            .order_by(series.c.source, series.c.environment, series.c.event, expected_bands.c.bucket_start)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        names = ["source", "environment", "event", "bucket_start", *cols]
        frame = pd.DataFrame([tuple(r) for r in rows], columns=names)
        return frame.astype({"bucket_start": "int64", "anomalous": "bool"})

    def prune_bands(self, before: int) -> int:
        """Delete bands of buckets before ``before`` (epoch s); returns how many."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(delete(expected_bands).where(expected_bands.c.bucket_start < before)).rowcount
            )

    # -- detector state --------------------------------------------------------------------------

    def load_detector_state(self, detector: str) -> dict[SeriesTuple, tuple[int, str, bytes]]:
        """Saved state of ``detector`` per series: (through, version, state bytes)."""
        query = (
            select(
                series.c.source,
                series.c.environment,
                series.c.event,
                detector_state.c.through,
                detector_state.c.version,
                detector_state.c.state,
            )
            .select_from(detector_state.join(series, series.c.id == detector_state.c.series_id))
            .where(detector_state.c.detector == detector)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {(r.source, r.environment, r.event): (int(r.through), r.version, bytes(r.state)) for r in rows}

    def save_detector_state(
        self, detector: str, states: Mapping[SeriesTuple, tuple[int, str, bytes]], *, now: datetime
    ) -> int:
        """Replace the saved state of ``detector`` for the given series."""
        ids = self.series_ids()
        rows = [
            {
                "detector": detector,
                "series_id": ids[key],
                "through": through,
                "version": version,
                "state": blob,
                "updated_at": now,
            }
            for key, (through, version, blob) in states.items()
            if key in ids
        ]
        if rows:
            self._ds_upsert(detector_state, rows, ["detector", "series_id"])
        return len(rows)

    def clear_detector_state(self, detector: str, keys: Sequence[SeriesTuple] | None = None) -> int:
        """Forget saved state (of some series, or all): the next run rebuilds it from history."""
        query = delete(detector_state).where(detector_state.c.detector == detector)
        if keys is not None:
            ids = self.series_ids()
            query = query.where(tuple_(detector_state.c.series_id).in_([(ids[k],) for k in keys if k in ids]))
        with self.engine.begin() as conn:
            return int(conn.execute(query).rowcount)

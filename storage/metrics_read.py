"""Reading side of the metrics Store: series, counts, bucket rows, sketches, rejects, status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table, and_, func, select, tuple_
from sqlalchemy.engine import Engine

from monitors.sketch import HLL
from storage.rollups import resolution_for, tables_at
from storage.tables import (
    checkpoints,
    event_metrics,
    ingest_runs,
    meta,
    property_keys,
    quarantine,
    reject_samples,
    rejects,
    series,
)
from storage.tables_warehouse import RESOLUTIONS


class MetricsReader:
    """Reads what ingest wrote. Part of :class:`storage.store.Store`."""

    engine: Engine

    def bucket_seconds(self) -> int | None:
        """The bucket width this store was created with, if any data was written."""
        with self.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == "bucket_seconds")).scalar_one_or_none()
        return int(value) if value is not None else None

    def list_series(self) -> pd.DataFrame:
        """Every known series: id, source, environment, event, msg_type, first_seen, last_seen (epoch s)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(series).order_by(series.c.source, series.c.environment, series.c.event)).all()
        return pd.DataFrame([r._asdict() for r in rows], columns=[c.name for c in series.columns])

    def track_names(self, source: str, environment: str) -> set[str]:
        """The event names of the track series of one source and environment."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(series.c.event).where(series.c.source == source, series.c.environment == environment,
                                                             series.c.msg_type == "track")).scalars().all()  # fmt: skip
        return set(rows)

    def property_keys(self, source: str, environment: str) -> dict[tuple[str, str], set[str]]:
        """The property keys stored per (event, message type) of one source and environment."""
        query = (select(series.c.event, series.c.msg_type, property_keys.c.property)
                 .join(property_keys, property_keys.c.series_id == series.c.id)
                 .where(series.c.source == source, series.c.environment == environment))  # fmt: skip
        out: dict[tuple[str, str], set[str]] = {}
        with self.engine.connect() as conn:
            for event, msg_type, prop in conn.execute(query):
                out.setdefault((event, msg_type), set()).add(prop)
        return out

    def _series_filter(self, source: str | None, environment: str | None, event: str | None) -> list[Any]:
        conds: list[Any] = []
        for col, val in (("source", source), ("environment", environment), ("event", event)):
            if val is not None:
                conds.append(series.c[col] == val)
        return conds

    def _metrics_resolution(self, step: int | None, since: int | None) -> tuple[tuple[Table, Table, Table], int | None]:
        """The (metrics, latency, violations) tables answering buckets of ``step`` seconds (the
        coarsest rollup that tiles it; raw without ``step``), and ``since`` floored to their width."""
        resolution = resolution_for(step, self.bucket_seconds() or 300) if step else "raw"
        width = RESOLUTIONS.get(resolution)
        return tables_at(resolution), (since - since % width if since is not None and width else since)

    def read_counts(
        self,
        since: int | None = None,
        until: int | None = None,
        *,
        source: str | None = None,
        environment: str | None = None,
        event: str | None = None,
        step: int | None = None,
    ) -> pd.DataFrame:
        """Event counts per (source, environment, event, bucket_start) for buckets in ``[since, until)``.

        ``bucket_start`` is epoch seconds (UTC). Missing buckets are absent (callers treat them as 0).
        ``step`` (seconds, optional): the caller only needs buckets of this width, so the coarsest
        rollup that tiles it is read (hour or day rows; ``since`` is floored to that width).
        """
        (em, _ls, _vi), since = self._metrics_resolution(step, since)
        columns = ["source", "environment", "event", "bucket_start", "count"]
        with self.engine.connect() as conn:
            names = {
                int(r.id): (r.source, r.environment, r.event)
                for r in conn.execute(
                    select(series.c.id, series.c.source, series.c.environment, series.c.event).where(
                        and_(True, *self._series_filter(source, environment, event))
                    )
                ).all()
            }
            if not names:
                return pd.DataFrame(columns=columns).astype({"bucket_start": "int64", "count": "int64"})
            conds: list[Any] = [em.c.series_id.in_(sorted(names))] if (source or environment or event) else []
            if since is not None:
                conds.append(em.c.bucket_start >= since)
            if until is not None:
                conds.append(em.c.bucket_start < until)
            query = select(em.c.series_id, em.c.bucket_start, em.c["count"]).where(and_(True, *conds))
            # Plain DB-API rows: this read feeds detectors over months of buckets (millions of rows).
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            cursor = conn.connection.cursor()
            try:
                cursor.execute(str(compiled))
                rows = cursor.fetchall()
            finally:
                cursor.close()
        data = np.array(rows, dtype=np.int64).reshape(-1, 3) if rows else np.zeros((0, 3), dtype=np.int64)
        order = np.lexsort((data[:, 1], data[:, 0]))
        data = data[order]
        ids = sorted(names, key=lambda i: names[i])
        rank = {sid: k for k, sid in enumerate(ids)}
        ranks = np.array([rank[int(s)] for s in data[:, 0]], dtype=np.int64) if len(data) else np.zeros(0, np.int64)
        order2 = np.argsort(ranks, kind="stable")
        data, ranks = data[order2], ranks[order2]
        frame = pd.DataFrame({"bucket_start": data[:, 1], "count": data[:, 2]})
        for pos, col in enumerate(("source", "environment", "event")):
            values = np.array([names[i][pos] for i in ids], dtype=object)
            frame[col] = pd.array(values[ranks], dtype="str")
        return frame[columns]

    def metric_series(
        self, *, source: str | None = None, environment: str | None = None, event: str | None = None
    ) -> list[tuple[int, str, str, str]]:
        """(id, source, environment, event) of the series matching the filters, in that order."""
        query = (select(series.c.id, series.c.source, series.c.environment, series.c.event)
                 .where(and_(True, *self._series_filter(source, environment, event)))
                 .order_by(series.c.source, series.c.environment, series.c.event, series.c.id))  # fmt: skip
        with self.engine.connect() as conn:
            return [(int(r.id), str(r.source), str(r.environment), str(r.event)) for r in conn.execute(query)]

    def read_metric_rows(
        self, since: int | None, until: int | None, *, source: str | None = None, environment: str | None = None,
        event: str | None = None, step: int | None = None, series_ids: list[int] | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:  # fmt: skip
        """Raw bucket rows for reporting: (event_metrics ⨝ series, latency sketches, violations).

        With ``step``, rows of the coarsest rollup that tiles it (see :meth:`read_counts`); with
        ``series_ids``, of those series only."""
        (em, ls, vi), since = self._metrics_resolution(step, since)
        conds = self._series_filter(source, environment, event)
        if series_ids is not None:
            conds.append(series.c.id.in_(series_ids))
        frames = []
        for table, cols in (
            (em, [em.c.bucket_start, em.c["count"], em.c.checked, em.c.conforming, em.c.identified,
                  em.c.sample_rate, em.c.users_hll]),
            (ls, [ls.c.bucket_start, ls.c.hop, ls.c.bins]),
            (vi, [vi.c.bucket_start, vi.c.vtype, vi.c.property, vi.c["count"]]),
        ):  # fmt: skip
            where_b = list(conds)
            if since is not None:
                where_b.append(table.c.bucket_start >= since)
            if until is not None:
                where_b.append(table.c.bucket_start < until)
            query = (
                select(series.c.source, series.c.environment, series.c.event, series.c.msg_type, *cols)
                .select_from(table.join(series, series.c.id == table.c.series_id))
                .where(and_(True, *where_b))
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            names = ["source", "environment", "event", "msg_type", *[c.name for c in cols]]
            frames.append(pd.DataFrame([tuple(r) for r in rows], columns=names))
        return frames[0], frames[1], frames[2]

    def read_identity_sketches(
        self, since: int | None, until: int | None, *, source: str | None = None, environment: str | None = None
    ) -> pd.DataFrame:
        """Identity sketches per (source, environment, event, bucket_start): ``uid_hll`` (userIds),
        ``anon_only_hll`` (anonymousIds without a userId), ``linked_hll`` (anonymousIds seen with a
        userId), ``users_hll`` — decoded :class:`~monitors.sketch.HLL` objects (empty when absent)."""
        conds = self._series_filter(source, environment, None)
        if since is not None:
            conds.append(event_metrics.c.bucket_start >= since)
        if until is not None:
            conds.append(event_metrics.c.bucket_start < until)
        cols = ["users_hll", "uid_hll", "anon_only_hll", "linked_hll"]
        query = (
            select(series.c.source, series.c.environment, series.c.event, event_metrics.c.bucket_start,
                   *[event_metrics.c[c] for c in cols])
            .select_from(event_metrics.join(series, series.c.id == event_metrics.c.series_id))
            .where(and_(True, *conds))
            .order_by(series.c.source, series.c.environment, series.c.event, event_metrics.c.bucket_start)
        )  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        records = [
            {"source": r.source, "environment": r.environment, "event": r.event, "bucket_start": int(r.bucket_start),
             **{c: HLL.decode(getattr(r, c)) for c in cols}}
            for r in rows
        ]  # fmt: skip
        return pd.DataFrame(records, columns=["source", "environment", "event", "bucket_start", *cols])

    def read_rejects(self) -> list[dict[str, Any]]:
        """Per source and reason: count, last seen and up to 3 redacted samples."""
        with self.engine.connect() as conn:
            counts = conn.execute(select(rejects).order_by(rejects.c.source, rejects.c.reason)).all()
            samples = conn.execute(select(reject_samples).order_by(reject_samples.c.slot)).all()
        by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for s in samples:
            by_key.setdefault((s.source, s.reason), []).append({"file": s.file, "sample": s.sample})
        return [
            {"source": r.source, "reason": r.reason, "count": int(r._mapping["count"]), "last_seen_at": r.last_seen_at,
             "samples": by_key.get((r.source, r.reason), [])}
            for r in counts
        ]  # fmt: skip

    def quarantined(self, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Raw rejected lines kept aside (newest first)."""
        query = select(quarantine).order_by(quarantine.c.id.desc()).limit(limit)
        if source:
            query = query.where(quarantine.c.source == source)
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(query).all()]

    def source_status(self) -> list[dict[str, Any]]:
        """Per source: last run, totals, resume points."""
        with self.engine.connect() as conn:
            runs = conn.execute(select(ingest_runs).order_by(ingest_runs.c.id)).all()
            cps = conn.execute(select(checkpoints).order_by(checkpoints.c.source, checkpoints.c.path)).all()
            totals = conn.execute(
                select(series.c.source, series.c.environment, func.count(func.distinct(series.c.event)),
                       func.sum(event_metrics.c["count"]), func.max(event_metrics.c.bucket_start))
                .select_from(series.join(event_metrics, event_metrics.c.series_id == series.c.id))
                .group_by(series.c.source, series.c.environment)
            ).all()  # fmt: skip
            names: dict[str, int] = dict(conn.execute(  # distinct over environments: a name sent in two counts once
                select(series.c.source, func.count(func.distinct(series.c.event)))
                .where(series.c.id.in_(select(event_metrics.c.series_id))).group_by(series.c.source)
            ).all())  # fmt: skip
            rej = conn.execute(select(rejects.c.source, func.sum(rejects.c["count"])).group_by(rejects.c.source)).all()
        sources = sorted({r.source for r in runs} | {c.source for c in cps} | {t[0] for t in totals})
        out = []
        for name in sources:
            mine = [r for r in runs if r.source == name]
            last = mine[-1] if mine else None
            ok = [r for r in mine if r.status == "ok"]
            out.append({
                "source": name,
                "environments": sorted({t[1] for t in totals if t[0] == name}),
                "events": sum(int(t[3] or 0) for t in totals if t[0] == name),
                "event_names": int(names.get(name, 0)),
                "latest_bucket": max((t[4] for t in totals if t[0] == name and t[4] is not None), default=None),
                "rejected": sum(int(r[1] or 0) for r in rej if r[0] == name),
                "last_run": None if last is None else {
                    "started_at": last.started_at, "finished_at": last.finished_at, "status": last.status,
                    "files": last.files, "bytes": last.bytes, "events": last.events, "rejected": last.rejected,
                    "error": last.error},
                "last_success_at": ok[-1].finished_at if ok else None,
                "runs": len(mine),
                "resume_points": [
                    {"path": c.path, "offset": int(c.offset), "size": int(c.size), "complete": bool(c.complete),
                     "compressed": bool(c.compressed), "updated_at": c.updated_at, "file_key": c.file_key,
                     "fp_len": int(c.fp_len)}
                    for c in cps if c.source == name
                ],
            })  # fmt: skip
        return out

    def series_ids_for(self, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
        """Ids of (source, environment, event) series that exist."""
        wanted = list(keys)
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(series.c.id, series.c.source, series.c.environment, series.c.event).where(
                    tuple_(series.c.source, series.c.environment, series.c.event).in_(wanted)
                )
            ).all()
        return {(r.source, r.environment, r.event): r.id for r in rows}


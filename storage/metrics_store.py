"""Metrics part of the Store: series, bucket metrics, sketches, rejects and checkpoints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table, and_, delete, func, insert, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from monitors.sketch import HLL, LatencySketch
from storage.batch import Checkpoint, IngestBatch
from storage.rollups import resolution_for, tables_at
from storage.tables import (
    checkpoints,
    event_metrics,
    ingest_runs,
    latency_sketches,
    meta,
    property_stats,
    quarantine,
    reject_samples,
    rejects,
    series,
    violation_samples,
    violations,
)
from storage.tables_warehouse import RESOLUTIONS

QUARANTINE_LINE_LIMIT = 65536


class ConcurrentIngestError(RuntimeError):
    """Another process committed the same file region first; this batch was not written."""


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: list[str], additive: Iterable[str] = ()) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE: replace non-key columns, or add those in ``additive``."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    add = set(additive)
    cols = [c for c in rows[0] if c not in keys]
    set_ = {c: (table.c[c] + stmt.excluded[c]) if c in add else stmt.excluded[c] for c in cols}
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=set_) if set_ else stmt.on_conflict_do_nothing()
    for start in range(0, len(rows), 5000):
        conn.execute(stmt, list(rows[start : start + 5000]))


class MetricsStore:
    """Reads and writes bucket metrics, sketches, rejects and checkpoints."""

    engine: Engine

    # ------------------------------------------------------------------ writing
    def writer(self) -> Connection:
        """A connection whose transactions take the write lock up front (SQLite) — use as a context."""
        return self.engine.connect().execution_options(sqlite_begin="IMMEDIATE")

    def bucket_seconds(self) -> int | None:
        """The bucket width this store was created with, if any data was written."""
        with self.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == "bucket_seconds")).scalar_one_or_none()
        return int(value) if value is not None else None

    def set_bucket_seconds(self, seconds: int) -> None:
        """Record the bucket width (first write) — later writes must use the same width."""
        with self.writer() as conn, conn.begin():
            upsert(conn, meta, [{"key": "bucket_seconds", "value": str(seconds)}], ["key"])

    def _lock_source(self, conn: Connection, source: str) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "ehm-ingest:" + source})

    def _series_ids(self, conn: Connection, batch: IngestBatch, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        def load() -> dict[str, int]:
            rows = conn.execute(
                select(series.c.id, series.c.event).where(
                    series.c.source == batch.source, series.c.environment == batch.environment
                )
            ).all()
            return {str(r.event): int(r.id) for r in rows}

        by_event: dict[str, int] = load()
        spans: dict[str, tuple[int, int]] = {}
        for event, _t, bucket in batch.metrics:
            lo, hi = spans.get(event, (bucket, bucket))
            spans[event] = (min(lo, bucket), max(hi, bucket))
        missing = [
            {"source": batch.source, "environment": batch.environment, "event": ev, "msg_type": t,
             "first_seen": spans.get(ev, (0, 0))[0], "last_seen": spans.get(ev, (0, 0))[1]}
            for ev, t in sorted(keys) if ev not in by_event
        ]  # fmt: skip
        if missing:
            upsert(conn, series, missing, ["source", "environment", "event"])
            by_event = load()
        for ev, (lo, hi) in spans.items():
            conn.execute(
                update(series)
                .where(series.c.id == by_event[ev])
                .values(first_seen=func.min(series.c.first_seen, lo) if conn.dialect.name == "sqlite" else func.least(series.c.first_seen, lo),
                        last_seen=func.max(series.c.last_seen, hi) if conn.dialect.name == "sqlite" else func.greatest(series.c.last_seen, hi))
            )  # fmt: skip
        return {(ev, t): by_event[ev] for ev, t in keys}

    def _check_offset(self, conn: Connection, batch: IngestBatch) -> None:
        cp = batch.checkpoint
        if cp is None or batch.expected_offset is None:
            return
        key = batch.expected_key or cp.file_key
        current = conn.execute(
            select(checkpoints.c.offset).where(checkpoints.c.source == batch.source, checkpoints.c.file_key == key)
        ).scalar_one_or_none()
        if (current or 0) != batch.expected_offset:
            raise ConcurrentIngestError(f"{cp.path}: resume point moved from {batch.expected_offset} to {current}")
        if key != cp.file_key:
            conn.execute(delete(checkpoints).where(checkpoints.c.source == batch.source, checkpoints.c.file_key == key))

    def apply_ingest(self, batch: IngestBatch, now: datetime) -> None:
        """Write the batch's deltas and its checkpoint in one transaction (all or nothing)."""
        keys = {(e, t) for e, t, _ in batch.metrics} | {(e, t) for e, t, _, _ in batch.latency}
        with self.writer() as conn, conn.begin():
            self._lock_source(conn, batch.source)
            self._check_offset(conn, batch)
            ids = self._series_ids(conn, batch, keys) if keys else {}
            self._merge_metrics(conn, batch, ids)
            self._merge_latency(conn, batch, ids)
            upsert(conn, violations, [
                {"series_id": ids[(e, t)], "bucket_start": b, "vtype": v, "property": p, "count": n}
                for (e, t, b, v, p), n in batch.violations.items()
            ], ["series_id", "bucket_start", "vtype", "property"], additive=["count"])  # fmt: skip
            upsert(conn, property_stats, [
                {"series_id": ids[(e, t)], "bucket_start": b, "property": p, "json_type": jt, "count": n}
                for (e, t, b, p, jt), n in batch.props.items()
            ], ["series_id", "bucket_start", "property", "json_type"], additive=["count"])  # fmt: skip
            upsert(conn, violation_samples, [
                {"series_id": ids[(e, t)], "vtype": v, "property": p, "slot": i, "bucket_start": b, "sample": s}
                for (e, t, v, p), (b, samples) in batch.vsamples.items() for i, s in enumerate(samples[:3])
            ], ["series_id", "vtype", "property", "slot"])  # fmt: skip
            self._write_rejects(conn, batch, now)
            if batch.checkpoint is not None:
                self._write_checkpoint(conn, batch.source, batch.checkpoint, now)

    def _merge_metrics(self, conn: Connection, batch: IngestBatch, ids: dict[tuple[str, str], int]) -> None:
        if not batch.metrics:
            return
        keyed = {(ids[(e, t)], b): d for (e, t, b), d in batch.metrics.items()}
        existing = self._existing(conn, event_metrics, keyed)
        rows = []
        for (sid, b), d in keyed.items():
            old = existing.get((sid, b))
            base = (0, 0, 0, 0) if old is None else (old.count, old.checked, old.conforming, old.identified)
            sketches = {
                col: (new if old is None else HLL.decode(getattr(old, col)).merge(new)).encode()
                for col, new in (("users_hll", d.users), ("uid_hll", d.uids), ("anon_only_hll", d.anon_only),
                                 ("linked_hll", d.linked))
            }  # fmt: skip
            rows.append({
                "series_id": sid, "bucket_start": b, "count": base[0] + d.count, "checked": base[1] + d.checked,
                "conforming": base[2] + d.conforming, "identified": base[3] + d.identified,
                "sample_rate": batch.sample_rate, **sketches,
            })  # fmt: skip
        upsert(conn, event_metrics, rows, ["series_id", "bucket_start"])

    def _merge_latency(self, conn: Connection, batch: IngestBatch, ids: dict[tuple[str, str], int]) -> None:
        if not batch.latency:
            return
        keyed = {(ids[(e, t)], b, h): sk for (e, t, b, h), sk in batch.latency.items()}
        existing = self._existing(conn, latency_sketches, keyed)
        rows = []
        for (sid, b, hop), sk in keyed.items():
            old = existing.get((sid, b, hop))
            merged = sk if old is None else LatencySketch.decode(old.bins).merge(sk)
            rows.append({"series_id": sid, "bucket_start": b, "hop": hop, "count": merged.count, "bins": merged.encode()})
        upsert(conn, latency_sketches, rows, ["series_id", "bucket_start", "hop"])

    def _existing(self, conn: Connection, table: Table, keyed: dict[Any, Any]) -> dict[Any, Any]:
        sids = sorted({k[0] for k in keyed})
        buckets = [k[1] for k in keyed]
        rows = conn.execute(
            select(table).where(
                table.c.series_id.in_(sids), table.c.bucket_start.between(min(buckets), max(buckets))
            )
        ).all()
        width = len(next(iter(keyed)))
        if width == 2:
            return {(r.series_id, r.bucket_start): r for r in rows}
        return {(r.series_id, r.bucket_start, r.hop): r for r in rows}

    def _write_rejects(self, conn: Connection, batch: IngestBatch, now: datetime) -> None:
        upsert(conn, rejects, [
            {"source": batch.source, "reason": r, "count": n, "last_seen_at": now} for r, n in batch.rejects.items()
        ], ["source", "reason"], additive=["count"])  # fmt: skip
        for reason, samples in batch.reject_samples.items():
            upsert(conn, reject_samples, [
                {"source": batch.source, "reason": reason, "slot": i, "file": batch.file, "sample": s, "seen_at": now}
                for i, s in enumerate(samples[:3])
            ], ["source", "reason", "slot"])  # fmt: skip
        if batch.quarantine:
            conn.execute(insert(quarantine), [
                {"source": batch.source, "file": batch.file, "reason": r, "line": line[:QUARANTINE_LINE_LIMIT], "ingested_at": now}
                for r, line in batch.quarantine
            ])  # fmt: skip

    def _write_checkpoint(self, conn: Connection, source: str, cp: Checkpoint, now: datetime) -> None:
        upsert(conn, checkpoints, [{
            "source": source, "file_key": cp.file_key, "fp_len": cp.fp_len, "path": cp.path, "offset": cp.offset,
            "size": cp.size, "mtime": cp.mtime, "compressed": cp.compressed, "complete": cp.complete, "updated_at": now,
        }], ["source", "file_key"])  # fmt: skip

    def save_checkpoint(self, source: str, cp: Checkpoint, now: datetime, *, replaces: str | None = None) -> None:
        """Write a checkpoint alone (identity upgrades, files found already complete)."""
        with self.writer() as conn, conn.begin():
            if replaces and replaces != cp.file_key:
                conn.execute(delete(checkpoints).where(checkpoints.c.source == source, checkpoints.c.file_key == replaces))
            self._write_checkpoint(conn, source, cp, now)

    # ------------------------------------------------------------------ checkpoints and runs
    def checkpoints_of(self, source: str) -> list[Checkpoint]:
        """Every resume point of a source."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(checkpoints).where(checkpoints.c.source == source)).all()
        return [
            Checkpoint(r.file_key, r.fp_len, r.path, r.offset, r.size, r.mtime, r.compressed, r.complete) for r in rows
        ]

    def start_run(self, source: str, now: datetime) -> int:
        """Record the start of an ingest run; returns its id."""
        with self.writer() as conn, conn.begin():
            result = conn.execute(
                insert(ingest_runs).values(source=source, started_at=now, status="running", files=0, bytes=0, events=0, rejected=0)
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_run(self, run_id: int, now: datetime, *, status: str, files: int, nbytes: int, events: int,
                   rejected: int, error: str | None = None) -> None:  # fmt: skip
        """Record the end of an ingest run."""
        with self.writer() as conn, conn.begin():
            conn.execute(
                update(ingest_runs).where(ingest_runs.c.id == run_id).values(
                    finished_at=now, status=status, files=files, bytes=nbytes, events=events, rejected=rejected, error=error
                )
            )  # fmt: skip

    # ------------------------------------------------------------------ reading
    def list_series(self) -> pd.DataFrame:
        """Every known series: id, source, environment, event, msg_type, first_seen, last_seen (epoch s)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(series).order_by(series.c.source, series.c.environment, series.c.event)).all()
        return pd.DataFrame([r._asdict() for r in rows], columns=[c.name for c in series.columns])

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

    def read_metric_rows(
        self, since: int | None, until: int | None, *, source: str | None = None, environment: str | None = None,
        event: str | None = None, step: int | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:  # fmt: skip
        """Raw bucket rows for reporting: (event_metrics ⨝ series, latency sketches, violations).

        With ``step``, rows of the coarsest rollup that tiles it (see :meth:`read_counts`)."""
        (em, ls, vi), since = self._metrics_resolution(step, since)
        conds = self._series_filter(source, environment, event)
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
                "event_names": sum(int(t[2] or 0) for t in totals if t[0] == name),
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
                     "compressed": bool(c.compressed), "updated_at": c.updated_at}
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

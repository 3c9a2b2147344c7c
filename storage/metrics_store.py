"""Metrics part of the Store: series, bucket metrics, sketches, rejects and checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from monitors.sketch import HLL, LatencySketch, encode_all
from storage.batch import Checkpoint, IngestBatch
from storage.bulk import upsert
from storage.tables import (
    checkpoints,
    event_metrics,
    ingest_runs,
    latency_sketches,
    meta,
    property_keys,
    property_stats,
    quarantine,
    reject_samples,
    rejects,
    series,
    violation_samples,
    violations,
)

QUARANTINE_LINE_LIMIT = 65536


class ConcurrentIngestError(RuntimeError):
    """Another process committed the same file region first; this batch was not written."""


class MetricsStore:
    """Reads and writes bucket metrics, sketches, rejects and checkpoints."""

    engine: Engine

    # ------------------------------------------------------------------ writing
    def writer(self) -> Connection:
        """A connection whose transactions take the write lock up front (SQLite) — use as a context."""
        return self.engine.connect().execution_options(sqlite_begin="IMMEDIATE")

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
        if key != cp.file_key and not batch.keep_expected:
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
            upsert(conn, property_keys, [
                {"series_id": ids[et], "property": p} for et, p in {((e, t), p) for e, t, _, p, _ in batch.props}
            ], ["series_id", "property"])  # fmt: skip
            upsert(conn, violation_samples, [
                {"series_id": ids[(e, t)], "vtype": v, "property": p, "slot": i, "bucket_start": b, "sample": s}
                for (e, t, v, p), (b, samples) in batch.vsamples.items() for i, s in enumerate(samples[:3])
            ], ["series_id", "vtype", "property", "slot"])  # fmt: skip
            self._write_rejects(conn, batch, now)
            self.add_to_rollups(conn, {  # type: ignore[attr-defined]  # RollupStore, same Store
                (ids[(e, t)], b): {"count": d.count, "checked": d.checked, "conforming": d.conforming,
                                   "identified": d.identified, "sample_rate": batch.sample_rate, "users_hll": d.users,
                                   "uid_hll": d.uids, "anon_only_hll": d.anon_only, "linked_hll": d.linked}
                for (e, t, b), d in batch.metrics.items()
            }, {(ids[(e, t)], b, h): sk for (e, t, b, h), sk in batch.latency.items()},
               {(ids[(e, t)], b, v, p): n for (e, t, b, v, p), n in batch.violations.items()})  # fmt: skip
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
                # the lowest rate of the bucket's batches, as the rollups keep it: a bucket partly
                # sampled must not claim every event was checked
                "sample_rate": batch.sample_rate if old is None else min(float(old.sample_rate), batch.sample_rate),
                **sketches,
            })  # fmt: skip
        upsert(conn, event_metrics, rows, ["series_id", "bucket_start"])

    def _merge_latency(self, conn: Connection, batch: IngestBatch, ids: dict[tuple[str, str], int]) -> None:
        if not batch.latency:
            return
        keyed = {(ids[(e, t)], b, h): sk for (e, t, b, h), sk in batch.latency.items()}
        existing = self._existing(conn, latency_sketches, keyed)
        merged = []
        for k3, sk in keyed.items():
            old = existing.get(k3)
            merged.append(sk if old is None else LatencySketch.total([LatencySketch.decode(old.bins), sk]))
        encoded, counts = encode_all(merged)
        rows = [{"series_id": sid, "bucket_start": b, "hop": hop, "count": n, "bins": data}
                for (sid, b, hop), n, data in zip(keyed, counts, encoded, strict=True)]  # fmt: skip
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

"""Worker and dashboard part of the Store: job runs, and the focused reads the pages need.

Job runs: :meth:`JobsStore.start_job_run` inserts a ``running`` row, :meth:`JobsStore.finish_job_run`
closes it; missed or skipped runs are one row each (:meth:`JobsStore.record_job_event`).

Page reads (``ui_*``) return pandas frames with fixed columns (empty frames keep them). Every read
takes a ``[since, until)`` window of bucket starts (epoch seconds) and an optional ``width``: the
coarsest stored resolution that tiles both the width and the window is read (hour or day rollups,
see :mod:`storage.rollups`, when they are up to date; raw otherwise), buckets are rolled up to ``width`` in SQL (sums) or returned per
rolled bucket (sketches, for the caller to merge) — a page asks for the resolution it draws.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, and_, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from storage.rollups import resolution_for, tables_at
from storage.tables import (
    ingest_runs,
    property_stats,
    rejects,
    series,
    violation_samples,
)
from storage.tables_detectors import expected_bands
from storage.tables_jobs import job_runs
from storage.tables_warehouse import RESOLUTIONS

KEY = ["source", "environment", "event"]
RUN_COLUMNS = [c.name for c in job_runs.columns]


def _frame(engine: Engine, query: Select[Any], columns: list[str], ints: tuple[str, ...] = ()) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    return frame.astype({c: "int64" for c in ints if c in columns})


class JobsStore:
    """Job runs and dashboard reads."""

    engine: Engine
    bucket_seconds: Callable[[], int | None]

    # -- job runs --------------------------------------------------------------------------------

    def start_job_run(
        self, job: str, *, worker: str, started_at: datetime, token: int | None = None,
        scheduled_at: datetime | None = None,
    ) -> int:  # fmt: skip
        """Record that ``job`` started; returns the run id for :meth:`finish_job_run`."""
        values = {"job": job, "worker": worker, "token": token, "scheduled_at": scheduled_at,
                  "started_at": started_at, "status": "running"}  # fmt: skip
        with self.engine.begin() as conn:
            key = conn.execute(insert(job_runs).values(**values)).inserted_primary_key
        if key is None:  # pragma: no cover - integer primary key
            raise RuntimeError("insert returned no primary key")
        return int(key[0])

    def finish_job_run(
        self, run_id: int, *, finished_at: datetime, status: str, rows: int | None = None,
        message: str | None = None, error: str | None = None,
    ) -> None:  # fmt: skip
        """Close a run: ``status`` is ok, partial, error or skipped."""
        values = {"finished_at": finished_at, "status": status, "rows": rows, "message": message, "error": error}
        with self.engine.begin() as conn:
            conn.execute(update(job_runs).where(job_runs.c.id == run_id).values(**values))

    def record_job_event(
        self, job: str, *, worker: str, at: datetime, status: str, message: str,
        scheduled_at: datetime | None = None, token: int | None = None,
    ) -> int:  # fmt: skip
        """A run that did not happen (``missed``: too late; ``skipped``: the previous one still ran)."""
        values = {"job": job, "worker": worker, "token": token, "scheduled_at": scheduled_at, "started_at": at,
                  "finished_at": at, "status": status, "message": message}  # fmt: skip
        with self.engine.begin() as conn:
            key = conn.execute(insert(job_runs).values(**values)).inserted_primary_key
        return int(key[0]) if key else 0

    def job_runs(
        self, *, job: str | None = None, status: str | list[str] | None = None, since: datetime | None = None,
        limit: int | None = 200,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Runs, newest first, optionally of one job, with given statuses, started since a time."""
        query = select(job_runs).order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc()).limit(limit)
        if job is not None:
            query = query.where(job_runs.c.job == job)
        if status is not None:
            query = query.where(job_runs.c.status.in_([status] if isinstance(status, str) else status))
        if since is not None:
            query = query.where(job_runs.c.started_at >= since)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def last_job_runs(self) -> list[dict[str, Any]]:
        """The newest run of every job (by job name)."""
        newest = select(job_runs.c.job, func.max(job_runs.c.id).label("id")).group_by(job_runs.c.job).subquery()
        query = select(job_runs).join(newest, job_runs.c.id == newest.c.id).order_by(job_runs.c.job)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def prune_job_runs(self, before: datetime) -> int:
        """Delete finished runs that started before ``before``; returns how many."""
        cond = and_(job_runs.c.started_at < before, job_runs.c.status != "running")
        with self.engine.begin() as conn:
            return int(conn.execute(delete(job_runs).where(cond)).rowcount)

    # -- dashboard reads -------------------------------------------------------------------------

    @staticmethod
    def _where(table: Any, since: int | None, until: int | None, source: str | None, environment: str | None,
               event: str | None, events: tuple[str, ...] | None = None) -> ColumnElement[bool]:  # fmt: skip
        conds: list[Any] = []
        if since is not None:
            conds.append(table.c.bucket_start >= since)
        if until is not None:
            conds.append(table.c.bucket_start < until)
        wanted: list[Any] = []
        for col, val in (("source", source), ("environment", environment), ("event", event)):
            if val is not None:
                wanted.append(series.c[col] == val)
        if events is not None:
            wanted.append(series.c.event.in_(list(events)))
        # series_id IN (…) lets both engines walk the (series_id, bucket_start) primary key per series
        # instead of scanning tables that have no index on bucket_start alone (latency, violations)
        conds.append(table.c.series_id.in_(select(series.c.id).where(and_(True, *wanted))))
        return and_(True, *conds)

    def _tables(self, width: int | None, since: int | None, until: int | None) -> tuple[Any, Any, Any]:
        """(metrics, latency, violations) tables of the coarsest resolution that tiles the width and the
        window and is up to date (at most one of its buckets behind the newest raw bucket); raw otherwise."""
        if not width:
            return tables_at("raw")
        resolution = resolution_for(width, self.bucket_seconds() or 300)
        while resolution != "raw" and (
            any(t is not None and t % RESOLUTIONS[resolution] for t in (since, until)) or not self._fresh(resolution)
        ):
            resolution = "hour" if resolution == "day" else "raw"
        return tables_at(resolution)

    def _fresh(self, resolution: str) -> bool:
        raw, rolled = tables_at("raw")[0], tables_at(resolution)[0]
        with self.engine.connect() as conn:
            newest_raw = conn.execute(select(func.max(raw.c.bucket_start))).scalar()
            newest = conn.execute(select(func.max(rolled.c.bucket_start))).scalar()
        if newest_raw is None:
            return True
        width = RESOLUTIONS[resolution]
        # one bucket behind is still fresh: the rollups job runs every few minutes, so the newest
        # hour (or day) may miss the minutes since its last run — the price of fast long ranges
        return newest is not None and int(newest) >= int(newest_raw) - int(newest_raw) % width - width

    @staticmethod
    def _bucket(table: Any, width: int | None) -> Any:
        col = table.c.bucket_start
        return (col - col % width).label("bucket_start") if width else col.label("bucket_start")

    def ui_series_totals(
        self, since: int | None, until: int | None, *, width: int | None = None, source: str | None = None,
        environment: str | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Per series over the window: count, checked, conforming, identified, first and last bucket
        (of the resolution read: pass ``width`` to allow rollups)."""
        m = self._tables(width, since, until)[0]
        sums = [func.sum(m.c[c]).label(c) for c in ("count", "checked", "conforming", "identified")]
        query = (
            select(series.c.source, series.c.environment, series.c.event, series.c.msg_type, *sums,
                   func.min(m.c.bucket_start), func.max(m.c.bucket_start))
            .select_from(m.join(series, series.c.id == m.c.series_id))
            .where(self._where(m, since, until, source, environment, None))
            .group_by(series.c.source, series.c.environment, series.c.event, series.c.msg_type)
            .order_by(series.c.source, series.c.environment, series.c.event)
        )  # fmt: skip
        cols = [*KEY, "msg_type", "count", "checked", "conforming", "identified", "first_bucket", "last_bucket"]
        return _frame(self.engine, query, cols, ("count", "checked", "conforming", "identified"))

    def ui_bucket_metrics(
        self, since: int | None, until: int | None, *, width: int | None = None, source: str | None = None,
        environment: str | None = None, event: str | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Per series and (rolled) bucket: count, checked, conforming, identified."""
        m = self._tables(width, since, until)[0]
        bucket = self._bucket(m, width)
        sums = [func.sum(m.c[c]).label(c) for c in ("count", "checked", "conforming", "identified")]
        query = (
            select(series.c.source, series.c.environment, series.c.event, bucket, *sums)
            .select_from(m.join(series, series.c.id == m.c.series_id))
            .where(self._where(m, since, until, source, environment, event))
            .group_by(series.c.source, series.c.environment, series.c.event, bucket)
            .order_by(series.c.source, series.c.environment, series.c.event, bucket)
        )
        cols = [*KEY, "bucket_start", "count", "checked", "conforming", "identified"]
        return _frame(self.engine, query, cols, ("bucket_start", "count", "checked", "conforming", "identified"))

    def ui_latency_rows(
        self, since: int | None, until: int | None, *, width: int | None = None, hop: str | None = None,
        source: str | None = None, environment: str | None = None, event: str | None = None,
        events: tuple[str, ...] | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Latency sketch rows (``bins`` bytes) with ``bucket_start`` rolled to ``width``; merge them
        with :func:`monitors.ui.sketches.quantile_table`."""
        t = self._tables(width, since, until)[1]
        cond = self._where(t, since, until, source, environment, event, events)
        if hop is not None:
            cond = and_(cond, t.c.hop == hop)
        query = (
            select(series.c.source, series.c.environment, series.c.event, self._bucket(t, width), t.c.hop, t.c.bins)
            .select_from(t.join(series, series.c.id == t.c.series_id))
            .where(cond)
        )
        return _frame(self.engine, query, [*KEY, "bucket_start", "hop", "bins"], ("bucket_start",))

    def ui_band_totals(self, since: int | None, until: int | None) -> pd.DataFrame:
        """Per series: observed and expected events summed over the buckets of the window that have a band."""
        b = expected_bands
        query = (
            select(series.c.source, series.c.environment, series.c.event, func.sum(b.c.observed),
                   func.sum(b.c.expected))
            .select_from(b.join(series, series.c.id == b.c.series_id))
            .where(self._where(b, since, until, None, None, None), b.c.metric == "count")
            .group_by(series.c.source, series.c.environment, series.c.event)
        )  # fmt: skip
        return _frame(self.engine, query, [*KEY, "observed", "expected"])

    def ui_source_status(self) -> pd.DataFrame:
        """Per source: environments, event names, newest bucket, runs, the last run and last success,
        rejected lines (cheap: from ``series`` and the run log, never a scan of the metrics)."""
        with self.engine.connect() as conn:
            known = conn.execute(
                select(series.c.source, series.c.environment, func.count(), func.max(series.c.last_seen))
                .group_by(series.c.source, series.c.environment)).all()  # fmt: skip
            newest = (select(ingest_runs.c.source, func.max(ingest_runs.c.id).label("id"), func.count().label("runs"))
                      .group_by(ingest_runs.c.source).subquery())  # fmt: skip
            last = conn.execute(select(ingest_runs, newest.c.runs).join(newest, ingest_runs.c.id == newest.c.id)).all()
            ok = conn.execute(select(ingest_runs.c.source, func.max(ingest_runs.c.finished_at))
                              .where(ingest_runs.c.status == "ok").group_by(ingest_runs.c.source)).all()  # fmt: skip
            rejected = conn.execute(select(rejects.c.source, func.sum(rejects.c["count"])).group_by(rejects.c.source)).all()
        rows: dict[str, dict[str, Any]] = {}
        for source, env, names, seen in known:
            row = rows.setdefault(source, {"source": source, "environments": [], "event_names": 0, "latest_bucket": None})
            row["environments"].append(env)
            row["event_names"] += int(names)
            row["latest_bucket"] = max(int(seen), row["latest_bucket"] or 0)
        for run in last:
            rows.setdefault(run.source, {"source": run.source, "environments": [], "event_names": 0, "latest_bucket": None})
            rows[run.source].update(runs=int(run.runs), last_status=run.status, last_run_at=run.finished_at or run.started_at,
                                    error=run.error)  # fmt: skip
        for source, at in ok:
            rows.setdefault(source, {"source": source})["last_success_at"] = at
        for source, n in rejected:
            rows.setdefault(source, {"source": source})["rejected"] = int(n or 0)
        cols = ["source", "environments", "event_names", "latest_bucket", "runs", "last_status", "last_run_at",
                "last_success_at", "rejected", "error"]  # fmt: skip
        frame = pd.DataFrame([rows[k] for k in sorted(rows)], columns=cols)
        return frame.assign(environments=[", ".join(sorted(e)) if isinstance(e, list) else "" for e in frame["environments"]])

    def ui_violation_counts(
        self, since: int | None, until: int | None, *, width: int | None = None, source: str | None = None,
        environment: str | None = None, event: str | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Violations per series, (rolled) bucket, type and property."""
        v = self._tables(width, since, until)[2]
        bucket = self._bucket(v, width)
        query = (
            select(series.c.source, series.c.environment, series.c.event, bucket, v.c.vtype, v.c.property,
                   func.sum(v.c["count"]))
            .select_from(v.join(series, series.c.id == v.c.series_id))
            .where(self._where(v, since, until, source, environment, event))
            .group_by(series.c.source, series.c.environment, series.c.event, bucket, v.c.vtype, v.c.property)
        )  # fmt: skip
        cols = [*KEY, "bucket_start", "vtype", "property", "count"]
        return _frame(self.engine, query, cols, ("bucket_start", "count"))

    def ui_property_stats(
        self, since: int | None, until: int | None, *, source: str | None = None, environment: str | None = None,
        event: str | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Property keys and JSON types seen per series over the window, with counts."""
        p = property_stats
        query = (
            select(series.c.source, series.c.environment, series.c.event, p.c.property, p.c.json_type,
                   func.sum(p.c["count"]), func.max(p.c.bucket_start))
            .select_from(p.join(series, series.c.id == p.c.series_id))
            .where(self._where(p, since, until, source, environment, event))
            .group_by(series.c.source, series.c.environment, series.c.event, p.c.property, p.c.json_type)
            .order_by(series.c.event, p.c.property, p.c.json_type)
        )  # fmt: skip
        cols = [*KEY, "property", "json_type", "count", "last_bucket"]
        return _frame(self.engine, query, cols, ("count", "last_bucket"))

    def ui_violation_samples(
        self, *, source: str | None = None, environment: str | None = None, event: str | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """The kept (already redacted) sample payloads per series, violation type and property."""
        s = violation_samples
        query = (
            select(series.c.source, series.c.environment, series.c.event, s.c.vtype, s.c.property, s.c.slot,
                   s.c.bucket_start, s.c.sample)
            .select_from(s.join(series, series.c.id == s.c.series_id))
            .where(self._where(s, None, None, source, environment, event))
            .order_by(series.c.event, s.c.vtype, s.c.property, s.c.slot)
        )  # fmt: skip
        cols = [*KEY, "vtype", "property", "slot", "bucket_start", "sample"]
        return _frame(self.engine, query, cols, ("slot", "bucket_start"))


__all__ = ["RUN_COLUMNS", "JobsStore"]

"""Customer.io part of the Store: activity metrics, resume points, health, runs, flapping state
and sent-versus-received reconciliation. A collection run commits in one transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from monitors.customerio.models import CollectionResult, FlapKey, FlapState, MetricRow, ResumePoint, RunStats
from storage.tables_customerio import (
    cio_activity_metrics,
    cio_delivery,
    cio_flap_state,
    cio_health,
    cio_resume,
    cio_runs,
)

METRIC_COLUMNS = ["workspace", "atype", "name", "bucket_start", "count", "estimated", "sample_rate",
                  "latency_n", "latency_sum", "latency_max"]
DELIVERY_COLUMNS = ["workspace", "event", "bucket_start", "sent", "received", "failed", "estimated",
                    "latency_n", "latency_sum", "latency_max"]
FLAP_KEEP_SECONDS = 2 * 86400
Merge = Callable[[Table, Any], dict[str, Any]]


class CustomerIOStore:
    """Activity metrics, App API resume points and health."""

    engine: Engine

    # -- writes -------------------------------------------------------------------------------
    def _cio_upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str],
                merge: Merge | None = None) -> None:
        """INSERT … ON CONFLICT DO UPDATE on SQLite and PostgreSQL; ``merge(table, excluded)`` gives
        column → expression; other columns take the new value."""
        if not rows:
            return
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table)
        merged = merge(table, stmt.excluded) if merge else {}
        values = {c.name: merged.get(c.name, stmt.excluded[c.name]) for c in table.columns if c.name not in keys}
        for chunk in range(0, len(rows), 500):
            conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=values), rows[chunk:chunk + 500])

    def _cio_metric_merge(self, conn: Connection) -> Merge:
        least, greatest = (func.least, func.greatest) if conn.dialect.name == "postgresql" else (func.min, func.max)

        def merge(t: Table, e: Any) -> dict[str, Any]:
            return {"count": t.c["count"] + e["count"], "estimated": or_(t.c.estimated, e.estimated),
                    "sample_rate": least(t.c.sample_rate, e.sample_rate),
                    "latency_n": t.c.latency_n + e.latency_n, "latency_sum": t.c.latency_sum + e.latency_sum,
                    "latency_max": greatest(t.c.latency_max, e.latency_max)}
        return merge

    def commit_customerio_run(self, result: CollectionResult, at: datetime) -> None:
        """Add the run's metric rows, move the resume points, save flapping state, record the run
        and mark the workspace healthy — all in one transaction."""
        ws = result.workspace
        with self.engine.begin() as conn:
            rows = [{"workspace": ws, **_metric_dict(r)} for r in result.rows]
            self._cio_upsert(conn, cio_activity_metrics, rows, ["workspace", "atype", "name", "bucket_start"],
                         self._cio_metric_merge(conn))
            resume = [{"workspace": ws, "stream": p.stream, "newest_ts": p.newest_ts,
                       "boundary_ids": json.dumps(list(p.boundary_ids)), "covered_from": p.covered_from,
                       "covered_until": p.covered_until, "updated_at": at} for p in result.resume]
            self._cio_upsert(conn, cio_resume, resume, ["workspace", "stream"])
            self._cio_save_flaps(conn, ws, result.flap_states, at)
            if result.run is not None:
                self._cio_record_run(conn, ws, result.run)
                self._cio_set_health(conn, ws, "ok", result.run.message or "collecting", at, result.run, success=True)

    def _cio_save_flaps(self, conn: Connection, ws: str, states: dict[FlapKey, FlapState], at: datetime) -> None:
        rows = [{"workspace": ws, "attribute": k[0], "person": k[1], "day_start": k[2], "changes": s.changes,
                 "reversals": s.reversals, "last_from": s.last_from, "last_to": s.last_to, "flagged": s.flagged}
                for k, s in states.items()]
        self._cio_upsert(conn, cio_flap_state, rows, ["workspace", "attribute", "person", "day_start"])
        horizon = int(at.timestamp()) - FLAP_KEEP_SECONDS
        conn.execute(delete(cio_flap_state).where(and_(cio_flap_state.c.workspace == ws,
                                                       cio_flap_state.c.day_start < horizon)))

    def _cio_record_run(self, conn: Connection, ws: str, run: RunStats) -> None:
        conn.execute(insert(cio_runs).values(
            workspace=ws, started_at=run.started_at, finished_at=run.finished_at, status=run.status,
            message=run.message, requests=run.requests, rate_limited=run.rate_limited, retries=run.retries,
            pages=run.pages, activities=run.activities, complete=run.complete, sample_rate=run.sample_rate))

    def _cio_set_health(self, conn: Connection, ws: str, status: str, message: str, at: datetime, run: RunStats,
                    *, success: bool) -> None:
        old = conn.execute(select(cio_health).where(cio_health.c.workspace == ws)).mappings().first()
        row = {"workspace": ws, "status": status, "message": message, "updated_at": at,
               "last_success_at": at if success else (old["last_success_at"] if old else None),
               "last_error_at": (old["last_error_at"] if old else None) if success else at,
               "requests": (old["requests"] if old else 0) + run.requests,
               "rate_limited": (old["rate_limited"] if old else 0) + run.rate_limited}
        if old:
            conn.execute(update(cio_health).where(cio_health.c.workspace == ws).values(**row))
        else:
            conn.execute(insert(cio_health).values(**row))

    def record_customerio_failure(self, workspace: str, status: str, run: RunStats, at: datetime) -> None:
        """Record a failed run and show ``run.message`` as the workspace's health (e.g. key rejected)."""
        with self.engine.begin() as conn:
            self._cio_record_run(conn, workspace, run)
            self._cio_set_health(conn, workspace, status, run.message, at, run, success=False)

    def write_delivery_metrics(self, frame: pd.DataFrame, at: datetime) -> int:
        """Replace reconciliation rows (columns :data:`DELIVERY_COLUMNS`); returns the row count."""
        rows = [{**{c: _plain(r[c]) for c in DELIVERY_COLUMNS}, "updated_at": at}
                for r in frame.to_dict("records")]
        with self.engine.begin() as conn:
            self._cio_upsert(conn, cio_delivery, rows, ["workspace", "event", "bucket_start"])
        return len(rows)

    # -- reads --------------------------------------------------------------------------------
    def customerio_resume_points(self, workspace: str) -> dict[str, ResumePoint]:
        """The resume point of every stream of ``workspace``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(cio_resume).where(cio_resume.c.workspace == workspace)).mappings().all()
        return {r["stream"]: ResumePoint(r["stream"], r["newest_ts"], tuple(json.loads(r["boundary_ids"])),
                                         r["covered_from"], r["covered_until"]) for r in rows}

    def customerio_flap_states(self, workspace: str, keys: Iterable[FlapKey]) -> dict[FlapKey, FlapState]:
        """Saved flapping state for ``keys`` (missing keys are absent)."""
        wanted = set(keys)
        if not wanted:
            return {}
        attrs, days = {k[0] for k in wanted}, {k[2] for k in wanted}
        query = select(cio_flap_state).where(and_(cio_flap_state.c.workspace == workspace,
                                                  cio_flap_state.c.attribute.in_(attrs),
                                                  cio_flap_state.c.day_start.in_(days)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        found = {(r["attribute"], r["person"], r["day_start"]): FlapState(
            r["changes"], r["reversals"], r["last_from"], r["last_to"], bool(r["flagged"])) for r in rows}
        return {k: v for k, v in found.items() if k in wanted}

    def read_customerio_metrics(self, since: int | None = None, until: int | None = None, *,
                                workspace: str | None = None, atype: str | None = None,
                                name: str | None = None) -> pd.DataFrame:
        """Activity metrics for buckets in ``[since, until)``; columns :data:`METRIC_COLUMNS`."""
        t = cio_activity_metrics
        conds = _filters(t, since, until, workspace=workspace, atype=atype, name=name)
        query = select(*(t.c[c] for c in METRIC_COLUMNS)).where(and_(True, *conds)).order_by(
            t.c.workspace, t.c.atype, t.c.name, t.c.bucket_start)
        return _frame(self.engine, query, METRIC_COLUMNS)

    def read_delivery_metrics(self, since: int | None = None, until: int | None = None, *,
                              workspace: str | None = None, event: str | None = None) -> pd.DataFrame:
        """Reconciliation rows (sent, received, failed, latency) for buckets in ``[since, until)``."""
        t = cio_delivery
        conds = _filters(t, since, until, workspace=workspace, event=event)
        query = select(*(t.c[c] for c in DELIVERY_COLUMNS)).where(and_(True, *conds)).order_by(
            t.c.workspace, t.c.event, t.c.bucket_start)
        return _frame(self.engine, query, DELIVERY_COLUMNS)

    def customerio_health(self) -> list[dict[str, Any]]:
        """Per workspace: status, message, last_success_at, last_error_at, requests, rate_limited."""
        cols = ["workspace", "status", "message", "last_success_at", "last_error_at", "requests", "rate_limited"]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*(cio_health.c[c] for c in cols)).order_by(cio_health.c.workspace)).all()
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def customerio_runs(self, workspace: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The newest collection runs, newest first."""
        query = select(cio_runs).order_by(cio_runs.c.started_at.desc(), cio_runs.c.id.desc()).limit(limit)
        if workspace is not None:
            query = query.where(cio_runs.c.workspace == workspace)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]


def _metric_dict(row: MetricRow) -> dict[str, Any]:
    return {"atype": row.atype, "name": row.name[:255], "bucket_start": row.bucket_start, "count": row.count,
            "estimated": row.estimated, "sample_rate": row.sample_rate, "latency_n": row.latency_n,
            "latency_sum": row.latency_sum, "latency_max": row.latency_max}


def _filters(t: Table, since: int | None, until: int | None, **equal: str | None) -> list[Any]:
    conds: list[Any] = []
    if since is not None:
        conds.append(t.c.bucket_start >= since)
    if until is not None:
        conds.append(t.c.bucket_start < until)
    conds.extend(t.c[col] == val for col, val in equal.items() if val is not None)
    return conds


def _frame(engine: Engine, query: Any, columns: list[str]) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    ints = [c for c in columns if c in ("bucket_start", "count", "sent", "received", "failed", "latency_n")]
    floats = [c for c in columns if c in ("sample_rate", "latency_sum", "latency_max")]
    return frame.astype({**dict.fromkeys(ints, "int64"), **dict.fromkeys(floats, "float64"), "estimated": "bool"})


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value

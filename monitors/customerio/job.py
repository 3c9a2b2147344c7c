"""The I/O edges: one collection run (read → metrics + flapping → commit, metrics and resume
points in one transaction) and one reconciliation (store frames → pure reconcile → store).
In a collection run, failures are recorded as the workspace's health; 401/403 become "App API key
rejected — check <ENV>" and are never retried in a loop (the next scheduled run tries once more).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import pandas as pd

from monitors.customerio.client import ClientStats
from monitors.customerio.collector import ActivitySource, activity_ts, never, read_streams
from monitors.customerio.config import CustomerIOConfig
from monitors.customerio.flapping import flap_key, track_flapping
from monitors.customerio.metrics import metric_rows, next_resume
from monitors.customerio.models import (
    STREAM_ALL,
    CollectionResult,
    FlapKey,
    FlapState,
    MetricRow,
    ResumePoint,
    RunStats,
    StreamRead,
)
from monitors.customerio.reconcile import ReconcileContext, ReconcileResult, reconcile
from monitors.errors import AuthError, CustomerIOError
from monitors.timeutil import floor_epoch, from_epoch, parse_duration, to_epoch, utcnow

log = logging.getLogger(__name__)


class CollectorStore(Protocol):
    """The Store methods a run uses."""

    def customerio_resume_points(self, workspace: str) -> dict[str, ResumePoint]:
        """Saved resume points."""
        ...

    def customerio_flap_states(self, workspace: str, keys: Any) -> dict[FlapKey, FlapState]:
        """Saved flapping state."""
        ...

    def commit_customerio_run(self, result: CollectionResult, at: datetime) -> None:
        """Commit a run."""
        ...

    def record_customerio_failure(self, workspace: str, status: str, run: RunStats, at: datetime) -> None:
        """Record a failed run."""
        ...


def build_result(config: CustomerIOConfig, reads: list[StreamRead], states: dict[FlapKey, FlapState], *,
                 bucket: int, now: int, horizon: int) -> CollectionResult:
    """Pure: rows (with flapping), new resume points and flapping state of one run."""
    rows, rate = metric_rows(reads, bucket)
    changes = sorted(_changes(reads), key=lambda a: (activity_ts(a), str(a.get("id"))))
    updated, started = track_flapping(changes, states, config.flapping, bucket=bucket, salt=config.workspace)
    rows += [MetricRow("attribute_flapping", attr, start, n) for (attr, start), n in started.items()]
    resume = [next_resume(r, now=now, horizon=horizon) for r in reads]
    run = RunStats(started_at=from_epoch(now), pages=sum(r.pages for r in reads),
                   activities=sum(len(r.activities) for r in reads),
                   complete=all(r.complete for r in reads), sample_rate=rate)
    return CollectionResult(config.workspace, rows, resume, updated, run)


def _changes(reads: list[StreamRead]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for read in reads:
        for activity in read.activities:
            key = str(activity.get("id"))
            if activity.get("type") == "attribute_change" and key not in seen:
                seen.add(key)
                out.append(activity)
    return out


def _summary(run: RunStats, reads: list[StreamRead]) -> str:
    stops = ", ".join(f"{r.stream}: {r.stop}" for r in reads)
    cut = "the worker is stopping" if any(r.stop == "stopped" for r in reads) else "budget reached"
    note = "" if run.complete else f"; {cut}, unread activity estimated (sample rate {run.sample_rate:.2f})"
    return f"read {run.activities} activities in {run.pages} pages ({stops}){note}"


def _counters(client: object) -> tuple[int, int, int]:
    stats = getattr(client, "stats", None)
    if not isinstance(stats, ClientStats):
        return 0, 0, 0
    return stats.requests, stats.rate_limited, stats.retries


def _apply_stats(run: RunStats, client: object, before: tuple[int, int, int]) -> None:
    after = _counters(client)
    run.requests, run.rate_limited, run.retries = (a - b for a, b in zip(after, before, strict=True))


def collect_once(config: CustomerIOConfig, store: CollectorStore, client: ActivitySource, *, bucket: int,
                 now: datetime | None = None, clock: Callable[[], datetime] = utcnow,
                 stopping: Callable[[], bool] = never) -> RunStats:
    """Run one collection and commit it; raises :class:`CustomerIOError` after recording a failure.
    ``stopping``: checked before each page request; once true, what was read is committed (as a
    read cut by the budget is) and the run ends."""
    started = now or clock()
    epoch = to_epoch(started)
    horizon = epoch - parse_duration(config.backfill)
    previous = store.customerio_resume_points(config.workspace)
    before = _counters(client)
    try:
        reads = read_streams(client, config.streams, previous, budget=config.budget,
                             page_size=config.page_size, horizon=horizon, stopping=stopping)
    except CustomerIOError as exc:
        status = "auth_error" if isinstance(exc, AuthError) else "error"
        run = RunStats(started_at=started, finished_at=clock(), status=status, message=str(exc), complete=False)
        _apply_stats(run, client, before)
        store.record_customerio_failure(config.workspace, status, run, run.finished_at or started)
        raise
    keys = {k for a in _changes(reads) if (k := flap_key(a, config.workspace)) is not None}
    states = store.customerio_flap_states(config.workspace, keys)
    result = build_result(config, reads, states, bucket=bucket, now=epoch, horizon=horizon)
    run = result.run or RunStats(started_at=started)
    run.started_at, run.finished_at = started, clock()
    run.message = _summary(run, reads)
    _apply_stats(run, client, before)
    store.commit_customerio_run(result, run.finished_at)
    log.info("customerio %s: %s", config.workspace, run.message)
    return run


class ReconcileStore(Protocol):
    """The Store methods reconciliation uses."""

    def read_counts(self, since: int | None = None, until: int | None = None) -> pd.DataFrame:
        """Sent counts."""
        ...

    def read_customerio_metrics(self, since: int | None = None, until: int | None = None, *,
                                workspace: str | None = None) -> pd.DataFrame:
        """Received counts."""
        ...

    def customerio_resume_points(self, workspace: str) -> dict[str, ResumePoint]:
        """Coverage of the streams."""
        ...

    def write_delivery_metrics(self, frame: pd.DataFrame, at: datetime) -> int:
        """Save reconciliation rows."""
        ...


def reconcile_once(config: CustomerIOConfig, store: ReconcileStore, *, bucket: int,
                   now: datetime | None = None) -> ReconcileResult:
    """Reconcile the lookback window from the store, save the delivery metrics, return the findings.

    Buckets are judged only inside the coverage of the stream that reads ``event`` activities
    (``*`` or ``event``); without one, nothing is judged.
    """
    at = now or utcnow()
    epoch = to_epoch(at)
    since = floor_epoch(epoch - parse_duration(config.reconcile.lookback), bucket)
    sent = store.read_counts(since, None)
    received = store.read_customerio_metrics(since, None, workspace=config.workspace)
    points = store.customerio_resume_points(config.workspace)
    point = points.get("event") or points.get(STREAM_ALL)
    covered = (point.covered_from, point.covered_until) if point else (epoch, epoch)
    ctx = ReconcileContext(config.workspace, config.reconcile, bucket, at, *covered)
    result = reconcile(sent, received, ctx)
    store.write_delivery_metrics(result.metrics, at)
    return result

"""Sources and jobs: each source's lag and last run, rejects by reason with samples, the job
history with errors, the current worker leader and alert messages that failed for good."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from monitors.jobs.leader import LEADER_NAME
from monitors.redact import redact_line
from monitors.timeutil import from_epoch, to_epoch
from storage import Store
from storage.jobs_store import RUN_COLUMNS

SOURCE_COLUMNS = ["source", "environments", "event_names", "latest_bucket", "lag_s", "last_run_status", "last_run_at",
                  "last_success_at", "runs", "rejected", "error"]  # fmt: skip
REJECT_COLUMNS = ["source", "reason", "count", "last_seen_at", "samples"]
JOB_COLUMNS = ["job", "status", "started_at", "finished_at", "seconds", "rows", "worker", "token", "message", "error"]


@dataclass(frozen=True)
class Operations:
    """The page's data."""

    sources: pd.DataFrame
    rejects: pd.DataFrame
    last_runs: pd.DataFrame
    history: pd.DataFrame
    errors: pd.DataFrame
    leader: dict[str, Any] | None
    failed_alerts: pd.DataFrame


def _sources(store: Store, width: int, now: datetime) -> pd.DataFrame:
    frame = store.ui_source_status()
    latest = frame["latest_bucket"]
    lag = [max(0, to_epoch(now) - (int(b) + width)) if pd.notna(b) else None for b in latest]
    frame = frame.assign(latest_bucket=[from_epoch(int(b)) if pd.notna(b) else None for b in latest], lag_s=lag)
    return frame.rename(columns={"last_status": "last_run_status"})[SOURCE_COLUMNS]


def _rejects(store: Store) -> pd.DataFrame:
    rows = [{"source": r["source"], "reason": r["reason"], "count": r["count"], "last_seen_at": r["last_seen_at"],
             "samples": [redact_line(s["sample"]) for s in r["samples"]]} for r in store.read_rejects()]  # fmt: skip
    return pd.DataFrame(rows, columns=REJECT_COLUMNS)


def _runs(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    if frame.empty:
        return pd.DataFrame(columns=JOB_COLUMNS)
    took = [(f - s).total_seconds() if f is not None and s is not None else None
            for s, f in zip(frame["started_at"], frame["finished_at"], strict=True)]  # fmt: skip
    return frame.assign(seconds=took)[JOB_COLUMNS]


def _failed_alerts(store: Store) -> pd.DataFrame:
    rows = []
    for row in store.list_outbox(status="failed", limit=50):
        try:
            title = str(json.loads(row["message"]).get("title", ""))
        except (ValueError, AttributeError):
            title = ""
        rows.append({"id": row["id"], "route": row["route"], "receiver": row["receiver"], "title": title,
                     "attempts": row["attempts"], "created_at": row["created_at"], "last_error": row["last_error"]})  # fmt: skip
    return pd.DataFrame(rows, columns=["id", "route", "receiver", "title", "attempts", "created_at", "last_error"])


def operations(store: Store, width: int, now: datetime) -> Operations:
    """Load the page; ``width`` is the stored bucket width (lag counts from a bucket's end)."""
    lease = store.current_lease(LEADER_NAME, now)
    leader = None if lease is None else {"holder": lease.holder, "token": lease.token, "since": lease.acquired_at,
                                         "expires_at": lease.expires_at}  # fmt: skip
    history = _runs(store.job_runs(limit=300))
    errors = history[history["status"].isin(["error", "partial", "missed"])] if not history.empty else history
    return Operations(_sources(store, width, now), _rejects(store), _runs(store.last_job_runs()), history,
                      errors.reset_index(drop=True), leader, _failed_alerts(store))  # fmt: skip

"""Rollups and retention.

* :func:`roll_up` rebuilds the hour and day rollups (:mod:`storage.rollups`) of the raw buckets
  written since the previous successful run (with an hour of overlap for late events); the first
  run covers everything the raw retention keeps.
* :func:`expire` applies the retention of each resolution (the ``rollups:`` section) and drops
  job runs older than ``worker.keep_job_runs``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitors.config import Config
from monitors.timeutil import parse_duration, to_epoch
from storage import Store

OVERLAP = 3600


def roll_up(store: Store, config: Config, now: datetime, job: str = "rollups") -> tuple[int, str]:
    """Rebuild the rollups of recent raw buckets; returns (hour rows rebuilt, summary)."""
    until = to_epoch(now) + config.bucket_seconds
    raw_keep = config.rollups.seconds().get("raw")
    floor = to_epoch(now) - raw_keep if raw_keep else 0
    last = store.job_runs(job=job, status="ok", limit=1)
    since = max(floor, to_epoch(last[0]["started_at"]) - OVERLAP) if last else floor
    since -= since % 3600
    rows = store.rollup_range(since, until)
    return rows, f"{rows} hour rows rebuilt from raw buckets since {since}"


def expire(store: Store, config: Config, now: datetime) -> tuple[int, str]:
    """Apply retention; returns (rows deleted, summary)."""
    deleted = store.prune_metrics(to_epoch(now), config.rollups.seconds())
    pruned = store.prune_job_runs(now - timedelta(seconds=parse_duration(config.worker.keep_job_runs)))
    total = sum(deleted.values()) + pruned
    parts = [f"{n} {table}" for table, n in sorted(deleted.items()) if n]
    return total, f"deleted {', '.join(parts) or 'nothing'} past retention; {pruned} old job runs"

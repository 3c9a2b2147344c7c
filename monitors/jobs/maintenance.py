"""The maintenance job: roll metrics up to coarser resolutions and expire what the retention
policy no longer keeps.

Rollups and per-resolution retention belong to ``storage.rollups`` (hour and day tables); this
module only calls it — when the installed store has it — and prunes the worker's own run history.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime, timedelta
from typing import Any

from monitors.jobs.config import RetentionConfig
from monitors.timeutil import parse_duration
from storage import Store

log = logging.getLogger(__name__)


def _rollups() -> Any | None:
    try:
        return importlib.import_module("storage.rollups")
    except ModuleNotFoundError:
        return None


def run(store: Store, retention: RetentionConfig, now: datetime) -> tuple[int, str]:
    """Roll up, expire, prune; returns (rows touched, summary)."""
    parts: list[str] = []
    rows = 0
    rollups = _rollups()
    maintain = getattr(rollups, "maintain", None) if rollups else None
    if callable(maintain):
        outcome = maintain(store, now=now, retention={
            "raw": parse_duration(retention.raw), "hour": parse_duration(retention.hourly),
            "day": parse_duration(retention.daily)})  # fmt: skip
        rows += int(getattr(outcome, "rows", 0) or 0)
        parts.append(str(outcome))
    else:
        parts.append("rollups not available in this version")
    pruned = store.prune_job_runs(now - timedelta(seconds=parse_duration(retention.job_runs)))
    rows += pruned
    parts.append(f"{pruned} old job runs pruned")
    return rows, "; ".join(parts)

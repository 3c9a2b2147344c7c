"""The ``worker:`` config section: how often each job runs, the leader lease, retention.

Example::

    worker:
      ingest_every: 1m          # each configured source
      detect_every: 5m
      alerts_every: 1m
      rollups_every: 5m         # hour/day rollups of the newest raw buckets
      maintenance_every: 1h     # retention (see the rollups: section) and old job runs
      weekly_report: "0 8 * * mon"   # crontab (UTC); null turns the weekly latency report off
      leader: auto              # auto (advisory lock on PostgreSQL, lease row on SQLite) | lease | advisory
      lease_ttl: 15s            # a standby takes over at most this long after the leader died
      keep_job_runs: 30d
"""

from __future__ import annotations

from typing import Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import field_validator

from monitors.configbase import StrictModel
from monitors.timeutil import parse_duration


def _duration(value: str) -> str:
    parse_duration(value)
    return value


class WorkerConfig(StrictModel):
    """The ``worker:`` section of the config file."""

    ingest_every: str = "1m"
    customerio_every: str | None = None
    """Defaults to ``customerio.interval``."""
    detect_every: str = "5m"
    alerts_every: str = "1m"
    rollups_every: str = "5m"
    maintenance_every: str = "1h"
    weekly_report: str | None = "0 8 * * mon"
    leader: Literal["auto", "lease", "advisory"] = "auto"
    lease_ttl: str = "15s"
    threads: int = 4
    keep_job_runs: str = "30d"

    _durations = field_validator(
        "ingest_every", "detect_every", "alerts_every", "rollups_every", "maintenance_every", "lease_ttl",
        "keep_job_runs",
    )(_duration)

    @field_validator("customerio_every")
    @classmethod
    def _optional_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("weekly_report")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"weekly_report must be a crontab expression such as '0 8 * * mon': {exc}") from exc
        return value

    @field_validator("threads")
    @classmethod
    def _threads(cls, value: int) -> int:
        if not 1 <= value <= 32:
            raise ValueError("threads must be between 1 and 32")
        return value

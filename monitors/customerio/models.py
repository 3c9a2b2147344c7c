"""Values passed between the collector, the metrics builder and the Store (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STREAM_ALL = "*"
"""Stream key of the unfiltered ``/v1/activities`` stream (no ``type`` filter)."""

FlapKey = tuple[str, str, int]
"""(attribute, pseudonymous person key, UTC day start)."""


def stream_key(activity_type: str | None) -> str:
    """The stream key of an activity type filter (``None`` = every type)."""
    return activity_type or STREAM_ALL


@dataclass(frozen=True)
class ResumePoint:
    """Where the next run stops paging, and which time range the stream covers completely.

    ``boundary_ids`` are the newest ids seen at ``newest_ts``, newest first (several activities
    share a second; a few are kept in case some vanish).
    ``covered_from``/``covered_until`` bound the activity times counted without gaps
    (0 = from the start of the history).
    """

    stream: str
    newest_ts: int
    boundary_ids: tuple[str, ...]
    covered_from: int
    covered_until: int


@dataclass(frozen=True)
class MetricRow:
    """Activity count of one (type, name, bucket); latency fields only for ``event`` rows."""

    atype: str
    name: str
    bucket_start: int
    count: int
    estimated: bool = False
    sample_rate: float = 1.0
    latency_n: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0


@dataclass
class FlapState:
    """One person's changes of one attribute during one UTC day (values kept only as hashes)."""

    changes: int = 0
    reversals: int = 0
    last_from: str | None = None
    last_to: str | None = None
    flagged: bool = False


@dataclass
class StreamRead:
    """What one run read from one stream: activities newest first and how the paging ended.

    ``stop`` is ``resume`` (reached what earlier runs saw), ``end`` (end of the history),
    ``backfill`` (older than the first-run horizon) or ``budget`` (ran out of requests).
    """

    stream: str
    activities: list[dict[str, Any]]
    stop: str
    pages: int
    previous: ResumePoint | None

    @property
    def complete(self) -> bool:
        """Whether everything since the previous resume point was read (not cut by the budget or
        by the worker stopping)."""
        return self.stop not in ("budget", "stopped")


@dataclass
class RunStats:
    """One collection run, as recorded in ``cio_runs`` and summarised by ``customerio status``."""

    started_at: datetime
    finished_at: datetime | None = None
    status: str = "ok"
    message: str = ""
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    pages: int = 0
    activities: int = 0
    complete: bool = True
    sample_rate: float = 1.0


@dataclass
class CollectionResult:
    """Everything one successful run commits in one transaction."""

    workspace: str
    rows: list[MetricRow]
    resume: list[ResumePoint]
    flap_states: dict[FlapKey, FlapState] = field(default_factory=dict)
    run: RunStats | None = None

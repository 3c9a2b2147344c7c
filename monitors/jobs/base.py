"""The job contract and the run recorder.

A :class:`Job` is a name, when it runs (``every`` seconds or a ``cron`` expression in UTC) and a
function ``run(ctx) -> JobResult`` that calls one pipeline function. :func:`execute` runs a job
once and records it in ``job_runs`` (start, end, status, rows, message, error); a job that raises
is recorded as ``error`` and never takes the worker down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from monitors.config import Config
from monitors.errors import EHMError
from monitors.redact import redact_text
from monitors.timeutil import utcnow
from storage import Store

log = logging.getLogger(__name__)
ERROR_LIMIT = 2000


@dataclass(frozen=True)
class JobResult:
    """What a run did: rows handled, a one-line summary, ``ok`` / ``partial`` / ``skipped``."""

    rows: int = 0
    message: str = ""
    status: str = "ok"
    error: str | None = None


@dataclass
class JobContext:
    """What a job may use: the store, the config, the clock and the worker's stop flag."""

    store: Store
    config: Config
    clock: Callable[[], datetime] = utcnow
    stop: threading.Event = field(default_factory=threading.Event)
    cache: dict[str, object] = field(default_factory=dict)
    """Long-lived objects a job keeps between runs (e.g. an HTTP client); closed by the worker."""


@dataclass(frozen=True)
class Job:
    """A scheduled job: ``every`` seconds (first run at once) or on ``cron`` (crontab, UTC)."""

    name: str
    run: Callable[[JobContext], JobResult]
    every: int | None = None
    cron: str | None = None
    grace: int = 60
    """Seconds a run may start late (APScheduler ``misfire_grace_time``); later runs are missed."""


@dataclass(frozen=True)
class Runner:
    """Who runs jobs: the worker id, its leader fencing token, and a guard checked before each run."""

    worker: str
    token: int | None = None
    guard: Callable[[], bool] = lambda: True


def describe(exc: BaseException) -> str:
    """A one-line, redacted error for the run record: our errors say what to do, others name their type."""
    text = str(exc) if isinstance(exc, EHMError) else f"{type(exc).__name__}: {exc}"
    return redact_text(" ".join(text.split()), ERROR_LIMIT)


def execute(job: Job, ctx: JobContext, runner: Runner, scheduled_at: datetime | None = None) -> JobResult | None:
    """Run ``job`` once and record it; ``None`` when the guard refused (no longer the leader)."""
    if not runner.guard():
        log.warning("job %s not started: this worker is no longer the leader", job.name)
        return None
    store = ctx.store
    run_id = store.start_job_run(job.name, worker=runner.worker, token=runner.token, started_at=ctx.clock(),
                                 scheduled_at=scheduled_at)  # fmt: skip
    try:
        result = job.run(ctx)
    except Exception as exc:  # a job failure is data, never a crash of the worker
        log.exception("job %s failed", job.name)
        result = JobResult(status="error", error=describe(exc))
    store.finish_job_run(run_id, finished_at=ctx.clock(), status=result.status, rows=result.rows,
                         message=result.message[:ERROR_LIMIT] or None, error=result.error)  # fmt: skip
    log.info("job %s: %s %s", job.name, result.status, result.message or result.error or "")
    return result

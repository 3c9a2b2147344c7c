"""The worker: APScheduler 3 wiring only. Every worker process runs the same code; the one that
holds the leadership (:mod:`monitors.jobs.leader`) runs the scheduler, the others wait as
standbys and take over when the leader dies or steps down.

* Jobs live in memory (no pickled job store): durable state is in our tables (resume points,
  detector state, the alert outbox), so a new leader simply catches up.
* ``coalesce=True`` and ``max_instances=1`` for every job; ``misfire_grace_time`` is the job's
  interval (a day's worth of hours for the weekly report). Interval jobs run at once when a
  worker becomes leader; a cron job whose last fire time has no successful run yet does too.
* Every run is recorded in ``job_runs`` (:func:`monitors.jobs.base.execute`), with the leader's
  fencing token; missed and skipped runs too.
* Before each run the worker checks it still leads (renewing its lease), so a deposed leader
  never starts a job its successor may also run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitors.config import Config
from monitors.jobs.base import Job, JobContext, JobResult, Runner, execute
from monitors.jobs.leader import Leadership
from monitors.timeutil import utcnow
from storage import Store

log = logging.getLogger(__name__)


def trigger_of(job: Job) -> BaseTrigger:
    """The APScheduler trigger of a job (UTC)."""
    if job.every:
        return IntervalTrigger(seconds=job.every, timezone=UTC)
    if job.cron:
        return CronTrigger.from_crontab(job.cron, timezone=UTC)
    raise ValueError(f"job {job.name} has neither `every` nor `cron`")


def previous_fire(trigger: BaseTrigger, now: datetime, lookback: timedelta = timedelta(days=8)) -> datetime | None:
    """The last time ``trigger`` fired at or before ``now`` (within ``lookback``)."""
    last, cursor = None, now - lookback
    while True:
        fire = trigger.get_next_fire_time(last, cursor)
        if fire is None or fire > now:
            return last
        last, cursor = fire, fire + timedelta(seconds=1)


class Worker:
    """Leader election around a :class:`BackgroundScheduler` running ``jobs``."""

    def __init__(
        self, store: Store, config: Config, jobs: Sequence[Job], leadership: Leadership, *,
        clock: Callable[[], datetime] = utcnow, poll: float = 1.0, heartbeat: float | None = None,
    ) -> None:  # fmt: skip
        self.store, self.config, self.jobs, self.leadership = store, config, list(jobs), leadership
        self.clock, self.poll = clock, poll
        ttl = float(getattr(leadership, "ttl", 3.0))
        self.heartbeat = heartbeat if heartbeat is not None else max(0.2, min(poll, ttl / 3))
        self.ctx = JobContext(store, config, clock)
        self.leading = threading.Event()
        self._lock = threading.Lock()

    @property
    def worker_id(self) -> str:
        """This worker's holder id."""
        return self.leadership.holder

    # -- leadership ------------------------------------------------------------------------------

    def still_leading(self) -> bool:
        """Checked before each run: leading, and the leadership still holds in the database."""
        if not self.leading.is_set():
            return False
        with self._lock:
            ok = self.leadership.renew(self.clock())
        if not ok:
            self.leading.clear()
        return ok

    def run(self, stop: threading.Event) -> None:
        """Stand by or lead until ``stop`` is set; then step down cleanly."""
        log.info("worker %s started (%d jobs)", self.worker_id, len(self.jobs))
        try:
            while not stop.is_set():
                with self._lock:
                    won = self.leadership.acquire(self.clock())
                if won:
                    self._lead(stop)
                else:
                    stop.wait(self.poll)
        finally:
            with self._lock:
                self.leadership.release()
            self.close()
            log.info("worker %s stopped", self.worker_id)

    def _lead(self, stop: threading.Event) -> None:
        runner = Runner(self.worker_id, self.leadership.token, self.still_leading)
        self.leading.set()
        scheduler = self._scheduler(runner)
        scheduler.start()
        log.info("worker %s is the leader (token %s)", self.worker_id, runner.token)
        try:
            while not stop.wait(self.heartbeat):
                with self._lock:
                    held = self.leadership.renew(self.clock())
                if not held:
                    log.warning("worker %s lost the leadership; back to standby", self.worker_id)
                    break
        finally:
            self.leading.clear()
            if stop.is_set():  # running jobs that page through an API end at the next page (JobContext.stop)
                self.ctx.stop.set()
            scheduler.shutdown(wait=stop.is_set())

    # -- scheduling ------------------------------------------------------------------------------

    def _scheduler(self, runner: Runner) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(self.config.worker.threads)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        now = datetime.now(UTC)
        for job in self.jobs:
            trigger = trigger_of(job)
            extra: dict[str, Any] = {}
            if job.every or self._cron_due(job, trigger, now):
                extra["next_run_time"] = now
            scheduler.add_job(self._run, trigger, args=[job, runner], id=job.name, name=job.name,
                              misfire_grace_time=job.every or job.grace, **extra)  # fmt: skip
        scheduler.add_listener(lambda ev: self._on_event(ev, runner), EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        return scheduler

    def _cron_due(self, job: Job, trigger: BaseTrigger, now: datetime) -> bool:
        fired = previous_fire(trigger, now)
        if fired is None or now - fired > timedelta(seconds=job.grace):
            return False
        done = self.store.job_runs(job=job.name, status=["ok", "skipped"], since=fired, limit=1)
        return not done

    def _run(self, job: Job, runner: Runner) -> None:
        execute(job, self.ctx, runner)

    def _on_event(self, event: JobEvent, runner: Runner) -> None:
        status = "missed" if event.code == EVENT_JOB_MISSED else "skipped"
        why = "started too late (worker busy or paused)" if status == "missed" else "the previous run was still going"
        due = getattr(event, "scheduled_run_time", None)
        try:
            self.store.record_job_event(event.job_id, worker=runner.worker, token=runner.token, at=self.clock(),
                                        status=status, message=why, scheduled_at=due)  # fmt: skip
        except Exception:  # never let bookkeeping kill the scheduler thread
            log.exception("could not record a %s run of %s", status, event.job_id)

    # -- one-shot --------------------------------------------------------------------------------

    def run_once(self, names: Sequence[str] | None = None) -> dict[str, JobResult | None]:
        """Run the named jobs (all when ``names`` is empty) once, now, in order; recorded as usual."""
        chosen = [j for j in self.jobs if not names or j.name in names]
        runner = Runner(self.worker_id, None)
        return {job.name: execute(job, self.ctx, runner) for job in chosen}

    def close(self) -> None:
        """Close what jobs kept between runs (HTTP clients)."""
        for value in self.ctx.cache.values():
            closer = getattr(value, "close", None)
            if callable(closer):
                with contextlib.suppress(Exception):
                    closer()
        self.ctx.cache.clear()

"""The worker: runs recorded, jobs from the config, and a single leader — kill the leader, the
standby takes over, no job runs twice (real processes, SQLite lease and PostgreSQL advisory lock)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from monitors.config import parse_config
from monitors.jobs.base import Job, JobContext, JobResult, Runner, execute
from monitors.jobs.catalog import build_jobs
from monitors.jobs.leader import LEADER_NAME, LeaseLeadership
from monitors.timeutil import utcnow
from monitors.worker import Worker, previous_fire, trigger_of
from storage import Store
from storage.tables_warehouse import leases

WORKER_CONFIG = "worker: {alerts_every: 1s, detect_every: 1h, rollups_every: 1h, maintenance_every: 1h, weekly_report: null, lease_ttl: 2s}\n"


def ok_job(ctx: JobContext) -> JobResult:
    return JobResult(7, "seven rows")


def failing_job(ctx: JobContext) -> JobResult:
    raise RuntimeError("cannot reach ann@example.com's mailbox")


def test_a_run_is_recorded_with_rows_message_worker_and_token(store: Store) -> None:
    ctx = JobContext(store, parse_config({}))
    result = execute(Job("probe", ok_job, every=60), ctx, Runner("worker:a", token=4))
    assert result == JobResult(7, "seven rows")
    (run,) = store.job_runs()
    assert (run["job"], run["status"], run["rows"], run["message"], run["worker"], run["token"]) == (
        "probe", "ok", 7, "seven rows", "worker:a", 4)
    assert run["finished_at"] >= run["started_at"]


def test_a_failing_job_is_recorded_as_an_error_with_a_redacted_message(store: Store) -> None:
    ctx = JobContext(store, parse_config({}))
    result = execute(Job("probe", failing_job, every=60), ctx, Runner("worker:a"))
    assert result is not None and result.status == "error"
    (run,) = store.job_runs()
    assert (run["status"], run["error"]) == ("error", "RuntimeError: cannot reach a***@example.com's mailbox")


def test_a_deposed_leader_starts_nothing(store: Store) -> None:
    ctx = JobContext(store, parse_config({}))
    assert execute(Job("probe", ok_job, every=60), ctx, Runner("worker:a", guard=lambda: False)) is None
    assert store.job_runs() == []


def test_jobs_come_from_the_config() -> None:
    config = parse_config({
        "sources": [{"name": "web", "paths": ["logs/"]}, {"name": "app", "paths": ["app/"]}],
        "customerio": {"workspace": "w", "interval": "2m"},
        "worker": {"weekly_report": None, "detect_every": "10m"},
    })  # fmt: skip
    jobs = {j.name: j for j in build_jobs(config)}
    assert list(jobs) == ["ingest:web", "ingest:app", "customerio", "detect", "alerts", "rollups", "maintenance"]
    assert (jobs["ingest:web"].every, jobs["customerio"].every, jobs["detect"].every) == (60, 120, 600)
    weekly = {j.name: j for j in build_jobs(parse_config({}))}["weekly_report"]
    assert weekly.cron == "0 8 * * mon" and weekly.grace == 6 * 3600


def test_previous_fire_of_the_weekly_cron() -> None:
    trigger = trigger_of(Job("weekly_report", ok_job, cron="0 8 * * mon"))
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
    assert previous_fire(trigger, now) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_a_missed_weekly_report_runs_when_a_worker_becomes_leader(store: Store) -> None:
    config = parse_config({})
    job = Job("weekly_report", ok_job, cron="0 8 * * mon", grace=6 * 3600)
    worker = Worker(store, config, [job], LeaseLeadership(store, "worker:a", 2.0))
    monday = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert worker._cron_due(job, trigger_of(job), monday)  # fired at 08:00, nobody ran it
    assert not worker._cron_due(job, trigger_of(job), monday + timedelta(hours=7))  # past the grace
    store.finish_job_run(store.start_job_run("weekly_report", worker="w", started_at=monday - timedelta(minutes=20)),
                         finished_at=monday, status="ok")  # fmt: skip
    assert not worker._cron_due(job, trigger_of(job), monday)


def _running(worker: Worker) -> tuple[threading.Event, threading.Thread]:
    """``worker`` running in a thread of its own, and the event that stops it."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def test_a_worker_whose_lease_is_taken_stops_running_jobs(sqlite_url: str) -> None:
    store = Store.from_url(sqlite_url)
    store.migrate()
    config = parse_config({"worker": {"lease_ttl": "2s"}})
    worker = Worker(store, config, [Job("probe", ok_job, every=1)], LeaseLeadership(store, "worker:a", 2.0), poll=0.2)
    stop, thread = _running(worker)
    try:
        _wait(lambda: len(store.job_runs()) >= 2, 10)
        # taken over in one statement (forgetting it first let the worker take it back, now and then,
        # before the thief did)
        with store.engine.begin() as conn:
            moved = conn.execute(update(leases).where(leases.c.name == LEADER_NAME).values(
                holder="worker:thief", token=leases.c.token + 1, expires_at=utcnow() + timedelta(seconds=60)))  # fmt: skip
        assert moved.rowcount == 1
        taken = utcnow()
        _wait(lambda: not worker.leading.is_set(), 5)
        time.sleep(1.5)
        assert [r for r in store.job_runs() if r["started_at"] > taken + timedelta(seconds=0.5)] == []
    finally:
        stop.set()
        thread.join(10)
        store.dispose()
    assert not thread.is_alive()


def test_stopping_the_worker_tells_a_running_job(sqlite_url: str) -> None:
    """A job that pages through an API (the Customer.io collector) checks ``ctx.stop`` between pages:
    the worker sets it when told to stop, so a stop waits for one page, not for the whole run."""
    store = Store.from_url(sqlite_url)
    store.migrate()
    started = threading.Event()

    def paging_job(ctx: JobContext) -> JobResult:
        started.set()
        pages = 0
        while not ctx.stop.is_set() and pages < 600:  # 60 s of pages at the App API's 10 requests/s
            time.sleep(0.1)
            pages += 1
        return JobResult(pages, "stopped early" if ctx.stop.is_set() else "read everything")

    config = parse_config({"worker": {"lease_ttl": "2s"}})
    worker = Worker(store, config, [Job("paging", paging_job, every=3600)], LeaseLeadership(store, "worker:a", 2.0), poll=0.2)
    stop, thread = _running(worker)
    try:
        assert started.wait(10)
        time.sleep(0.3)
        told = time.monotonic()
        stop.set()
        thread.join(10)
        assert not thread.is_alive() and time.monotonic() - told < 2.0
        (run,) = store.job_runs()
        assert (run["job"], run["status"], run["message"]) == ("paging", "ok", "stopped early") and run["rows"] < 50
    finally:
        stop.set()
        thread.join(10)
        store.dispose()


# -- real processes ----------------------------------------------------------------------------


def _wait(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _start(url: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EHM_")}
    with log.open("ab") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "monitors", "worker", "--config", str(config), "--db", url,
                                 "--poll", "0.2"], env=env, stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip


def _runs_by(store: Store, worker: str) -> list[dict[str, Any]]:
    return [r for r in store.job_runs(limit=None) if r["worker"] == worker]


@pytest.mark.slow
def test_kill_the_leader_and_the_standby_takes_over_without_double_runs(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text(WORKER_CONFIG, encoding="utf-8")
    store = Store.from_url(db_url)
    store.migrate()
    leader = _start(db_url, config, tmp_path / "leader.log")
    standby = None
    try:
        _wait(lambda: len(store.job_runs(job="alerts")) >= 2, 20)
        first = store.job_runs(limit=1)[0]["worker"]
        standby = _start(db_url, config, tmp_path / "standby.log")
        time.sleep(2.5)  # the standby is up and polling
        assert {r["worker"] for r in store.job_runs(limit=None)} == {first}
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        killed = utcnow()
        _wait(lambda: any(r["worker"] != first for r in store.job_runs(limit=None)), 15)
        _wait(lambda: len([r for r in store.job_runs(job="alerts") if r["worker"] != first]) >= 2, 10)
        runs = store.job_runs(limit=None)
        second = next(r["worker"] for r in runs if r["worker"] != first)
        took_over = min(r["started_at"] for r in _runs_by(store, second))
        assert (took_over - killed).total_seconds() < (3.5 if store.dialect == "sqlite" else 1.5)
        assert max(r["started_at"] for r in _runs_by(store, first)) < killed
        _assert_no_overlap(runs, killed)
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(20) == 0
        # each says when it leads (the standby only once it took over), and the standby that it stopped
        leader_log, standby_log = (tmp_path / "leader.log").read_text(), (tmp_path / "standby.log").read_text()
        assert f"worker {first} is the leader" in leader_log and f"worker {second} is the leader" in standby_log
        assert standby_log.index("waiting for the leadership") < standby_log.index("is the leader")
        assert f"worker {second} stopped" in standby_log
        if store.dialect == "sqlite":  # the lease: a higher fencing token for the new leader; released on exit
            tokens = {r["worker"]: r["token"] for r in runs}
            assert tokens[second] == tokens[first] + 1
            assert store.current_lease(LEADER_NAME, utcnow()) is None
    finally:
        for proc in (leader, standby):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        store.dispose()


def _assert_no_overlap(runs: list[dict[str, Any]], killed: datetime) -> None:
    """Runs of one job never overlap in time (a run cut by the kill ends at the kill)."""
    by_job: dict[str, list[tuple[datetime, datetime]]] = {}
    for r in runs:
        by_job.setdefault(r["job"], []).append((r["started_at"], r["finished_at"] or killed))
    for job, spans in by_job.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"{job} ran twice at once around {start}"

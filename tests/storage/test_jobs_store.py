"""JobsStore: job runs on SQLite and PostgreSQL, and no other mixin shadows its methods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import Store
from storage.jobs_store import JobsStore

T = datetime(2026, 11, 28, 12, tzinfo=UTC)


def test_no_other_mixin_shadows_or_is_shadowed_by_jobs_store() -> None:
    mine = [name for name in vars(JobsStore) if not name.startswith("__")]
    assert mine and all(getattr(Store, name) is getattr(JobsStore, name) for name in mine)
    others = [cls for cls in Store.__mro__ if cls not in (Store, JobsStore, object)]
    assert [(cls.__name__, name) for cls in others for name in mine if name in vars(cls)] == []


def test_runs_are_recorded_listed_and_pruned(store: Store) -> None:
    old = store.start_job_run("detect", worker="w1", token=1, started_at=T - timedelta(days=40))
    store.finish_job_run(old, finished_at=T - timedelta(days=40), status="ok", rows=1)
    run = store.start_job_run("detect", worker="w1", token=2, started_at=T)
    store.record_job_event("alerts", worker="w1", at=T, status="skipped", message="the previous run was still going")
    assert [r["status"] for r in store.job_runs()] == ["skipped", "running", "ok"]
    store.finish_job_run(run, finished_at=T + timedelta(seconds=3), status="error", error="boom")
    last = {r["job"]: (r["status"], r["error"], r["token"]) for r in store.last_job_runs()}
    assert last == {"alerts": ("skipped", None, None), "detect": ("error", "boom", 2)}
    assert [r["id"] for r in store.job_runs(job="detect", status=["error"], since=T)] == [run]
    assert store.prune_job_runs(T - timedelta(days=30)) == 1
    assert len(store.job_runs(limit=None)) == 2

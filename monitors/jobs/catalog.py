"""The jobs a config asks for, with their schedules."""

from __future__ import annotations

from functools import partial

from monitors.config import Config
from monitors.jobs import tasks
from monitors.jobs.base import Job
from monitors.timeutil import parse_duration


def build_jobs(config: Config) -> list[Job]:
    """Ingest per source, Customer.io (when configured), detect, alerts, rollups, maintenance, weekly report."""
    w = config.worker
    jobs = [
        Job(f"ingest:{s.name}", partial(tasks.run_ingest, source=s), every=parse_duration(w.ingest_every))
        for s in config.sources
    ]
    if config.customerio is not None:
        every = parse_duration(w.customerio_every or config.customerio.interval)
        jobs.append(Job("customerio", tasks.run_customerio, every=every))
    jobs += [
        Job("detect", tasks.run_detect, every=parse_duration(w.detect_every)),
        Job("alerts", tasks.run_alerts, every=parse_duration(w.alerts_every)),
        Job("rollups", tasks.run_rollups, every=parse_duration(w.rollups_every)),
        Job("maintenance", tasks.run_maintenance, every=parse_duration(w.maintenance_every), grace=600),
    ]
    if w.weekly_report:
        jobs.append(Job("weekly_report", tasks.run_weekly_report, cron=w.weekly_report, grace=6 * 3600))
    return jobs

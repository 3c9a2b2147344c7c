"""``worker``: run the scheduled jobs (ingest, Customer.io, detect, alerts, maintenance, weekly
report) under a single leader; start as many as you like — standbys take over when the leader dies.

``--once [JOB …]`` runs jobs one time now and exits (cron, CI); ``--list`` prints the schedule.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from monitors.commands._common import (
    add_config_args,
    add_format_arg,
    config_of,
    duration_flag,
    open_store,
    write_records,
)
from monitors.errors import InputError
from monitors.jobs.catalog import build_jobs
from monitors.jobs.leader import make_leadership
from monitors.timeutil import format_duration
from monitors.worker import Worker
from storage.leases_store import new_holder_id


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    parser = sub.add_parser("worker", help="run the scheduled jobs under a single leader (Ctrl-C stops)")
    add_config_args(parser)
    parser.add_argument("--once", nargs="*", metavar="JOB", help="run these jobs (default: all) once now, then exit")
    parser.add_argument("--list", action="store_true", help="print the jobs and their schedules, then exit")
    parser.add_argument("--lease-ttl", metavar="DURATION", help="override worker.lease_ttl (e.g. 3s)")
    parser.add_argument("--poll", type=float, default=1.0, help="standby poll interval in seconds (default 1)")
    add_format_arg(parser)
    parser.set_defaults(func=run)


def _stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


def run(args: argparse.Namespace) -> int:
    """Lead or stand by until SIGTERM / Ctrl-C; or ``--once`` / ``--list``."""
    config = config_of(args)
    jobs = build_jobs(config)
    if args.list:
        write_records([{"job": j.name, "every": format_duration(j.every) if j.every else None, "cron": j.cron}
                       for j in jobs], args.format)  # fmt: skip
        return 0
    names = [j.name for j in jobs]
    unknown = [n for n in args.once or [] if n not in names]
    if unknown:
        raise InputError(f"no job {', '.join(unknown)} (jobs: {', '.join(names)})")
    ttl = float(duration_flag("--lease-ttl", args.lease_ttl or config.worker.lease_ttl))
    store = open_store(args, config, migrate=True)
    leadership = make_leadership(store, config.worker.leader, new_holder_id("worker"), ttl)
    worker = Worker(store, config, jobs, leadership, poll=args.poll)
    if args.once is not None:
        results = worker.run_once(args.once)
        worker.close()
        write_records([{"job": n, "status": r.status if r else "not run", "rows": r.rows if r else 0,
                        "message": r.message if r else "", "error": r.error if r else None}
                       for n, r in results.items()], args.format)  # fmt: skip
        return 1 if any(r is not None and r.status == "error" for r in results.values()) else 0
    stop = threading.Event()
    _stop_on_signals(stop)
    # its start, its stop and every change of leadership are in its log, whatever the log level (a
    # standby's last line "waiting for the leadership" read the same as a leader's)
    logging.getLogger("monitors.worker").setLevel(logging.INFO)
    print(f"worker {worker.worker_id}: {len(jobs)} jobs on {store.url}; waiting for the leadership", file=sys.stderr)
    worker.run(stop)
    return 0

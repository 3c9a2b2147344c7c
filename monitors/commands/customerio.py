"""``customerio``: read Customer.io activity (``collect``), show collector health (``status``),
compare sent with received (``reconcile``), validate the section (``check-config``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from monitors.commands._common import add_config_args, add_format_arg, config_of, open_store, write_records
from monitors.config import Config
from monitors.customerio.checks import config_problems
from monitors.customerio.client import AppAPIClient
from monitors.customerio.config import CustomerIOConfig
from monitors.customerio.job import collect_once, reconcile_once
from monitors.customerio.models import RunStats
from monitors.errors import AuthError, ConfigError
from monitors.timeutil import iso, utcnow


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command group."""
    parser = sub.add_parser("customerio", help="Customer.io activity: collect, status, reconcile")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    collect = actions.add_parser("collect", help="read new activities once and store their metrics")
    add_config_args(collect)
    collect.add_argument("--budget", type=int, help="page requests for this run (default: config)")
    collect.set_defaults(func=run_collect)
    status = actions.add_parser("status", help="collector health per workspace and the latest runs")
    add_config_args(status)
    add_format_arg(status, default="text", choices=("text", "json", "csv"))
    status.set_defaults(func=run_status)
    rec = actions.add_parser("reconcile", help="sent vs received per event: store ratios, print findings")
    add_config_args(rec)
    add_format_arg(rec)
    rec.set_defaults(func=run_reconcile)
    check = actions.add_parser("check-config", help="validate the customerio section and its key variable")
    add_config_args(check, db=False)
    check.add_argument("--no-env", action="store_true", help="do not require the App API key variable")
    check.set_defaults(func=run_check)


def section(config: Config) -> CustomerIOConfig:
    """The ``customerio:`` section, or a ConfigError saying how to add it."""
    if config.customerio is None:
        raise ConfigError("no `customerio:` section in the config — add at least `workspace:` and `region:` "
                          "(see docs/customerio.md)")
    return config.customerio


def run_check(args: argparse.Namespace) -> int:
    """Validate without side effects; problems end with a ConfigError listing them."""
    config = config_of(args)
    cio = section(config)
    problems = config_problems(config, os.environ, check_env=not args.no_env)
    if problems:
        raise ConfigError("customerio config problems:\n  " + "\n  ".join(problems))
    types = ", ".join(cio.activity_types) or "all types in one stream"
    print(f"customerio config OK: workspace {cio.workspace} at {cio.api_url}, key from {cio.app_api_key_env}, "
          f"reading {types}, budget {cio.budget} pages per run")
    return 0


def run_collect(args: argparse.Namespace) -> int:
    """One collection run."""
    config = config_of(args)
    cio = section(config)
    if args.budget is not None:
        if args.budget < 1:
            raise ConfigError("--budget must be at least 1")
        cio = cio.model_copy(update={"budget": args.budget})
    store = open_store(args, config, migrate=True)
    try:
        client = AppAPIClient.from_config(cio)
    except AuthError as exc:
        now = utcnow()
        store.record_customerio_failure(cio.workspace, "auth_error",
                                        RunStats(started_at=now, finished_at=now, status="auth_error",
                                                 message=str(exc), complete=False), now)
        raise
    try:
        run = collect_once(cio, store, client, bucket=config.bucket_seconds)
    finally:
        client.close()
    print(f"{cio.workspace}: {run.message}; {run.requests} requests, {run.rate_limited} rate-limited")
    return 0


def _text_status(health: list[dict[str, Any]], runs: list[dict[str, Any]]) -> None:
    if not health:
        print("no Customer.io collection has run yet — run `python -m monitors customerio collect`")
    for row in health:
        success = iso(row["last_success_at"]) if row["last_success_at"] else "never"
        print(f"{row['workspace']}: {row['status']} — {row['message']}")
        print(f"  last success {success}; {row['requests']} requests, {row['rate_limited']} rate-limited")
    for run in runs[:5]:
        estimated = run["status"] == "ok" and not run["complete"]
        flag = f" (estimated, sample rate {run['sample_rate']:.2f})" if estimated else ""
        print(f"  {iso(run['started_at'])} {run['status']}: {run['message']}{flag}")


def run_status(args: argparse.Namespace) -> int:
    """Print health and recent runs."""
    store = open_store(args, config_of(args))
    health, runs = store.customerio_health(), store.customerio_runs(limit=20)
    if args.format == "text":
        _text_status(health, runs)
    else:
        write_records(health, args.format)
    return 0


def run_reconcile(args: argparse.Namespace) -> int:
    """Reconcile, store the delivery metrics and print the findings."""
    config = config_of(args)
    cio = section(config)
    store = open_store(args, config, migrate=True)
    result = reconcile_once(cio, store, bucket=config.bucket_seconds)
    records = [{"kind": f.kind, "severity": f.severity.value, "event": f.event, "source": f.source,
                "started_at": iso(f.started_at), "ended_at": iso(f.ended_at) if f.ended_at else None,
                "title": f.title, "observed": f.observed, "expected": f.expected} for f in result.findings]
    write_records(records, args.format)
    return 0

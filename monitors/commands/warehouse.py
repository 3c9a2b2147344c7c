"""``warehouse``: collect warehouse sources (one-shot, for cron / Kubernetes CronJobs), show their
state, print their SQL, rebuild rollups and apply retention.

    python -m monitors warehouse collect --source web-warehouse     # one source (skipped if leased)
    python -m monitors warehouse collect --all                      # every source not held elsewhere
    python -m monitors warehouse status
    python -m monitors warehouse sql --source web-warehouse [--dialect bigquery]
    python -m monitors warehouse rollup --since 7d
    python -m monitors warehouse prune
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlalchemy.dialects import registry

from monitors.commands._common import add_config_args, config_of, duration_flag, open_store, write_records
from monitors.config import Config
from monitors.errors import ConfigError
from monitors.plan import load_plan
from monitors.timeutil import iso, to_epoch, utcnow
from monitors.warehouse import aggregate, sqlbuild
from monitors.warehouse.collector import (
    CollectReport,
    WarehouseCollector,
    collect_source,
    plan_window,
    reflect,
    warehouse_engine,
)
from monitors.warehouse.config import WarehouseSourceConfig


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command and its subcommands."""
    p = sub.add_parser(
        "warehouse", help="warehouse sources: push-down collection, state, SQL, rollups, retention"
    )
    wsub = p.add_subparsers(dest="warehouse_cmd", required=True)
    c = wsub.add_parser(
        "collect", help="collect one source (or --all) once; a source leased by another worker is skipped"
    )
    add_config_args(c)
    who = c.add_mutually_exclusive_group(required=True)
    who.add_argument("--source", help="the warehouse source (name in `warehouses:`)")
    who.add_argument("--all", action="store_true", help="every configured warehouse source")
    c.add_argument(
        "--plan", metavar="FILE", help="tracking plan (default: config, else the built-in D2C plan)"
    )
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.set_defaults(func=run_collect)
    s = wsub.add_parser("status", help="watermark, live window and lease of every warehouse source")
    add_config_args(s)
    s.add_argument("--format", choices=("json", "csv"), default="json")
    s.set_defaults(func=run_status)
    q = wsub.add_parser("sql", help="print the aggregate SQL of a source (reads its table list)")
    add_config_args(q)
    q.add_argument("--source", required=True)
    q.add_argument(
        "--dialect", help="compile for this dialect instead (bigquery, snowflake, trino, redshift, …)"
    )
    q.add_argument("--plan", metavar="FILE")
    q.set_defaults(func=run_sql)
    r = wsub.add_parser("rollup", help="rebuild the hour/day rollups of a recent range (backfills)")
    add_config_args(r)
    r.add_argument("--since", default="2d", help="how far back, e.g. 2d (default)")
    r.set_defaults(func=run_rollup)
    pr = wsub.add_parser(
        "prune", help="delete buckets older than each resolution's retention (config `rollups:`)"
    )
    add_config_args(pr)
    pr.set_defaults(func=run_prune)


def _source(config: Config, name: str) -> WarehouseSourceConfig:
    for src in config.warehouses:
        if src.name == name:
            return src
    known = ", ".join(s.name for s in config.warehouses) or "none configured"
    raise ConfigError(f"no warehouse source {name!r} in the config ({known}) — add it under `warehouses:`")


def _line(r: CollectReport) -> str:
    if r.status == "skipped":
        return f"{r.source}: skipped ({r.error})"
    if r.status == "error":
        return f"{r.source}: error: {r.error}"
    return (f"{r.source}: {r.events:,} events in {r.keys:,} buckets from {len(r.tables)} table(s), "
            f"{r.queries} queries, {r.rows_out:,} rows / {r.bytes_out / 1e3:,.1f} kB moved in {r.seconds:.2f}s; "
            f"watermark {r.watermark or '-'}")  # fmt: skip


def run_collect(args: argparse.Namespace) -> int:
    """Collect and print one line (or a JSON record) per source; exit 1 when a source failed."""
    config = config_of(args)
    sources = config.warehouses if args.all else [_source(config, args.source)]
    if not sources:
        raise ConfigError("no warehouse sources configured — add them under `warehouses:`")
    store = open_store(args, config, migrate=True)
    plan = load_plan(args.plan or config.plan)
    reports: list[CollectReport] = []
    try:
        for src in sources:
            try:
                reports.append(collect_source(store, src, plan, bucket_seconds=config.bucket_seconds))
            except ConfigError:
                raise
            except Exception as exc:  # one failing source never stops the others
                reports.append(CollectReport(src.name, status="error", error=f"{type(exc).__name__}: {exc}"))
    finally:
        store.dispose()
    if args.format == "json":
        json.dump([r.__dict__ for r in reports], sys.stdout, indent=2, default=str)
        print()
    else:
        for r in reports:
            print(_line(r), file=sys.stderr if r.status == "error" else sys.stdout)
    return 1 if any(r.status == "error" for r in reports) else 0


def run_status(args: argparse.Namespace) -> int:
    """Print the state of every configured source."""
    config = config_of(args)
    store = open_store(args, config)
    now = utcnow()
    records: list[dict[str, Any]] = []
    for src in config.warehouses:
        state = store.warehouse_state(src.name) or {}
        lease = store.current_lease(f"warehouse:{src.name}", now)
        records.append({
            "source": src.name, "environment": src.environment, "runs": state.get("runs", 0),
            "watermark": iso(state["watermark"]) if state.get("watermark") else None,
            "live_from": iso(int(state["live_from"])) if "live_from" in state else None,
            "leased_by": lease.holder if lease else None, "lease_token": lease.token if lease else None,
        })  # fmt: skip
    write_records(records, args.format)
    return 0


def run_sql(args: argparse.Namespace) -> int:
    """Print the aggregate queries of a source, compiled for its dialect (or ``--dialect``)."""
    config = config_of(args)
    src = _source(config, args.source)
    store = open_store(args, config)
    engine = warehouse_engine(src)
    try:
        dialect = registry.load(args.dialect)() if args.dialect else engine.dialect
        collector = WarehouseCollector(store, src, load_plan(args.plan or config.plan), engine,
                                       bucket_seconds=config.bucket_seconds)  # fmt: skip
        now = utcnow()
        window = plan_window(store.warehouse_state(src.name), src, now)
        catalog = reflect(engine, src.schema_, None)
        with engine.connect() as conn:
            reads = collector.reads(conn, catalog, {"lo": window.lo, "hi": window.hi})
        keys = aggregate.planned_keys(collector.evaluator)
        for read in reads:
            w = sqlbuild.Window(
                to_epoch(now), config.bucket_seconds, src.slice_seconds, src.watermark.lower()
            )
            q = sqlbuild.build(read, keys, w, dialect.name, property_stats=src.property_stats)
            for part, stmt in q.statements():
                print(f"-- {read.table}: {part}\n{stmt.compile(dialect=dialect)};\n")
    finally:
        engine.dispose()
        store.dispose()
    return 0


def run_rollup(args: argparse.Namespace) -> int:
    """Rebuild the rollups of the last ``--since``."""
    config = config_of(args)
    store = open_store(args, config, migrate=True)
    now = to_epoch(utcnow())
    rows = store.rollup_range(now - duration_flag("--since", args.since), now + 86400)
    print(f"rebuilt {rows:,} hour rows (and their days)")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    """Apply the retention of each resolution."""
    config = config_of(args)
    store = open_store(args, config, migrate=True)
    deleted = store.prune_metrics(to_epoch(utcnow()), config.rollups.seconds())
    print(", ".join(f"{table}: {n:,}" for table, n in deleted.items()) or "nothing to prune")
    return 0

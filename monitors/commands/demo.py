"""``demo``: the whole product on demo data (stand-in, shop simulator, worker, dashboard at
http://localhost:8501 with a few days of history; Ctrl-C stops it), or with ``--no-serve`` just
generate a few days of realistic D2C traffic with incidents, ingest it, summarise and exit."""

from __future__ import annotations

import argparse
from pathlib import Path

from monitors.commands._common import add_config_args, config_of, db_url
from monitors.demo import live
from monitors.demo.live import LiveOptions
from monitors.demo.run import DemoPlan, demo_end, prepare_store, reset_folder, write_logs
from monitors.ingest.pipeline import IngestOptions, ingest
from monitors.plan import load_plan
from monitors.report import metric_records
from monitors.timeutil import utcnow


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    p = sub.add_parser("demo", help="the main job on demo data: generate D2C traffic, ingest into SQLite, summarise")
    add_config_args(p)
    p.add_argument("--days", type=int, default=3, help="days of traffic (default 3)")
    p.add_argument("--logs", default="demo-data/logs", help="where to write the demo event logs")
    p.add_argument("--no-serve", action="store_true", help="only generate, ingest, summarise and exit (tests, CI)")
    p.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501)")
    p.add_argument("--home", default="demo-data", help="where the demo keeps its config and process logs")
    p.set_defaults(func=run)


def summary(records: list[dict[str, object]]) -> list[str]:
    """One line per event: volume, conformance, latency."""
    totals: dict[str, dict[str, float]] = {}
    for r in records:
        t = totals.setdefault(str(r["event"]), {"count": 0, "conforming": 0, "checked": 0, "p95": 0.0})
        t["count"] += float(r["count"])  # type: ignore[arg-type]
        t["conforming"] += float(r["conforming"])  # type: ignore[arg-type]
        t["checked"] += float(r["checked"])  # type: ignore[arg-type]
        t["p95"] = max(t["p95"], float(r["latency_p95_s"] or 0))  # type: ignore[arg-type]
    lines = [f"{'event':<20} {'events':>9} {'conformance':>12} {'worst daily p95 latency':>24}"]
    for name, t in sorted(totals.items(), key=lambda kv: -kv[1]["count"]):
        conf = f"{t['conforming'] / t['checked']:.1%}" if t["checked"] else "-"
        lines.append(f"{name:<20} {int(t['count']):>9,} {conf:>12} {t['p95']:>22.1f} s")
    return lines


def run(args: argparse.Namespace) -> int:
    """Serve the whole product, or (``--no-serve``) generate, ingest, print."""
    config = config_of(args)
    if not args.no_serve:
        home, logs = Path(args.home).resolve(), Path(args.logs).resolve()
        return live.run(LiveOptions(db_url(args, config), logs, home, args.days, args.port))
    store = prepare_store(db_url(args, config))
    folder = Path(args.logs)
    reset_folder(folder)
    plan = DemoPlan(end=demo_end(utcnow()), days=args.days)
    print(f"generating {args.days} days of D2C traffic into {folder}/ (with a rename, a staging leak, a latency "
          "regression, a drop and a missing cart_id injected) ...")  # fmt: skip
    paths = write_logs(folder, plan)
    opts = IngestOptions(source="shop-backend", environment="production", plan=load_plan(config.plan), final_line_grace=0,
                         leakage=config.leakage)  # fmt: skip
    report = ingest(store, [str(folder)], opts, strict=True)
    print(f"ingested {len(paths)} files: {report.events:,} events, {report.rejected:,} rejected, "
          f"{report.bytes / 1e6:.1f} MB in {report.seconds:.1f}s into {store.url}")  # fmt: skip
    print()
    for line in summary(metric_records(store, width=86400)):
        print(line)
    rejects = store.read_rejects()
    if rejects:
        print()
        print("rejected lines: " + ", ".join(f"{r['reason']} ×{r['count']}" for r in rejects))
    print()
    print(f"next: python -m monitors metrics --db {store.url} --bucket 1h --event 'Order Completed'")
    return 0

"""``ingest``: one-shot ingest of log files, globs or directories (backfills)."""

from __future__ import annotations

import argparse
import sys

from monitors.commands._common import add_config_args, config_of, duration_flag, open_store
from monitors.errors import ConfigError
from monitors.ingest.names import DEFAULT_MAX_NAMES
from monitors.ingest.pipeline import IngestOptions, ingest
from monitors.ingest.propkeys import DEFAULT_MAX_KEYS
from monitors.plan import load_plan


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    p = sub.add_parser("ingest", help="ingest JSON-lines event logs (plain, gzip, bzip2 or xz) into the metric store")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files, globs or directories (default: the source's paths in the config)")
    add_config_args(p)
    p.add_argument("--source", help="source name (default: the only configured source, else 'default')")
    p.add_argument("--environment", help="environment of these logs (default: the source's, else 'production')")
    p.add_argument("--plan", metavar="FILE", help="tracking plan YAML/JSON (default: config, else the built-in D2C plan)")
    p.add_argument("--bucket", help="bucket width, e.g. 5m (default: config, 5m)")
    p.add_argument("--final-line-grace", help="read an unterminated last line once the file is this old (default 5m)")
    p.add_argument("--max-event-names", type=int, metavar="N",
                   help="distinct track event names a source keeps; new ones past it count as '(other events)' "
                        "(default: the source's, else 2000; 0: no limit)")  # fmt: skip
    p.add_argument("--max-property-keys", type=int, metavar="N",
                   help="distinct unplanned property keys an event keeps; new ones past it count as "
                        "'(other properties)' (default: the source's, else 500; 0: no limit)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Ingest and print a summary; exit 1 when some file could not be read, or only in part (a
    damaged compressed stream). A stream cut short is read as far as it goes, with a warning."""
    config = config_of(args)
    if not args.source and len(config.sources) > 1:
        raise ConfigError(f"{len(config.sources)} sources are configured ({', '.join(s.name for s in config.sources)}): "
                          "pick one with --source NAME")  # fmt: skip
    name = args.source or (config.sources[0].name if len(config.sources) == 1 else "default")
    src = config.source(name)
    paths = args.paths or (src.paths if src else [])
    if not paths:
        raise ConfigError(f"nothing to ingest: give PATH arguments or configure paths for source {name!r}")
    store = open_store(args, config, migrate=True)
    opts = IngestOptions(
        source=name,
        environment=args.environment or (src.environment if src else "production"),
        plan=load_plan(args.plan or config.plan),
        bucket_seconds=duration_flag("--bucket", args.bucket, bucket=True) if args.bucket else config.bucket_seconds,
        sample_rate=src.conformance_sample_rate if src else 1.0,
        final_line_grace=duration_flag("--final-line-grace", args.final_line_grace or (src.final_line_grace if src else "5m")),
        progress=not args.no_progress,
        leakage=config.leakage,
        max_event_names=_budget("--max-event-names", args.max_event_names, src.max_event_names if src else DEFAULT_MAX_NAMES),
        max_property_keys=_budget("--max-property-keys", args.max_property_keys,
                                  src.max_property_keys if src else DEFAULT_MAX_KEYS),
    )
    report = ingest(store, paths, opts, strict=True)
    if args.format == "json":
        import json

        json.dump({"source": report.source, "events": report.events, "rejected": report.rejected,
                   "bytes": report.bytes, "seconds": round(report.seconds, 3),
                   "cpu_seconds": round(report.cpu_seconds, 3),
                   "files": [f.__dict__ for f in report.files]}, sys.stdout, indent=2)  # fmt: skip
        print()
    else:
        read = [f for f in report.files if f.status == "read"]
        rate = report.events / report.seconds if report.seconds else 0.0
        print(f"{report.source}: {len(read)} file(s) read, {len(report.files) - len(read) - len(report.errors)} unchanged, "
              f"{report.events:,} events, {report.rejected:,} rejected, {report.bytes / 1e6:,.1f} MB "
              f"in {report.seconds:.2f}s ({rate:,.0f} events/s)")  # fmt: skip
        for f in report.files:
            if f.warning:
                print(f"  warning: {f.path}: {f.warning}", file=sys.stderr)
        for f in report.errors:
            print(f"  error: {f.path}: {f.error}", file=sys.stderr)
    return 1 if report.troubles else 0


def _budget(name: str, flag: int | None, configured: int) -> int:
    if flag is None:
        return configured
    if flag < 0:
        raise ConfigError(f"{name} must be 0 (no limit) or more, not {flag}")
    return flag

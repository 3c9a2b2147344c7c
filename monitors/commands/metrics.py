"""``metrics``: bucket metrics as JSON or CSV, one record per (source, environment, event, bucket)."""

from __future__ import annotations

import argparse
import math

from monitors.commands._common import add_config_args, add_format_arg, config_of, open_store, write_records
from monitors.errors import ConfigError
from monitors.report import COLUMNS, iter_metric_records
from monitors.timeutil import parse_duration, parse_iso, to_epoch


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    p = sub.add_parser("metrics", help="print volume, latency and conformance per event and bucket")
    add_config_args(p)
    p.add_argument("--event")
    p.add_argument("--source")
    p.add_argument("--environment")
    p.add_argument("--since", metavar="ISO", help="start (inclusive: from the stored bucket holding it), ISO 8601")
    p.add_argument("--until", metavar="ISO", help="end (exclusive: stored buckets starting before it), ISO 8601; "
                                                  "a --bucket cut by either end holds only the part inside")
    p.add_argument("--bucket", default=None, help="5m, 1h, 1d or 1w (any multiple of the stored width; weeks start on Monday, UTC)")
    add_format_arg(p)
    p.set_defaults(func=run)


def _epoch(text: str | None, flag: str, *, up: bool = False) -> int | None:
    """Whole seconds of ``text``; ``up``: rounded up, so that ``--until 00:05:00.5`` keeps the
    bucket starting at 00:05:00 (it starts before the end)."""
    if text is None:
        return None
    try:
        value = parse_iso(text)
    except ValueError as exc:
        raise ConfigError(f"{flag}: not an ISO 8601 time: {text!r}") from exc
    return math.ceil(value.timestamp()) if up else to_epoch(value)


def run(args: argparse.Namespace) -> int:
    """Print the records."""
    config = config_of(args)
    since, until = _epoch(args.since, "--since"), _epoch(args.until, "--until", up=True)
    if since is not None and until is not None and until <= since:
        raise ConfigError(f"--until ({args.until}) must be after --since ({args.since}): the window is empty")
    store = open_store(args, config)
    try:
        width = parse_duration(args.bucket) if args.bucket else None
        if width == 0:  # not the stored width in disguise
            raise ValueError("a bucket of 0 seconds holds nothing (use e.g. 5m, 1h, 1d)")
        records = iter_metric_records(
            store, since=since, until=until, width=width,
            source=args.source, environment=args.environment, event=args.event,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"--bucket: {exc}") from exc
    write_records(records, args.format, columns=COLUMNS)
    return 0

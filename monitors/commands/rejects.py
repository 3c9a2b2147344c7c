"""``rejects``: rejected input per source and reason, with redacted samples."""

from __future__ import annotations

import argparse

from monitors.commands._common import add_config_args, add_format_arg, config_of, open_store, write_records
from monitors.redact import redact_line
from monitors.timeutil import iso


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    p = sub.add_parser("rejects", help="rejected lines per source and reason, with redacted samples")
    add_config_args(p)
    add_format_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the records."""
    store = open_store(args, config_of(args))
    rows = store.read_rejects()
    for row in rows:
        row["last_seen_at"] = iso(row["last_seen_at"])
        # redacted again as they are shown, as the dashboard does: samples stored by an older
        # version (before secrets were dropped from text samples) may hold more than they should
        row["samples"] = [{**s, "sample": redact_line(s["sample"])} for s in row["samples"]]
    write_records(rows, args.format, columns=("source", "reason", "count", "last_seen_at", "samples"))
    return 0

"""``detect``: run every detector on the stored metrics and record or update findings."""

from __future__ import annotations

import argparse

from monitors.commands._common import add_config_args, add_format_arg, config_of, open_store, write_records
from monitors.detect import run_detection
from monitors.detectors import available
from monitors.errors import InputError
from monitors.timeutil import parse_iso, utcnow


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    parser = sub.add_parser(
        "detect",
        help="run the detectors on the stored metrics; open, update and resolve findings (idempotent)",
    )
    add_config_args(parser)
    parser.add_argument("--now", metavar="ISO", help="judge as of this time (default: the current time, UTC)")
    parser.add_argument("--only", metavar="NAME", action="append", help="run only this detector (repeatable)")
    parser.add_argument(
        "--rebuild", action="store_true", help="forget saved detector state and replay history"
    )
    add_format_arg(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """One detection pass; prints a summary."""
    config = config_of(args)
    try:
        now = parse_iso(args.now) if args.now else utcnow()
    except ValueError as exc:
        raise InputError(f"--now {args.now!r} is not an ISO 8601 time (e.g. 2024-05-01T13:00:00Z)") from exc
    names = available()
    for name in args.only or []:
        if name not in names:
            raise InputError(f"no detector {name!r} (available: {', '.join(names)})")
    store = open_store(args, config, migrate=True)
    report = run_detection(store, config, now=now, only=args.only, rebuild=args.rebuild)
    write_records([report.as_record()], args.format)
    return 0

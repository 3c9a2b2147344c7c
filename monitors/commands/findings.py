"""``findings``: list findings, or act on one (acknowledge, snooze, resolve, mark expected, reopen)."""

from __future__ import annotations

import argparse
from datetime import datetime

from monitors.commands._common import add_config_args, add_format_arg, config_of, open_store, write_records
from monitors.errors import InputError
from monitors.models import Status
from monitors.timeutil import parse_iso

ACTIONS = ("acknowledge", "snooze", "resolve", "expected", "reopen")
COLUMNS = (
    "id",
    "fingerprint",
    "kind",
    "status",
    "severity",
    "source",
    "environment",
    "event",
    "subject",
    "title",
    "started_at",
    "ended_at",
    "score",
    "observed",
    "expected",
    "snoozed_until",
    "status_by",
    "baseline",
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    parser = sub.add_parser("findings", help="list findings, or act on one (--act)")
    add_config_args(parser)
    parser.add_argument(
        "--status", choices=[s.value for s in Status], action="append", help="filter (repeatable)"
    )
    parser.add_argument("--kind", action="append", help="filter by kind, e.g. volume_drop (repeatable)")
    parser.add_argument("--source")
    parser.add_argument("--environment")
    parser.add_argument("--event")
    parser.add_argument("--since", metavar="ISO", help="findings still going on or ended after this time")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--evidence", action="store_true", help="include the evidence of each finding")
    parser.add_argument("--act", choices=ACTIONS, help="act on the finding --id")
    parser.add_argument("--id", help="finding id or fingerprint (with --act)")
    parser.add_argument("--by", help="who acts (with --act)")
    parser.add_argument("--until", metavar="ISO", help="end of the snooze (with --act snooze)")
    parser.add_argument("--note")
    parser.add_argument(
        "--baseline",
        choices=("adapt", "keep"),
        default="keep",
        help="with --act expected: adapt the detector's baseline to the new level now, or keep it (default)",
    )
    add_format_arg(parser)
    parser.set_defaults(func=run)


def _time(text: str, option: str) -> datetime:
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not an ISO 8601 time") from exc


def _act(args: argparse.Namespace) -> int:
    if not args.id or not args.by:
        raise InputError("--act needs --id (finding id or fingerprint) and --by (who acts)")
    store = open_store(args, config_of(args))
    ref: int | str = int(args.id) if args.id.isdigit() else args.id
    if args.act == "expected":
        found = store.mark_expected(ref, actor=args.by, note=args.note, baseline=args.baseline)
    elif args.act == "snooze":
        if not args.until:
            raise InputError("--act snooze needs --until ISO")
        found = store.snooze(ref, _time(args.until, "--until"), actor=args.by, note=args.note)
    else:
        method = {
            "acknowledge": store.acknowledge,
            "resolve": store.resolve,
            "reopen": store.reopen,
        }[args.act]
        found = method(ref, actor=args.by, note=args.note)
    write_records([{k: found.as_record()[k] for k in COLUMNS}], args.format)
    return 0


def run(args: argparse.Namespace) -> int:
    """Print the findings (newest first), or apply ``--act``."""
    if args.act:
        return _act(args)
    store = open_store(args, config_of(args))
    rows = store.list_findings(
        status=args.status,
        kind=args.kind,
        source=args.source,
        environment=args.environment,
        event=args.event,
        since=_time(args.since, "--since") if args.since else None,
        limit=args.limit,
    )
    columns = (*COLUMNS, "evidence") if args.evidence else COLUMNS
    write_records(({k: f.as_record()[k] for k in columns} for f in rows), args.format)
    return 0

"""``alerts``: check the alerting config, send a test alert, dispatch, inspect the outbox, silences."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import timedelta
from typing import Any

from monitors.alerts.config import AlertsConfig
from monitors.alerts.dispatch import dispatch, send_test
from monitors.alerts.matchers import describe, parse_matcher
from monitors.alerts.routing import build_tree, route_table
from monitors.alerts.silences import validate_matchers
from monitors.commands._common import add_config_args, add_format_arg, config_of, open_store, write_records
from monitors.config import Config
from monitors.errors import ConfigError, InputError
from monitors.timeutil import format_duration, iso, parse_duration, parse_iso, utcnow


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``alerts`` and its subcommands."""
    parser = sub.add_parser("alerts", help="alert routes: check config, test, dispatch, outbox, silences")
    cmds = parser.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND")
    cmds.required = True

    check = cmds.add_parser(
        "check-config", help="validate alerts config and secrets without sending anything"
    )
    add_config_args(check, db=False)
    check.add_argument(
        "--no-env", action="store_true", help="do not require the secret environment variables"
    )
    check.set_defaults(func=run, handler=_check_config)

    test = cmds.add_parser("test", help="send a clearly marked test alert through one route")
    add_config_args(test, db=False)
    test.add_argument("--route", required=True, metavar="NAME", help="route name (see check-config)")
    test.set_defaults(func=run, handler=_test)

    disp = cmds.add_parser("dispatch", help="queue due notifications and deliver the outbox once")
    add_config_args(disp)
    disp.add_argument("--now", metavar="ISO", help="pretend it is this UTC time (replays and tests)")
    disp.set_defaults(func=run, handler=_dispatch)

    outbox = cmds.add_parser("outbox", help="list queued, sent and failed notifications")
    add_config_args(outbox)
    outbox.add_argument("--status", choices=("pending", "sending", "sent", "failed"), help="only this status")
    outbox.add_argument("--limit", type=int, default=50, help="newest N rows (default 50)")
    add_format_arg(outbox)
    outbox.set_defaults(func=run, handler=_outbox)

    _register_silence(cmds)


def _register_silence(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    silence = cmds.add_parser("silence", help="mute notifications matching labels for a while")
    ops = silence.add_subparsers(dest="silence_command", metavar="ACTION")
    ops.required = True

    add = ops.add_parser("add", help="add a silence")
    add_config_args(add)
    add.add_argument(
        "--match",
        action="append",
        required=True,
        metavar="LABEL=PATTERN",
        help="repeatable, e.g. event='Order *'",
    )
    span = add.add_mutually_exclusive_group(required=True)
    span.add_argument("--for", dest="duration", metavar="DURATION", help="e.g. 2h, 30m, 1d")
    span.add_argument("--until", metavar="ISO", help="end time (UTC)")
    add.add_argument("--starts", metavar="ISO", help="start time (default: now)")
    add.add_argument("--comment", required=True, help="why (shown next to the silence)")
    add.add_argument("--by", default=None, help="who (default: the current user)")
    add.set_defaults(func=run, handler=_silence_add)

    lst = ops.add_parser("list", help="list silences")
    add_config_args(lst)
    lst.add_argument("--all", action="store_true", help="include expired silences")
    add_format_arg(lst, default="text", choices=("text", "json", "csv"))
    lst.set_defaults(func=run, handler=_silence_list)

    exp = ops.add_parser("expire", help="end a silence now")
    add_config_args(exp)
    exp.add_argument("id", type=int)
    exp.set_defaults(func=run, handler=_silence_expire)


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand."""
    return int(args.handler(args, config_of(args)))


def missing_env(alerts: AlertsConfig, env: dict[str, str] | None = None) -> list[str]:
    """``VAR (receiver name)`` for every secret environment variable that is not set."""
    values = os.environ if env is None else env
    missing = []
    for receiver in alerts.receivers:
        missing += [
            f"{name} (receiver {receiver.name})" for name in receiver.secret_envs() if not values.get(name)
        ]
    return missing


def _dur(seconds: int) -> str:
    return format_duration(seconds) if seconds else "0s"


def _route_line(row: dict[str, Any]) -> str:
    match = describe(row["match"]) if row["match"] else "everything"
    if row["min_severity"]:
        match += f", severity ≥ {row['min_severity']}"
    return (
        f"route {row['route']} → receiver {row['receiver']}: matches {match}; group by {','.join(row['group_by'])}; "
        f"wait {_dur(int(row['group_wait']))}, interval {_dur(int(row['group_interval']))}, "
        f"repeat {_dur(int(row['repeat_interval']))}; resolved {'on' if row['send_resolved'] else 'off'}"
        + ("; continue" if row["continue"] else "")
    )


def _check_config(args: argparse.Namespace, config: Config) -> int:
    alerts = config.alerts
    rows = route_table(build_tree(alerts))
    print(
        f"alerts config OK: {len(alerts.receivers)} receivers, {len(rows)} routes, {len(config.journeys)} journeys"
    )
    if not rows:
        print("no alerts.route configured: findings are not notified")
    for row in rows:
        print(_route_line(row))
    missing = [] if args.no_env else missing_env(alerts)
    if missing:
        raise ConfigError(
            "environment variables not set: " + ", ".join(missing) + " — export them (or pass --no-env)"
        )
    return 0


def _test(args: argparse.Namespace, config: Config) -> int:
    message, receipt = send_test(config, args.route)
    shown = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in sorted(receipt.items())}
    extra = f" ({', '.join(f'{k}={v}' for k, v in shown.items())})" if receipt else ""
    print(f"sent test alert through route {message.route}{extra}")
    return 0


def _dispatch(args: argparse.Namespace, config: Config) -> int:
    store = open_store(args, config)
    try:
        report = dispatch(store, config, parse_iso(args.now) if args.now else None)
    finally:
        store.dispose()
    print(report.summary())
    for error in report.delivery.errors:
        print(f"  {error}", file=sys.stderr)
    return 0


def _outbox(args: argparse.Namespace, config: Config) -> int:
    store = open_store(args, config)
    try:
        rows = store.list_outbox(args.status, args.limit)
    finally:
        store.dispose()
    keys = (
        "id",
        "route",
        "receiver",
        "kind",
        "state",
        "status",
        "attempts",
        "created_at",
        "sent_at",
        "last_error",
    )
    write_records(({k: r[k] for k in keys} for r in rows), args.format)
    return 0


def _silence_add(args: argparse.Namespace, config: Config) -> int:
    now = utcnow()
    try:
        pairs = [parse_matcher(m) for m in args.match]
        matchers = validate_matchers(dict(pairs))
        starts = parse_iso(args.starts) if args.starts else now
        ends = (
            parse_iso(args.until) if args.until else starts + timedelta(seconds=parse_duration(args.duration))
        )
    except ValueError as exc:
        raise ConfigError(f"alerts silence add: {exc}") from exc
    if ends <= starts:
        raise ConfigError("alerts silence add: the silence must end after it starts")
    store = open_store(args, config)
    try:
        silence_id = store.add_silence(matchers, starts, ends, args.by or _user(), args.comment, now)
    finally:
        store.dispose()
    print(f"silence #{silence_id} mutes {describe(matchers)} from {iso(starts)} until {iso(ends)}")
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


def _silence_list(args: argparse.Namespace, config: Config) -> int:
    store = open_store(args, config)
    try:
        rows = store.list_silences(utcnow(), include_expired=args.all)
    finally:
        store.dispose()
    if args.format != "text":
        write_records(rows, args.format)
        return 0
    if not rows:
        print("no silences")
    for r in rows:
        print(
            f"#{r['id']} {describe(r['matchers'])}  {iso(r['starts_at'])} → {iso(r['ends_at'])}  by {r['created_by']}: {r['comment']}"
        )
    return 0


def _silence_expire(args: argparse.Namespace, config: Config) -> int:
    store = open_store(args, config)
    try:
        done = store.expire_silence(args.id, utcnow())
    finally:
        store.dispose()
    if not done:
        raise InputError(f"no active silence #{args.id} — see `alerts silence list --all`")
    print(f"silence #{args.id} expired")
    return 0

"""``check-config``: validate the whole config without side effects (nothing sent, nothing written)."""

from __future__ import annotations

import argparse
import os

from monitors.alerts.routing import build_tree, route_table
from monitors.commands._common import add_config_args, config_of
from monitors.commands.alerts import missing_env
from monitors.config import Config
from monitors.customerio.checks import config_problems
from monitors.errors import ConfigError, EHMError
from monitors.ingest.files import discover
from monitors.plan import load_plan
from storage.engine import normalise_url, redact_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    p = sub.add_parser("check-config", help="validate the config file, plan, sources, Customer.io and alerts settings")
    add_config_args(p, db=False)
    p.add_argument("--no-env", action="store_true", help="do not require the secret environment variables to be set")
    p.set_defaults(func=run)


def problems(config: Config, *, check_env: bool) -> tuple[list[str], list[str]]:
    """(problems, notes) — problems make the config unusable; notes are worth knowing."""
    found: list[str] = []
    notes: list[str] = []
    try:
        normalise_url(config.database.resolve())
    except EHMError as exc:
        found.append(str(exc))
    try:
        plan = load_plan(config.plan)
        notes.append(f"tracking plan {plan.origin}: {len(plan.events)} events, {len(plan.identify.props)} identify traits")
    except EHMError as exc:
        found.append(str(exc))
    names = [s.name for s in config.sources]
    if len(names) != len(set(names)):
        found.append("sources: names must be unique")
    for src in config.sources:
        files = discover(src.paths, strict=False)
        notes.append(f"source {src.name} [{src.environment}]: {len(files)} file(s) match {', '.join(src.paths)}")
    found.extend(f"customerio: {p}" for p in config_problems(config, os.environ, check_env=check_env))
    try:
        notes.append(f"alerts: {len(config.alerts.receivers)} receivers, {len(route_table(build_tree(config.alerts)))} routes")
    except EHMError as exc:
        found.append(f"alerts: {exc}")
    if check_env:
        found.extend(f"alerts: environment variable {name} is not set" for name in missing_env(config.alerts))
    return found, notes


def run(args: argparse.Namespace) -> int:
    """Print notes; exit 2 with every problem listed."""
    config = config_of(args)
    found, notes = problems(config, check_env=not args.no_env)
    print(f"database: {redact_url(config.database.resolve())}")
    for note in notes:
        print(note)
    if found:
        raise ConfigError("config problems:\n  " + "\n  ".join(found))
    print("config OK")
    return 0

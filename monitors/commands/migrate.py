"""``migrate``: create or upgrade the database schema."""

from __future__ import annotations

import argparse

from monitors.commands._common import add_config_args, config_of, open_store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    parser = sub.add_parser("migrate", help="create or upgrade the database schema (Alembic)")
    add_config_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Migrate and say where."""
    store = open_store(args, config_of(args), migrate=True)
    print(f"database {store.url} is at the newest schema")
    return 0

"""Options and helpers shared by commands: ``--config``, ``--db``, output formats."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from monitors.config import Config, load_config
from monitors.errors import ConfigError, DatabaseError
from monitors.timeutil import parse_duration
from storage import Store
from storage.engine import normalise_url, redact_url


def add_config_args(parser: argparse.ArgumentParser, *, db: bool = True) -> None:
    """Add ``--config`` and (optionally) ``--db``."""
    parser.add_argument("--config", metavar="FILE", help="config file (default: $EHM_CONFIG or ./ehm.yaml)")
    if db:
        parser.add_argument(
            "--db", metavar="URL", help="database URL (default: config, $EHM_DATABASE_URL, sqlite:///data/ehm.sqlite)"
        )


def duration_flag(flag: str, value: str, *, bucket: bool = False) -> int:
    """Seconds of a duration given on the command line (``bucket``: a bucket width, which must
    divide a day and be at least a minute); a mistake is a :class:`ConfigError`, not a traceback."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from exc
    if bucket and (seconds < 60 or 86400 % seconds):
        raise ConfigError(f"{flag}: a bucket must divide a day and be at least 1m (e.g. 1m, 5m, 15m, 1h), not {value!r}")
    return seconds


def add_format_arg(parser: argparse.ArgumentParser, default: str = "json", choices: tuple[str, ...] = ("json", "csv")) -> None:
    """Add ``--format``."""
    parser.add_argument("--format", choices=choices, default=default, help=f"output format (default: {default})")


def config_of(args: argparse.Namespace) -> Config:
    """The config named by ``--config``."""
    return load_config(getattr(args, "config", None))


def db_url(args: argparse.Namespace, config: Config) -> str:
    """``--db`` wins over the config."""
    return getattr(args, "db", None) or config.database.resolve()


def open_store(args: argparse.Namespace, config: Config, *, migrate: bool = False) -> Store:
    """Open the store; migrate it (main commands) or check that it is current (readers)."""
    url = db_url(args, config)
    if not migrate:  # a reader: an SQLite file that is not there is a mistake, not one to create
        parsed = normalise_url(url)
        path = parsed.database or ""
        on_disk = parsed.get_backend_name() == "sqlite" and path not in ("", ":memory:") and not path.startswith("file:")
        if on_disk and not Path(path).expanduser().exists():
            raise DatabaseError(f"no database at {path} — ingest into it first, or create it with "
                                    f"`python -m monitors migrate --db {redact_url(parsed)}`")  # fmt: skip
    store = Store.from_url(url)
    if migrate:
        store.migrate()
    else:
        store.ensure_current()
    return store


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return "" if value is None else value


def write_records(records: Iterable[Mapping[str, Any]], fmt: str, out: Any = None, columns: Sequence[str] = ()) -> None:
    """Print records as a JSON array or as CSV (nested values JSON-encoded in their cell). CSV
    ``columns`` come first, and make the header of an empty result (else it has none)."""
    out = out or sys.stdout
    rest = iter(records)  # written as they come: a long result is never held whole
    first = next(rest, None)
    rows = itertools.chain([first], rest) if first is not None else rest
    if fmt == "json":  # the text json.dump(list, indent=2) gives, one record at a time
        out.write("[")
        for n, row in enumerate(rows):
            out.write(("\n" if n == 0 else ",\n") + textwrap.indent(json.dumps(row, indent=2, default=str), "  "))
        out.write("\n]\n" if first is not None else "]\n")
        return
    columns = list(columns)
    for row in records if isinstance(records, Sequence) else [first] if first is not None else ():
        columns.extend(k for k in row if k not in columns)  # a stream: the first record's keys
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})

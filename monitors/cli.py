"""Command line: ``python -m monitors COMMAND`` (or the ``ehm`` console script).

Each module in :mod:`monitors.commands` registers one command (the module name is its key).
User mistakes raise :class:`monitors.errors.EHMError` and end with a one-line message and the
error's exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

import monitors.commands
from monitors import __version__
from monitors.errors import EHMError


def _requested(argv: Sequence[str] | None, names: list[str]) -> str | None:
    """The module of the command ``argv`` asks for, when it names one (its first word that is not
    an option): only that module is imported, so a one-shot command does not pay for the others'
    imports. ``--help`` or an unknown word: None (every command is registered, as argparse lists them)."""
    words = sys.argv[1:] if argv is None else list(argv)
    first = next((w for w in words if not w.startswith("-")), None)
    if first is None or "-h" in words[: words.index(first)] or "--help" in words[: words.index(first)]:
        return None
    by_key = {n.replace("_", ""): n for n in names}  # check_config: check-config, standin: stand-in
    return by_key.get(first.replace("-", "").replace("_", ""))


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser: the command ``argv`` names, else every registered command."""
    parser = argparse.ArgumentParser(
        prog="python -m monitors",
        description="Event Health Monitor: catches broken product events before your Customer.io journeys do.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    names = sorted(m.name for m in pkgutil.iter_modules(monitors.commands.__path__) if not m.name.startswith("_"))
    only = _requested(argv, names)
    for name in names if only is None else [only]:
        importlib.import_module(f"monitors.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = args.func(args)
    except EHMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

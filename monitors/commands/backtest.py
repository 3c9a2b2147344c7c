"""``backtest``: run the volume detector causally over your own CSV history, one record per incident.

Use it to choose a sensitivity before enabling alerts: the incidents printed are exactly the ones
``detect`` would have raised, bucket by bucket, with the default settings.
"""

from __future__ import annotations

import argparse
import sys

from monitors.commands._common import add_format_arg, write_records
from monitors.detectors.backtest import backtest, incidents, load_csv


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    parser = sub.add_parser("backtest", help="find volume incidents in a CSV time series (counts or rates)")
    parser.add_argument(
        "--csv", required=True, metavar="FILE", help="CSV with a time column and a value column"
    )
    parser.add_argument("--time-col", default="timestamp", metavar="NAME", help="default: timestamp")
    parser.add_argument("--value-col", default="value", metavar="NAME", help="default: value")
    parser.add_argument("--sensitivity", choices=("low", "medium", "high"), help="default: medium")
    parser.add_argument(
        "--values",
        choices=("auto", "counts", "rates"),
        default="auto",
        help="counts (missing buckets are 0) or rates (missing buckets are not judged); auto: integers are counts",
    )
    parser.add_argument(
        "--duplicates",
        choices=("sum", "error"),
        default="sum",
        help="rows with the same timestamp (default: sum)",
    )
    add_format_arg(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one record per incident; notes about the input go to stderr."""
    series = load_csv(
        args.csv,
        time_col=args.time_col,
        value_col=args.value_col,
        values=args.values,
        duplicates=args.duplicates,
    )
    found = backtest(series, args.sensitivity)
    print(
        f"{len(series.times)} buckets of {series.width}s ({series.kind}); {len(found)} incidents"
        + "".join(f"; {note}" for note in series.notes),
        file=sys.stderr,
    )
    write_records(incidents(found), args.format)
    return 0

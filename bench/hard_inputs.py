"""Ingest time, peak memory and stored property rows on inputs that once exhausted memory or the
store: event names that carry ids, property keys that carry ids, a backfill spread over a month,
and a log whose times cycle through days over and over.

    .venv/bin/python bench/hard_inputs.py [--quick]

Each run is a fresh ``python -m monitors ingest`` into a new SQLite store; ``seconds`` is the
ingest's own time, ``peak MB`` the process's peak RSS. Baselines, in the same run:
* the benchmark's compact file with as many events (few buckets, a few dozen names);
* the 20,000-name flood with the event-name budget off (``--max-event-names 0``), as before it;
* the 200,000-key flood with the property-key budget off (``--max-property-keys 0``), as before it.
Before these changes (``76b4f3a``, measured with ``/usr/bin/time``, not by this script): the
200,000-name flood took 122 s and 18 GB, the 30-day backfill 27 s and 7.7 GB (5.45 GB with DuckDB
alone).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_speed import OUT, ROOT, make_file

NAMES = ["Product Viewed", "Added to Cart", "Checkout Started", "Order Completed"] + [f"Event {i}" for i in range(16)]


def name_flood(n: int) -> Path:
    """``n`` track messages, each with its own event name (an id in it), within an hour (cached)."""
    path = OUT / f"hard-names-{n}.jsonl"
    if not path.exists():
        with open(path, "w", encoding="utf-8") as fh:
            for i in range(n):
                fh.write(json.dumps({"type": "track", "event": f"Viewed product {i}", "userId": f"u{i % 1000}",
                                     "timestamp": f"2026-11-28T10:{i * 60 // n:02d}:00Z",
                                     "properties": {"product_id": str(i)}}) + "\n")  # fmt: skip
    return path


def key_flood(n: int) -> Path:
    """``n`` Product Viewed messages, each with its planned keys and an experiment key of its own
    (an id in it), within an hour (cached)."""
    path = OUT / f"hard-keys-{n}.jsonl"
    if not path.exists():
        with open(path, "w", encoding="utf-8") as fh:
            for i in range(n):
                fh.write(json.dumps({"type": "track", "event": "Product Viewed", "userId": f"u{i % 1000}",
                                     "timestamp": f"2026-11-28T10:{i * 60 // n:02d}:00Z",
                                     "properties": {"product_id": str(i % 300), "variant_id": "v", "category": "c",
                                                    "price": 9.5, f"exp_{i}": "A"}}) + "\n")  # fmt: skip
    return path


def backfill(n: int, days: int = 30) -> Path:
    """``n`` track messages over ``days`` days, in time order, 20 names, 50,000 users (cached)."""
    path = OUT / f"hard-backfill-{n}.jsonl"
    if not path.exists():
        rnd = random.Random(2)
        start = datetime(2026, 10, 1, tzinfo=UTC)
        offsets = sorted(rnd.randrange(days * 86400) for _ in range(n))
        with open(path, "w", encoding="utf-8") as fh:
            for off in offsets:
                ts = (start + timedelta(seconds=off)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                fh.write(json.dumps({"type": "track", "event": NAMES[rnd.randrange(20)], "userId": f"u{rnd.randrange(50000)}",
                                     "timestamp": ts, "sentAt": ts, "properties": {"product_id": "p"}}) + "\n")  # fmt: skip
    return path


def cycling(n: int, days: int = 3) -> Path:
    """``n`` track messages whose times cycle through ``days`` days over and over (days interleaved,
    10 names: 8,640 (event, bucket) groups), 20,000 users (cached)."""
    path = OUT / f"hard-cycling-{n}.jsonl"
    if not path.exists():
        rnd = random.Random(3)
        start = datetime(2026, 11, 2, tzinfo=UTC)
        with open(path, "w", encoding="utf-8") as fh:
            for i in range(n):
                ts = (start + timedelta(seconds=(i * 97) % (days * 86400))).strftime("%Y-%m-%dT%H:%M:%SZ")
                fh.write(json.dumps({"type": "track", "event": NAMES[rnd.randrange(10)], "userId": f"u{rnd.randrange(20000)}",
                                     "timestamp": ts, "sentAt": ts, "properties": {"product_id": "p"}}) + "\n")  # fmt: skip
    return path


def head(path: Path, n: int) -> Path:
    """The first ``n`` lines of ``path`` (cached)."""
    out = OUT / f"{path.stem}-head{n}.jsonl"
    if not out.exists():
        with open(path, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i >= n:
                    break
                dst.write(line)
    return out


def run(path: Path, *, native: bool = True, flags: tuple[str, ...] = ()) -> tuple[float, int, float, str, int]:
    """(seconds, events, peak RSS in MB, warning, property_stats rows) of a fresh ingest of ``path``."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["monitors", "ingest", str(path), "--db", f"sqlite:///{tmp}/hard.sqlite", "--source", "bench",
                "--format", "json", "--final-line-grace", "0s", "--no-progress", *flags]  # fmt: skip
        code = (f"import resource, sys, runpy; sys.argv = {argv!r}\n"
                "try:\n runpy.run_module('monitors', run_name='__main__')\nexcept SystemExit: pass\n"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")  # fmt: skip
        env = {**os.environ, "EHM_NATIVE": "1" if native else "0"}
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT, text=True, env=env)
        text, rss = out.stdout.rsplit("\n", 2)[0], out.stdout.strip().splitlines()[-1]
        report = json.loads(text)
        warning = next((f.get("warning", "") for f in report["files"] if f.get("warning")), "")
        with sqlite3.connect(f"{tmp}/hard.sqlite") as db:
            (props,) = db.execute("SELECT count(*) FROM property_stats").fetchone()
        return float(report["seconds"]), int(report["events"]), int(rss) / 1024, warning, int(props)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    flood, small_flood, spread = name_flood(200_000 // scale), name_flood(20_000 // scale), backfill(1_000_000 // scale)
    compact = head(make_file(1_000_000), 1_000_000 // scale)
    keys = key_flood(200_000 // scale)
    cycle = cycling(300_000 // scale)
    cases = [
        ("compact file (baseline)", compact, True, ()),
        ("30-day backfill, 20 names", spread, True, ()),
        ("30-day backfill, DuckDB only", spread, False, ()),
        ("compact file, DuckDB only (baseline)", compact, False, ()),
        (f"{20_000 // scale:,} names, budget off (baseline)", small_flood, True, ("--max-event-names", "0")),
        (f"{20_000 // scale:,} names, budget 2,000", small_flood, True, ()),
        (f"{200_000 // scale:,} names, budget 2,000", flood, True, ()),
        (f"{200_000 // scale:,} names, DuckDB only", flood, False, ()),
        (f"{200_000 // scale:,} keys, budget off (baseline)", keys, True, ("--max-property-keys", "0")),
        (f"{200_000 // scale:,} keys, budget 500", keys, True, ()),
        (f"{200_000 // scale:,} keys, budget 500, DuckDB only", keys, False, ()),
        (f"{300_000 // scale:,} events cycling over 3 days", cycle, True, ()),
    ]
    print("fresh SQLite store per run, 2 cores\n")
    print(f"| {'input':<38} | {'MB':>5} | {'events':>9} | {'seconds':>7} | {'peak MB':>7} | {'prop rows':>9} |")
    print(f"|{'-' * 40}|{'-' * 7}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 11}|")
    notes: list[str] = []
    for name, path, native, flags in cases:
        secs, events, rss, warning, props = run(path, native=native, flags=flags)
        print(f"| {name:<38} | {path.stat().st_size / 1e6:>5.0f} | {events:>9,} | {secs:>7.2f} | {rss:>7,.0f} | {props:>9,} |",
              flush=True)  # fmt: skip
        if warning and warning.split()[1:3] not in [n.split()[1:3] for n in notes]:
            notes.append(warning)
    for note in notes:
        print(f"\nwarning printed: {note}")


if __name__ == "__main__":
    main()

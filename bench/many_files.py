"""Ingest of a log folder holding thousands of small files (a year of hourly rotation, a shipper
flushing every minute): the first ingest, the rerun that finds nothing new (what a scheduled
collector does every few minutes), and the run after one more file lands.

    .venv/bin/python bench/many_files.py            # 5,000 files of 3 events
    .venv/bin/python bench/many_files.py --quick    # 500 files

Baseline, in the same run: the same events in one file. Before the resume points were indexed
(``9ec9606``, measured by hand with ``/usr/bin/time``, not by this script): 5,000 files took 241 s
to ingest and 175 s to find nothing new, every run, because each file loaded and hashed every
stored resume point (quadratic in the number of files).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _line(t: datetime, i: int) -> str:
    ts = (t + timedelta(minutes=i)).isoformat()
    return json.dumps({"type": "track", "event": "Product Viewed", "userId": f"u{i}", "timestamp": ts, "sentAt": ts,
                       "receivedAt": ts, "properties": {"product_id": "p", "variant_id": "v", "category": "c",
                                                        "price": 1.5}}) + "\n"  # fmt: skip


def make_folder(folder: Path, n: int, per_file: int = 3) -> Path:
    """``n`` hourly files of ``per_file`` events, and the same events in one file beside the folder."""
    folder.mkdir(parents=True)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    with open(folder.parent / "all.jsonl", "w", encoding="utf-8") as whole:
        for h in range(n):
            t = start + timedelta(hours=h)
            text = "".join(_line(t, i) for i in range(per_file))
            (folder / f"app.log.{t:%Y%m%d%H}").write_text(text, encoding="utf-8")
            whole.write(text)
    return folder.parent / "all.jsonl"


def ingest(db: str, path: Path) -> tuple[float, int, int]:
    """(seconds, files read, files unchanged) of one ``ingest`` run."""
    out = subprocess.run(
        [sys.executable, "-m", "monitors", "ingest", str(path), "--db", db, "--source", "bench", "--format", "json",
         "--final-line-grace", "0s", "--no-progress"],
        check=True, capture_output=True, cwd=ROOT, text=True,
    )  # fmt: skip
    report = json.loads(out.stdout)
    statuses = [f["status"] for f in report["files"]]
    return float(report["seconds"]), statuses.count("read"), statuses.count("unchanged")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 files")
    args = parser.parse_args()
    n = 500 if args.quick else 5000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "logs"
        whole = make_folder(folder, n)
        rows = [("the same events in one file (baseline)", *ingest(f"sqlite:///{tmp}/one.sqlite", whole))]
        db = f"sqlite:///{tmp}/many.sqlite"
        rows.append((f"{n:,} files, first ingest", *ingest(db, folder)))
        rows.append((f"{n:,} files, rerun: nothing new", *ingest(db, folder)))
        last = datetime(2026, 6, 1, tzinfo=UTC) + timedelta(hours=n)
        (folder / f"app.log.{last:%Y%m%d%H}").write_text("".join(_line(last, i) for i in range(3)), encoding="utf-8")
        rows.append((f"{n:,} files, rerun after one more lands", *ingest(db, folder)))
    print(f"{n:,} files of 3 events (~800 bytes each), fresh SQLite store, 2 cores\n")
    print(f"| {'run':<42} | {'seconds':>8} | {'read':>6} | {'unchanged':>9} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 8}|{'-' * 11}|")
    for name, secs, read, same in rows:
        print(f"| {name:<42} | {secs:>8.2f} | {read:>6,} | {same:>9,} |")


if __name__ == "__main__":
    main()

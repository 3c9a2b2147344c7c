"""Every benchmark in ``bench/``, one after another, each in its own process (``make bench``).

    .venv/bin/python bench/run_all.py            # full sizes (tens of minutes)
    .venv/bin/python bench/run_all.py --quick    # the smaller sizes, where a script has them
    .venv/bin/python bench/run_all.py --only ingest_speed input_shapes

Each script prints its own table (with its baseline measured in the same run); this prints them in
turn and ends with how long each took and whether it finished. The PostgreSQL benchmarks use
``EHM_TEST_POSTGRES_URL`` (default: the local server). Exits non-zero when any script failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# script, and whether it takes --quick
SCRIPTS: tuple[tuple[str, bool], ...] = (
    ("ingest_speed", True),
    ("input_shapes", False),
    ("hard_inputs", True),
    ("many_files", True),
    ("hll_accuracy", True),
    ("volume_speed", True),
    ("volume_quality", True),
    ("incidents", True),
    ("alerts_noise", True),
    ("customerio_throughput", True),
    ("dashboard_speed", True),
    ("store_volume", True),
    ("warehouse_pushdown", True),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to the scripts that take it")
    parser.add_argument("--only", nargs="+", choices=[name for name, _ in SCRIPTS], help="run only these")
    args = parser.parse_args(argv)
    chosen = [(n, q) for n, q in SCRIPTS if not args.only or n in args.only]
    results: list[tuple[str, float, int]] = []
    for name, takes_quick in chosen:
        cmd = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if args.quick and takes_quick else [])]
        print(f"\n===== {name}: {' '.join(cmd[1:])}", flush=True)
        started = time.monotonic()
        rc = subprocess.run(cmd, cwd=HERE.parent).returncode
        results.append((name, time.monotonic() - started, rc))
    print("\n| benchmark | seconds | result |\n|---|---:|---|")
    for name, seconds, rc in results:
        print(f"| {name} | {seconds:.0f} | {'ok' if rc == 0 else f'failed (exit {rc})'} |")
    return 1 if any(rc for _, _, rc in results) else 0


if __name__ == "__main__":
    sys.exit(main())

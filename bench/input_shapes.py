"""Ingest time by input shape: the same 100,000 messages written the ways real backends write them.

    .venv/bin/python bench/input_shapes.py

Baseline, in the same run: the compact single-message file the other shapes are made from. Each
shape names the reader that took it (``native``: the C scanner alone; ``+exact``: lines it left
to DuckDB). Shapes: CRLF line ends; timestamps with nanoseconds (Go's RFC 3339 "nano"); Python's
default ``json.dumps`` (spaces, ``\\u`` escapes); analytics.js-style messages (1 KB, contexts that
repeat); Pipelines batch bodies of 100 messages per line; 28 KB messages with numeric timestamps
(left to DuckDB in pieces); and, without the native scanner, the batch bodies again.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest_speed import OUT, make_file  # noqa: E402

N = 100_000


def _lines(src: Path) -> Iterator[str]:
    with open(src, encoding="utf-8") as fh:
        yield from (line.rstrip("\n") for line in fh)


def crlf(src: Path, out: Path) -> None:
    with open(out, "w", encoding="utf-8", newline="") as fh:
        fh.writelines(line + "\r\n" for line in _lines(src))


def nanos(src: Path, out: Path) -> None:
    with open(out, "w", encoding="utf-8") as fh:
        for line in _lines(src):
            fh.write(line.replace('+00:00"', '456789Z"') + "\n")


def python_default(src: Path, out: Path) -> None:
    with open(out, "w", encoding="utf-8") as fh:
        for line in _lines(src):
            msg = json.loads(line)
            msg.setdefault("properties", {})["title"] = "Crème brûlée – 50 ml"
            fh.write(json.dumps(msg) + "\n")


def analytics_js(src: Path, out: Path) -> None:
    rng = random.Random(3)
    agents = [f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_{i}) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15"
              for i in range(20)]  # fmt: skip
    with open(out, "w", encoding="utf-8") as fh:
        for line in _lines(src):
            msg = json.loads(line)
            u = rng.randrange(5000)
            msg["context"] = {
                "library": {"name": "analytics.js", "version": "next-1.64.0"}, "locale": "en-US",
                "page": {"path": "/products/123", "referrer": "https://www.google.com/", "search": "",
                         "title": "Glow Serum – Shop", "url": "https://shop.example.com/products/123"},
                "userAgent": agents[u % 20],
                "userAgentData": {"brands": [{"brand": "Chromium", "version": "120"}], "mobile": False, "platform": "macOS"},
                "screen": {"width": 1512, "height": 982, "density": 2}, "timezone": "Europe/Paris",
                "ip": f"203.0.113.{u % 250}",
            }  # fmt: skip
            msg["integrations"] = {"Customer.io Data Pipelines": {"versionSettings": {"componentTypes": []}}}
            fh.write(json.dumps(msg, separators=(",", ":"), ensure_ascii=False) + "\n")


def batch_bodies(src: Path, out: Path) -> None:
    msgs = [json.loads(line) for line in _lines(src)]
    with open(out, "w", encoding="utf-8") as fh:
        for i in range(0, len(msgs), 100):
            body = msgs[i : i + 100]
            fh.write(json.dumps({"batch": body, "sentAt": body[-1].get("sentAt"),
                                 "context": {"library": {"name": "analytics-python", "version": "2.3.3"}}},
                                separators=(",", ":")) + "\n")  # fmt: skip


def wide_numeric(src: Path, out: Path) -> None:
    with open(out, "w", encoding="utf-8") as fh:
        for i in range(6000):
            msg = {"type": "track", "event": "Product Viewed", "userId": f"u{i}", "timestamp": 1793491200 + i,
                   "properties": {"product_id": "p", "variant_id": "v", "category": "c", "price": 1.5, "blob": "x" * 28000}}  # fmt: skip
            fh.write(json.dumps(msg, separators=(",", ":")) + "\n")


SHAPES: list[tuple[str, Callable[[Path, Path], None] | None, bool]] = [
    ("compact single messages (baseline)", None, True),
    ("CRLF line ends", crlf, True),
    ("timestamps with nanoseconds", nanos, True),
    ("Python json.dumps defaults", python_default, True),
    ("analytics.js-style, 1 KB", analytics_js, True),
    ("Pipelines bodies of 100 messages", batch_bodies, True),
    ("28 KB messages, numeric timestamps", wide_numeric, True),
    ("Pipelines bodies, DuckDB only", batch_bodies, False),
]


def ingest(path: Path, native: bool) -> dict[str, object]:
    """The CLI's JSON report of a fresh ingest (its own time, without interpreter start-up)."""
    env = {**os.environ, "EHM_NATIVE": "1" if native else "0"}
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/shape.sqlite"
        out = subprocess.run(
            [sys.executable, "-m", "monitors", "ingest", str(path), "--db", db, "--source", "bench", "--format", "json",
             "--final-line-grace", "0s", "--no-progress"],
            check=True, capture_output=True, cwd=ROOT, text=True, env=env,
        )  # fmt: skip
        return dict(json.loads(out.stdout))


def main() -> None:
    src = make_file(N)
    print(f"{N:,} messages (the 6,000-message wide file aside), best of 2 runs, 2 cores\n")
    print(f"| {'shape':<36} | {'MB':>6} | {'events':>8} | {'seconds':>7} | {'events/s':>9} | reader |")
    print(f"|{'-' * 38}|{'-' * 8}|{'-' * 10}|{'-' * 9}|{'-' * 11}|--------|")
    for name, build, native in SHAPES:
        path = src
        if build is not None:
            path = OUT / f"shape-{build.__name__}.jsonl"
            if not path.exists():
                build(src, path)
        runs = [ingest(path, native) for _ in range(2)]
        best = min(runs, key=lambda r: float(r["seconds"]))  # type: ignore[arg-type]
        secs, events = float(best["seconds"]), int(best["events"])  # type: ignore[arg-type, call-overload]
        files = best.get("files") or [{}]
        reader = str(files[0].get("reader", "")) if isinstance(files, list) else ""  # type: ignore[union-attr]
        print(f"| {name:<36} | {path.stat().st_size / 1e6:>6.0f} | {events:>8,} | {secs:>7.2f} | {events / secs:>9,.0f} | "
              f"{reader or '-'} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

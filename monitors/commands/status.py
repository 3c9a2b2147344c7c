"""``status``: sources, last ingest, resume points, totals (and other components' health)."""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from datetime import datetime
from typing import Any

from monitors.commands._common import add_config_args, config_of, open_store
from monitors.ingest import files
from monitors.timeutil import iso
from storage.batch import Checkpoint


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    p = sub.add_parser("status", help="sources, last ingest, resume points, totals")
    add_config_args(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def collect(store: Any) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    status: dict[str, Any] = {"database": store.url, "bucket_seconds": store.bucket_seconds(), "sources": store.source_status()}
    health = getattr(store, "customerio_health", None)
    if callable(health):
        status["customerio"] = health()
    plain: dict[str, Any] = _plain(status)
    return plain


SHOWN_RESUME_POINTS = 20  # the most recently updated; --format json has them all


def _resume_state(rp: dict[str, Any]) -> str:
    if rp["offset"] < 0 or (rp["complete"] and not rp.get("compressed")):
        return "complete"
    if rp.get("compressed"):  # offsets count decompressed bytes: the file's own size is another unit
        read = f"{rp['offset']:,} bytes decompressed"
        return f"complete, {read}" if rp["complete"] else f"{read} so far (a {rp['size']:,}-byte compressed file)"
    return f"{rp['offset']:,}/{rp['size']:,} bytes"


def _elsewhere(rp: dict[str, Any]) -> str:
    """A note when the content of resume point ``rp`` is no longer at its path (rotation renamed or
    deleted it): the point is kept, so that content is never read twice if it comes back."""
    point = Checkpoint(rp["file_key"], rp["fp_len"], rp["path"], rp["offset"], rp["size"], 0.0, rp["compressed"],
                       rp["complete"])  # fmt: skip
    try:
        if files.match_checkpoint(files.FileInfo.of(rp["path"]), [point]) is not None:
            return ""
    except FileNotFoundError:
        return " (file gone; the point is kept so its content is never read twice)"
    except (OSError, EOFError, ValueError, zlib.error, files.StreamDamage):
        return " (file unreadable now)"
    return " (other content at this path now: the file was rotated or rewritten)"


def run(args: argparse.Namespace) -> int:
    """Print the status."""
    status = collect(open_store(args, config_of(args)))
    if args.format == "json":
        json.dump(status, sys.stdout, indent=2, default=str)
        print()
        return 0
    width = f"buckets of {status['bucket_seconds']}s" if status["bucket_seconds"] else "no buckets yet"
    print(f"database: {status['database']} ({width})")
    if not status["sources"]:
        print("no sources ingested yet — run `python -m monitors ingest PATH --source NAME`")
    for s in status["sources"]:
        last = s["last_run"] or {}
        latest = iso(s["latest_bucket"]) if s["latest_bucket"] is not None else "-"
        print(f"source {s['source']} [{', '.join(s['environments']) or '-'}]: {s['events']:,} events in "
              f"{s['event_names']} event names, {s['rejected']:,} rejected, latest bucket {latest}")  # fmt: skip
        state = last.get("status", "-")
        if state == "running":  # a run killed on the way never says otherwise
            state = "running, or stopped without finishing, since"
        print(f"  last ingest: {state} at {last.get('finished_at') or last.get('started_at') or '-'}"
              f" ({last.get('files', 0)} files, {last.get('events', 0):,} events)"
              + (f" error: {last['error']}" if last.get("error") else ""))  # fmt: skip
        points = sorted(s["resume_points"], key=lambda rp: str(rp.get("updated_at") or ""), reverse=True)
        for rp in points[:SHOWN_RESUME_POINTS]:
            print(f"  resume point {rp['path']}: {_resume_state(rp)}{_elsewhere(rp)}")
        if len(points) > SHOWN_RESUME_POINTS:
            print(f"  … and {len(points) - SHOWN_RESUME_POINTS:,} older resume points (--format json lists them all)")
    for cio in status.get("customerio", []) or []:
        print(f"customer.io {cio.get('workspace')}: {cio.get('status')} {cio.get('message') or ''}".rstrip())
    return 0

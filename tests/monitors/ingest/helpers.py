"""Builders of input lines and a canonical snapshot of everything ingest writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitors.ingest.names import DEFAULT_MAX_NAMES
from monitors.ingest.pipeline import IngestOptions, IngestReport, ingest
from monitors.ingest.propkeys import DEFAULT_MAX_KEYS
from monitors.plan import load_plan
from storage import Store
from storage.tables import event_metrics, latency_sketches, property_stats, rejects, series, violations

T0 = "2026-11-02T10:00:00.000+00:00"


def track(event: str = "Added to Cart", *, user: str | None = "u1", ts: str = T0, sent: str | None = None,
          received: str | None = None, **props: Any) -> dict[str, Any]:  # fmt: skip
    """A Segment track message."""
    msg: dict[str, Any] = {"type": "track", "event": event, "userId": user, "anonymousId": None,
                           "messageId": f"m-{event}-{user}-{ts}-{len(props)}", "timestamp": ts}  # fmt: skip
    msg["properties"] = props if props else {"cart_id": "c1", "items": [{"product_id": "p1", "quantity": 1, "price": 9.5}],
                                             "cart_value": 9.5}  # fmt: skip
    if sent:
        msg["sentAt"] = sent
    if received:
        msg["receivedAt"] = received
    return msg


def write_lines(path: Path, lines: list[Any], *, mode: str = "w") -> Path:
    """Write JSON values (dicts) or raw strings/bytes as lines."""
    with open(path, mode + "b") as fh:
        for line in lines:
            if isinstance(line, bytes):
                fh.write(line + b"\n")
            elif isinstance(line, str):
                fh.write(line.encode() + b"\n")
            else:
                fh.write(json.dumps(line).encode() + b"\n")
    return path


def run_ingest(store: Store, *paths: Path | str, source: str = "web", environment: str = "production",
               grace: float = 0.0, plan: Any = None, native: bool = True,
               max_event_names: int = DEFAULT_MAX_NAMES, max_property_keys: int = DEFAULT_MAX_KEYS,
               progress: bool = False) -> IngestReport:  # fmt: skip
    """Ingest with test-friendly options (no final-line grace)."""
    opts = IngestOptions(source=source, environment=environment, plan=plan or load_plan(), final_line_grace=grace,
                         native=native, max_event_names=max_event_names, max_property_keys=max_property_keys,
                         progress=progress)  # fmt: skip
    return ingest(store, [str(p) for p in paths], opts)


def snapshot(store: Store) -> dict[str, Any]:
    """Every metric row, keyed by series name (ids differ between runs)."""
    with store.engine.connect() as conn:
        names = {r.id: (r.source, r.environment, r.event) for r in conn.execute(select(series)).all()}
        out: dict[str, Any] = {}
        for table in (event_metrics, latency_sketches, violations, property_stats):
            rows = []
            for r in conn.execute(select(table)).all():
                d = r._asdict()
                d["series"] = names[d.pop("series_id")]
                rows.append(tuple(sorted((k, v) for k, v in d.items())))
            out[table.name] = sorted(rows)
        out["rejects"] = sorted((r.source, r.reason, r.count) for r in conn.execute(select(rejects)).all())
    return out


def counts_by_event(store: Store) -> dict[str, int]:
    """Total count per event name."""
    frame = store.read_counts()
    return {str(k): int(v) for k, v in frame.groupby("event")["count"].sum().items()}

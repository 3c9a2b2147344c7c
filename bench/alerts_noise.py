"""Alert noise and dispatch cost.

1. **Noise**: replays an 8-hour incident day minute by minute through the real pipeline
   (SQLite store, routing tree, journeys, inhibition, grouping, outbox, file sinks to /dev/null):
   a source outage hitting 40 events, a rename, a flapping event and a slow latency issue.
   Measured in the same run, for comparison:

   * ``ours``                 -- messages actually queued per route;
   * ``per finding (naive)``  -- one message per finding opened and resolved, no grouping or
     inhibition (what a per-test alert tool sends);
   * ``every run (naive)``    -- one message per open finding per dispatch run (suppression not
     kept across runs, the "5x the same failure" complaint).

2. **Cost**: milliseconds per dispatch tick with N open findings — the first tick (plans,
   enqueues and delivers) and a steady tick (nothing due) — against N = 0 as the baseline.

Run: ``.venv/bin/python bench/alerts_noise.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.alerts.dispatch import dispatch
from monitors.alerts.finding import AlertFinding
from monitors.alerts.journeys import annotate
from monitors.alerts.routing import build_tree, routes_for
from monitors.config import Config, parse_config
from monitors.models import fingerprint
from storage import Store
from storage.tables_findings import findings

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
JOURNEY_EVENTS = ("Added to Cart", "Order Completed", "Checkout Started")


@dataclass(frozen=True)
class Spec:
    """One finding of the replayed day: opens at minute ``opens``, resolves at ``closes``."""

    kind: str
    event: str
    opens: int
    closes: int
    severity: str = "warning"
    source: str = "web"
    evidence: str = "{}"

    @property
    def started(self) -> datetime:
        return T0 + timedelta(minutes=self.opens)

    @property
    def fp(self) -> str:
        return fingerprint(self.kind, self.source, "production", self.event, "", self.started)


def config(out: str) -> Config:
    receivers = [{"name": n, "type": "file", "path": out} for n in ("pager", "retention", "team")]
    route = {
        "receiver": "team",
        "routes": [
            {
                "name": "oncall",
                "receiver": "pager",
                "min_severity": "critical",
                "continue": True,
                "group_by": ["..."],
            },
            {"name": "retention", "receiver": "retention", "match": {"journey": "*"}},
        ],
    }
    journeys = [
        {
            "name": "Cart recovery",
            "trigger": ["Added to Cart"],
            "exit": ["Order Completed"],
            "filter": ["cart_value"],
        },
        {"name": "Checkout nudge", "trigger": ["Checkout Started"], "exit": ["Order Completed"]},
    ]
    return parse_config({"journeys": journeys, "alerts": {"receivers": receivers, "route": route}})


def incident_day() -> list[Spec]:
    events = [*JOURNEY_EVENTS, *(f"Event {i:02d}" for i in range(37))]
    specs = [Spec("source_down", "", 10, 70)]
    specs += [Spec("silence", e, 10 + i % 5, 70 + i % 3) for i, e in enumerate(events)]
    rename = json.dumps({"from": "Order Completed", "to": "order_completed"})
    specs += [Spec("event_rename", "order_completed", 120, 300, evidence=rename)]
    specs += [
        Spec("volume_drop", "Order Completed", 121, 300),
        Spec("new_event", "order_completed", 121, 300),
    ]
    specs += [Spec("volume_drop", "Search", start, start + 12) for start in (200, 230, 260)]
    specs += [Spec("latency", "Checkout Started", 100, 460)]
    return specs


def _row(spec: Spec) -> dict[str, Any]:
    return {
        "fingerprint": spec.fp, "kind": spec.kind, "source": spec.source, "environment": "production",
        "event": spec.event, "subject": "", "title": f"{spec.event or spec.source}: {spec.kind}",
        "severity": spec.severity, "score": 5.0, "observed": 0.0, "expected": 100.0, "started_at": spec.started,
        "status": "open", "evidence": spec.evidence, "created_at": spec.started, "updated_at": spec.started,
    }  # fmt: skip


def replay(store: Store, cfg: Config, specs: list[Spec], minutes: int) -> None:
    for minute in range(minutes):
        now = T0 + timedelta(minutes=minute)
        with store.engine.begin() as conn:  # stands in for the detectors writing findings
            opening = [_row(s) for s in specs if s.opens == minute]
            if opening:
                conn.execute(insert(findings), opening)
            for s in specs:
                if s.closes == minute:
                    conn.execute(
                        update(findings)
                        .where(findings.c.fingerprint == s.fp)
                        .values(status="resolved", ended_at=now)
                    )
        dispatch(store, cfg, now + timedelta(seconds=30))


def baselines(cfg: Config, specs: list[Spec], minutes: int) -> tuple[Counter[str], Counter[str]]:
    tree = build_tree(cfg.alerts)
    assert tree is not None
    per_finding: Counter[str] = Counter()
    every_run: Counter[str] = Counter()
    for s in specs:
        row = {**_row(s), "evidence": json.loads(s.evidence)}
        finding = annotate(AlertFinding.from_row(row), cfg.journeys)
        if s.opens >= minutes:
            continue
        for route in routes_for(tree, finding):
            per_finding[route.name] += 1 + (s.closes < minutes)
            every_run[route.name] += min(s.closes, minutes) - s.opens
    return per_finding, every_run


def noise(minutes: int) -> None:
    cfg = config("/dev/null")
    specs = incident_day()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_url(f"sqlite:///{tmp}/bench.sqlite")
        store.migrate()
        started = time.perf_counter()
        replay(store, cfg, specs, minutes)
        elapsed = time.perf_counter() - started
        ours = Counter(r["route"] for r in store.list_outbox(limit=100_000))
        store.dispose()
    per_finding, every_run = baselines(cfg, specs, minutes)
    opened = sum(1 for s in specs if s.opens < minutes)
    print(f"\nNoise: {opened} findings over {minutes} one-minute dispatch ticks ({elapsed:.1f} s)\n")
    print(f"{'route':<12}{'ours':>8}{'per finding (naive)':>22}{'every run (naive)':>20}")
    for route in ("oncall", "retention", "default"):
        print(f"{route:<12}{ours[route]:>8}{per_finding[route]:>22}{every_run[route]:>20}")
    total = sum(ours.values()), sum(per_finding.values()), sum(every_run.values())
    print(f"{'total':<12}{total[0]:>8}{total[1]:>22}{total[2]:>20}")


def cost(sizes: list[int]) -> None:
    cfg = config("/dev/null")
    print("\nCost per dispatch tick (SQLite, file sinks to /dev/null)\n")
    print(f"{'open findings':>14}{'first tick ms':>16}{'steady tick ms':>16}{'messages':>10}")
    for n in sizes:
        specs = [Spec("volume_drop", f"Event {i:05d}", 0, 10_000, source=f"src{i % 20}") for i in range(n)]
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.from_url(f"sqlite:///{tmp}/bench.sqlite")
            store.migrate()
            if specs:
                with store.engine.begin() as conn:
                    conn.execute(insert(findings), [_row(s) for s in specs])
            t = time.perf_counter()
            report = dispatch(store, cfg, T0 + timedelta(minutes=1))
            first = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            dispatch(store, cfg, T0 + timedelta(minutes=2))
            steady = (time.perf_counter() - t) * 1000
            store.dispose()
        label = f"{n:,}" + (" (baseline)" if n == 0 else "")
        print(f"{label:>14}{first:>16.1f}{steady:>16.1f}{report.enqueued:>10}")


def main() -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter day and smaller sizes")
    args = parser.parse_args()
    noise(180 if args.quick else 480)
    cost([0, 200] if args.quick else [0, 200, 2000])


if __name__ == "__main__":
    main()

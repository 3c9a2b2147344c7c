"""Incident benchmark of the detectors (issue 4): weeks of realistic D2C traffic from two sources
with one incident of each kind injected at known times, ingested with the real ingest path into
a temporary SQLite store *as it arrives*, and judged by every registered detector pass after pass.

    .venv/bin/python bench/incidents.py            # 28 days, full traffic (several minutes)
    .venv/bin/python bench/incidents.py --quick    # 18 days, half the traffic
    .venv/bin/python bench/incidents.py --only speed [--quick]

Messages are written to one file per ingest step in the order they arrive (``receivedAt``); a
step is an hour, and 5 minutes from 15 minutes before to 90 minutes after each incident starts,
so detection delays are measured to the 5 minutes. Before every pass the step's files are
ingested (``SourceIngester``, the code behind ``python -m monitors ingest``), then
``run_detection`` runs at the step's time. Volume detection needs 14 days of history, so the
first 13 days are ingested at once and passes start on day 13.

Printed per incident kind: found / injected, median delay from onset to the pass that opened the
finding, and whether renames came out as one finding. False findings are findings opened that
relate to no incident (another source, event or time), per day and per week of judged traffic.
The speed part times all semantic detectors replaying 90 days × 200 events (pure detectors, in
day-long passes as live runs would, state carried over), and one steady pass on SQLite.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from bisect import bisect_left
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.config import Config
from monitors.demo.incidents import Incident, Traffic, default_incidents, dumps
from monitors.detect import run_detection
from monitors.ingest.pipeline import IngestOptions, SourceIngester
from monitors.plan import load_plan
from storage import Store
from storage.findings_store import StoredFinding

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
DETECT_FROM_DAY = 13


def boundaries(start: datetime, end: datetime, incidents: list[Incident]) -> list[datetime]:
    """Ingest/detect steps: hourly, and every 5 minutes around incident onsets."""
    first = start + timedelta(days=DETECT_FROM_DAY)
    steps = {first + timedelta(hours=h) for h in range(int((end - first).total_seconds() // 3600) + 1)}
    for inc in incidents:
        lo = inc.start.replace(second=0, microsecond=0) - timedelta(minutes=15 + inc.start.minute % 5)
        steps |= {lo + timedelta(minutes=5 * i) for i in range(22)}
    return sorted(s for s in steps if first <= s <= end)


def write_steps(traffic: Traffic, bounds: list[datetime], folder: Path) -> tuple[list[dict[str, Path]], int]:
    """Messages by arrival into one file per (step, source): step i holds arrivals in (b[i-1], b[i]]."""
    files: list[dict[str, Path]] = [{} for _ in bounds]
    handles: dict[tuple[int, str], Any] = {}
    n = 0
    for source, arrival, msg in traffic.messages():
        i = bisect_left(bounds, arrival)
        if i >= len(bounds):
            continue
        key = (i, source)
        if key not in handles:
            for old in [k for k in handles if k[0] < i]:
                handles.pop(old).close()
            path = folder / f"{source}-{i:05d}.jsonl"
            handles[key] = open(path, "w", encoding="utf-8")  # noqa: SIM115
            files[i][source] = path
        handles[key].write(dumps(msg) + "\n")
        n += 1
    for h in handles.values():
        h.close()
    return files, n


def replay(store: Store, config: Config, bounds: list[datetime], files: list[dict[str, Path]]) -> dict[str, datetime]:
    """Ingest step by step and detect after each; returns when each finding was first opened."""
    clock = {"now": bounds[0]}
    plan = load_plan(None)
    def options(source: str) -> IngestOptions:
        """Ingest options of one source, on the benchmark's clock."""
        return IngestOptions(source=source, environment="production", plan=plan, final_line_grace=0.0,
                             clock=lambda: clock["now"], leakage=config.leakage)  # fmt: skip

    ingesters = {s: SourceIngester(store, options(s)) for s in ("web", "ios")}
    opened: dict[str, datetime] = {}
    started = time.perf_counter()
    spent = {"ingest": 0.0, "detect": 0.0}
    try:
        for i, at in enumerate(bounds):
            clock["now"] = at
            t0 = time.perf_counter()
            for source, path in sorted(files[i].items()):
                ingesters[source].run([str(path)], strict=True)
            t1 = time.perf_counter()
            report = run_detection(store, config, now=at)
            spent["ingest"] += t1 - t0
            spent["detect"] += time.perf_counter() - t1
            for fp in report.opened:
                opened.setdefault(fp, at)
            if i % 50 == 0:
                print(f"  pass {i + 1}/{len(bounds)} at {at:%Y-%m-%d %H:%M} ({time.perf_counter() - started:.0f}s)", file=sys.stderr)
    finally:
        for ing in ingesters.values():
            ing.close()
    print(f"  ingest {spent['ingest']:.0f}s, detection {spent['detect']:.0f}s "
          f"({spent['detect'] / max(len(bounds), 1):.2f}s per pass)", file=sys.stderr)  # fmt: skip
    return opened


def _names(inc: Incident) -> set[str]:
    return {inc.event, str(inc.detail.get("to", ""))} - {""}


def related(f: StoredFinding, inc: Incident, end: datetime) -> bool:
    """Whether a finding is about an incident: its source, its event(s), and it started between
    30 minutes before the incident and 2 hours after it ended."""
    if f.source not in (inc.source, "*"):
        return False
    if not inc.start - timedelta(minutes=30) <= f.started_at <= min(inc.end, end) + timedelta(hours=2):
        return False
    if f.source == "*":
        variants = set(f.evidence.get("variants", {}))
        props = {str(inc.detail.get("from", "")), str(inc.detail.get("to", ""))}
        return bool(variants & (_names(inc) | props))
    return not inc.event or f.event in _names(inc)


def matches(f: StoredFinding, inc: Incident, end: datetime) -> bool:
    """Whether a finding reports the incident itself (the kind it should be reported as)."""
    if f.kind not in inc.expects or not related(f, inc, end):
        return False
    d = inc.detail
    if inc.kind == "event_rename":
        return f.evidence.get("from") == inc.event and f.evidence.get("to") == d["to"]
    if inc.kind == "property_rename":
        return f.evidence.get("from") == d["from"] and f.evidence.get("to") == d["to"]
    if inc.kind in ("property_missing", "type_change"):
        return f.subject == d["property"]
    if inc.kind == "missing_cart_id":
        return f.subject == "cart_id"
    return True


def score(incidents: list[Incident], findings: list[StoredFinding], opened: dict[str, datetime], start: datetime,
          end: datetime) -> tuple[list[dict[str, Any]], list[StoredFinding]]:  # fmt: skip
    """Per incident: found, delay, extra findings; and the findings related to no incident."""
    rows = []
    for inc in incidents:
        hits = [f for f in findings if matches(f, inc, end) and f.fingerprint in opened]
        first = min((opened[f.fingerprint] for f in hits), default=None)
        delay = None if first is None else max((first - inc.start).total_seconds() / 60, 0.0)
        separate = 0
        if inc.kind == "event_rename":
            separate = sum(
                1 for f in findings if f.fingerprint in opened and related(f, inc, end)
                and ((f.kind in ("volume_drop", "silence") and f.event == inc.event)
                     or (f.kind in ("new_event", "unplanned_event") and f.event == inc.detail["to"]))
            )  # fmt: skip
        rows.append({"incident": inc, "found": first is not None and delay is not None and delay <= 60,
                     "seen": first is not None, "delay_min": delay, "separate": separate})  # fmt: skip
    false = [f for f in findings if f.fingerprint in opened and not any(related(f, i, end) for i in incidents)]
    return rows, false


def print_quality(rows: list[dict[str, Any]], false: list[StoredFinding], days: float) -> None:
    """The per-incident and per-kind tables."""
    print("\nIncidents")
    print(f"{'starts':<17} {'incident':<64} {'found≤1h':>8} {'delay':>7} {'separate':>8}")
    for r in rows:
        inc = r["incident"]
        delay = "-" if r["delay_min"] is None else f"{r['delay_min']:.0f}m"
        print(f"{inc.start:%Y-%m-%d %H:%M} {inc.describe()[:64]:<64} {('yes' if r['found'] else 'late' if r['seen'] else 'NO'):>8} "
              f"{delay:>7} {r['separate'] if inc.kind == 'event_rename' else '':>8}")  # fmt: skip
    print(f"\n{'kind':<18} {'found/injected':>14} {'median delay':>13}")
    kinds: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        kinds.setdefault(r["incident"].kind, []).append(r)
    for kind, items in kinds.items():
        delays = [r["delay_min"] for r in items if r["delay_min"] is not None]
        med = f"{statistics.median(delays):.0f} min" if delays else "-"
        print(f"{kind:<18} {sum(r['found'] for r in items):>7}/{len(items):<6} {med:>13}")
    renames = [r for r in rows if r["incident"].kind == "event_rename"]
    print(f"\nrenames reported as one finding: {sum(r['found'] and r['separate'] == 0 for r in renames)}/{len(renames)} "
          f"(drop/new-event findings opened beside them: {sum(r['separate'] for r in renames)})")  # fmt: skip
    per_day = len(false) / days
    print(f"false findings: {len(false)} over {days:.1f} judged days = {per_day:.2f}/day = {7 * per_day:.2f}/week "
          f"(target ≤ 1/week)")  # fmt: skip
    for kind, n in Counter(f.kind for f in false).most_common():
        print(f"  {kind}: {n}")
    for f in false[:12]:
        print(f"    {f.started_at:%m-%d %H:%M} {f.kind} {f.source}/{f.event} {f.subject}: {f.title[:110]}")


def quality(days: int, scale: float, keep: Path | None, seed: int = 3) -> None:
    """Generate, ingest and detect; print the tables."""
    end = START + timedelta(days=days)
    incidents = default_incidents(START, days)
    bounds = boundaries(START, end, incidents)
    folder = keep or Path(tempfile.mkdtemp(prefix="ehm-incidents-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        files, n = write_steps(Traffic(START, end, incidents, seed=seed, scale=scale), bounds, folder)
        t1 = time.perf_counter()
        print(f"traffic: {days} days, {n:,} messages from 2 sources in {t1 - t0:.0f}s; {len(bounds)} passes", file=sys.stderr)
        store = Store.from_url(f"sqlite:///{folder / 'bench.sqlite'}")
        store.migrate()
        config = Config()
        opened = replay(store, config, bounds, files)
        t2 = time.perf_counter()
        findings = store.list_findings()
        rows, false = score(incidents, findings, opened, START, end)
        judged = (end - bounds[0]).total_seconds() / 86400
        print(f"\nIncident benchmark (seed {seed}): {days} days of traffic ({n:,} messages), {len(incidents)} incidents, "
              f"{len(bounds)} ingest+detect passes in {t2 - t1:.0f}s (generation {t1 - t0:.0f}s)")  # fmt: skip
        print_quality(rows, false, judged)
        store.dispose()
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


# -- speed: all semantic detectors over 90 days × 200 events ------------------------------------

SEMANTIC = ("schema", "leakage", "latency", "identity", "names", "rename")
W = 300


class _Synthetic:
    """Frames for ``n`` events (two sources, each with a ``$identify``), one day at a time, as the
    Store returns them: counts log-uniform 0.3–300 per 5 minutes with a daily cycle, 4 properties
    per event, latency sketches of 3 hops, sparse violations and leaks, identity sketches."""

    def __init__(self, n: int, seed: int = 5) -> None:
        import numpy as np

        from monitors.sketch import HLL, LatencySketch

        self.np = np
        self.rng = np.random.default_rng(seed)
        half = n // 2
        self.events = [("web" if i < half else "ios", "$identify" if i in (0, half) else f"event {i:03d}") for i in range(n)]
        self.mean = np.exp(self.rng.uniform(np.log(0.3), np.log(300), n))
        rnd = random.Random(seed)
        self.sketches = [LatencySketch.from_values(rnd.expovariate(1 / rnd.choice((0.5, 2, 20))) for _ in range(40)).encode()
                         for _ in range(64)]  # fmt: skip
        self.hlls = [HLL.from_keys(f"{j}-{i}" for i in range(rnd.randint(1, 60))).encode() for j in range(64)]

    def day(self, d: int) -> dict[str, pd.DataFrame]:
        """Every frame for day ``d`` (0-based, from START)."""
        np = self.np
        times = int(START.timestamp()) + d * 86400 + W * np.arange(288)
        shape = 1 + 0.6 * np.sin((times % 86400) / 86400 * 2 * np.pi)
        counts = self.rng.poisson(self.mean[None, :] * shape[:, None])
        t_idx, e_idx = np.nonzero(counts)
        n = counts[t_idx, e_idx]
        src = np.array([s for s, _ in self.events])[e_idx]
        ev = np.array([e for _, e in self.events])[e_idx]
        base = pd.DataFrame({"source": src, "environment": "production", "event": ev, "bucket_start": times[t_idx]})
        leak = self.rng.binomial(n, 0.0005)
        miss = self.rng.binomial(n, 0.002) * (e_idx % 4 == 0)
        metrics = base.assign(count=n, checked=n, conforming=n - miss, identified=n)
        viol = pd.concat([base.assign(vtype="leak", property="", count=leak)[leak > 0],
                          base.assign(vtype="missing_required_property", property="price", count=miss)[miss > 0]])  # fmt: skip
        props = pd.concat([base.assign(property=p, json_type=t, count=n - (miss if p == "price" else 0))
                           for p, t in (("price", "DOUBLE"), ("product_id", "VARCHAR"), ("items", "ARRAY"), ("currency", "VARCHAR"))])  # fmt: skip
        pick = self.rng.integers(0, 64, (len(base), 4))
        sk = np.array(self.sketches, dtype=object)
        latency = pd.concat([base.assign(hop=h, count=n, bins=sk[pick[:, i]]) for i, h in enumerate(("send", "deliver", "e2e"))])
        hl = np.array(self.hlls, dtype=object)
        identity = base.assign(uid_hll=hl[pick[:, 0]], anon_only_hll=hl[pick[:, 1]], linked_hll=hl[pick[:, 2]])
        return {"metrics": metrics, "violations": viol, "props": props, "latency": latency, "identity": identity}


def _pass(detectors: list[Any], states: dict[str, Any], held: dict[str, pd.DataFrame], series: pd.DataFrame,
          now: int) -> tuple[float, int]:  # fmt: skip
    """One pass of every semantic detector at ``now``: seconds in plan + run, rows handed over.
    Slicing the held frames stands for the Store's reads and is not counted."""
    from monitors.detectors.base import DetectorInputs
    from monitors.timeutil import from_epoch

    fields = {"metrics_since": "metrics", "violations_since": "violations", "props_since": "props",
              "latency_since": "latency", "identity_since": "identity"}  # fmt: skip
    spent, rows = 0.0, 0
    for det in detectors:
        t1 = time.perf_counter()
        request = det.plan(from_epoch(now), W, series, states[det.name])
        t2 = time.perf_counter()
        extras = {name: held[name][(held[name]["bucket_start"] >= since) & (held[name]["bucket_start"] < now)]
                  for f, name in fields.items() if (since := getattr(request, f)) is not None}  # fmt: skip
        t3 = time.perf_counter()
        out = det.run(DetectorInputs(now=from_epoch(now), bucket_seconds=W, series=series, counts=pd.DataFrame(),
                                     state=states[det.name], extras=extras))  # fmt: skip
        spent += (t2 - t1) + (time.perf_counter() - t3)
        states[det.name].update(out.state)
        rows += sum(len(f) for f in extras.values())
    return spent, rows


def speed(quick: bool) -> None:
    """Time every semantic detector on a history of 90 days × 200 events (60 with ``--quick``): the
    cold pass (no saved state: the last 8 days are replayed), then steady passes every 5 minutes
    and hourly passes, as ``detect`` runs them."""
    from monitors.detectors import create
    from monitors.detectors.config import DetectorsConfig

    n = 60 if quick else 200
    synth = _Synthetic(n)
    t0 = time.perf_counter()
    days = [synth.day(d) for d in range(80, 91)]  # the replay window and the day after; older days are never read
    held = {k: pd.concat([d[k] for d in days], ignore_index=True) for k in days[0]}
    build = time.perf_counter() - t0
    first = int(START.timestamp())
    cut = first + 90 * 86400
    config = DetectorsConfig()
    detectors = [create(name, config) for name in SEMANTIC]
    states: dict[str, Any] = {d.name: {} for d in detectors}
    series = pd.DataFrame([{"source": s, "environment": "production", "event": e, "first_seen": first, "last_seen": cut,
                            "msg_type": "identify" if e == "$identify" else "track"} for s, e in synth.events])  # fmt: skip
    cold, cold_rows = _pass(detectors, states, held, series, cut + 600)
    steady = [_pass(detectors, states, held, series.assign(last_seen=cut + 300 * i), cut + 300 * i + 600)
              for i in range(1, 13)]  # fmt: skip
    hourly = [_pass(detectors, states, held, series.assign(last_seen=cut + 3600 * (1 + i)), cut + 3600 * (1 + i) + 600)
              for i in range(1, 13)]  # fmt: skip
    rows = sum(len(f) for f in held.values())
    print(f"\nSpeed: every semantic detector ({', '.join(SEMANTIC)}) on 90 days × {n} events of history")
    print(f"(frames as the Store returns them: {rows:,} rows for the 11 days read; building them: {build:.1f}s, not counted)")
    print(f"{'pass':<52} {'seconds':>8} {'rows read':>11}")
    print(f"{'cold: no saved state, replays the last 8 days':<52} {cold:>8.2f} {cold_rows:>11,}   target < 10 s")
    print(f"{'steady: every 5 minutes (mean of 12)':<52} {statistics.mean(s for s, _ in steady):>8.3f} "
          f"{round(statistics.mean(r for _, r in steady)):>11,}")  # fmt: skip
    print(f"{'hourly (mean of 12)':<52} {statistics.mean(s for s, _ in hourly):>8.3f} "
          f"{round(statistics.mean(r for _, r in hourly)):>11,}")  # fmt: skip


def main() -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="18 days at 60 %% of the traffic; smaller speed run")
    p.add_argument("--days", type=int, help="days of traffic (≥ 16)")
    p.add_argument("--scale", type=float, help="traffic multiplier (1.0 ≈ 80k messages a day)")
    p.add_argument("--only", choices=("quality", "speed"))
    p.add_argument("--keep", type=Path, help="keep the generated files and store in this folder")
    p.add_argument("--seed", type=int, default=3, help="random seed of the traffic")
    args = p.parse_args()
    if args.only != "speed":
        quality(args.days or (18 if args.quick else 28), args.scale or (0.6 if args.quick else 1.0), args.keep, args.seed)
    if args.only != "quality":
        speed(quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

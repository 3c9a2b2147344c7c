"""Builders of the frames the semantic detectors read (as the Store returns them) and a runner
that plays the pipeline's part: plan, hand over the requested rows, carry state, pass after pass."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from monitors.detectors.base import (
    DataRequest,
    Detector,
    DetectorInputs,
    DetectorOutput,
    DetectorState,
    SeriesKey,
)
from monitors.models import FindingDraft
from monitors.sketch import LatencySketch
from monitors.timeutil import from_epoch

W = 300
HOUR = 3600
DAY = 86400
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z, a Monday
KEY = ["source", "environment", "event"]
EXTRA_FIELDS = {"metrics_since": "metrics", "violations_since": "violations", "props_since": "props",
                "latency_since": "latency", "identity_since": "identity"}  # fmt: skip


def grid(days: float, start: int = T0) -> np.ndarray:
    """Bucket starts covering ``days`` days."""
    return start + W * np.arange(int(days * DAY // W), dtype=np.int64)


def _keyed(event: str, source: str, n: int) -> dict[str, Any]:
    return {"source": [source] * n, "environment": ["production"] * n, "event": [event] * n}


def metrics(event: str, times: np.ndarray, checked: np.ndarray, source: str = "web",
            conforming: np.ndarray | None = None) -> pd.DataFrame:  # fmt: skip
    """``extras["metrics"]`` rows (buckets without messages left out, as ingest does)."""
    keep = checked > 0
    conf = checked if conforming is None else conforming
    return pd.DataFrame({**_keyed(event, source, int(keep.sum())), "bucket_start": times[keep],
                         "count": checked[keep], "checked": checked[keep], "conforming": conf[keep],
                         "identified": checked[keep]})  # fmt: skip


def violations(event: str, times: np.ndarray, vtype: str, counts: np.ndarray, prop: str = "",
               source: str = "web") -> pd.DataFrame:  # fmt: skip
    """``extras["violations"]`` rows of one violation type and property."""
    keep = counts > 0
    return pd.DataFrame({**_keyed(event, source, int(keep.sum())), "bucket_start": times[keep], "vtype": vtype,
                         "property": prop, "count": counts[keep]})  # fmt: skip


def props(event: str, times: np.ndarray, prop: str, counts: np.ndarray, json_type: str = "DOUBLE",
          source: str = "web") -> pd.DataFrame:  # fmt: skip
    """``extras["props"]`` rows: messages carrying ``prop`` with ``json_type`` per bucket."""
    keep = counts > 0
    return pd.DataFrame({**_keyed(event, source, int(keep.sum())), "bucket_start": times[keep], "property": prop,
                         "json_type": json_type, "count": counts[keep]})  # fmt: skip


def latency(event: str, times: np.ndarray, hop: str, values: Callable[[int, int], list[float]],
            source: str = "web") -> pd.DataFrame:  # fmt: skip
    """``extras["latency"]`` rows: ``values(i, t)`` gives bucket ``i``'s latencies in seconds."""
    rows = []
    for i, t in enumerate(times.tolist()):
        sk = LatencySketch.from_values(values(i, t))
        if sk.count:
            rows.append({"source": source, "environment": "production", "event": event, "bucket_start": t,
                         "hop": hop, "count": sk.count, "bins": sk.encode()})  # fmt: skip
    return pd.DataFrame(rows, columns=[*KEY, "bucket_start", "hop", "count", "bins"])


def samples(event: str, vtype: str, prop: str, texts: Sequence[str], at: int, source: str = "web") -> pd.DataFrame:
    """``extras["samples"]`` rows (as ingest keeps them: up to 3 slots)."""
    return pd.DataFrame([{"source": source, "environment": "production", "event": event, "vtype": vtype, "property": prop,
                          "slot": i, "bucket_start": at, "sample": t} for i, t in enumerate(texts)])  # fmt: skip


def series(frames: Iterable[pd.DataFrame], msg_type: str = "track", first: dict[str, int] | None = None) -> pd.DataFrame:
    """The ``series`` frame covering every key of ``frames`` (first/last seen from their buckets)."""
    whole = pd.concat([f[[*KEY, "bucket_start"]] for f in frames if not f.empty], ignore_index=True)
    out = whole.groupby(KEY).agg(first_seen=("bucket_start", "min"), last_seen=("bucket_start", "max")).reset_index()
    out["last_seen"] += W
    out["msg_type"] = [("identify" if e == "$identify" else msg_type) for e in out["event"]]
    for event, at in (first or {}).items():
        out.loc[out["event"] == event, "first_seen"] = at
    return out


@dataclass
class Runner:
    """Runs one detector pass after pass like ``monitors.detect`` does, keeping its state."""

    detector: Detector
    frames: dict[str, pd.DataFrame]
    known: pd.DataFrame
    counts: pd.DataFrame | None = None
    state: dict[SeriesKey, DetectorState] = field(default_factory=dict)
    prior: list[FindingDraft] = field(default_factory=list)
    seen: dict[str, FindingDraft] = field(default_factory=dict)
    opened_at: dict[str, int] = field(default_factory=dict)
    last: DetectorOutput | None = None

    def _rows(self, name: str, since: int | None, until: int) -> pd.DataFrame | None:
        frame = self.frames.get(name)
        if since is None or frame is None:
            return None
        return frame[(frame["bucket_start"] >= since) & (frame["bucket_start"] < until)].reset_index(drop=True)

    def inputs(self, now: int) -> DetectorInputs:
        """What the pipeline would hand the detector at ``now``."""
        known = self.known.assign(last_seen=np.minimum(self.known["last_seen"], now))
        known = known[known["first_seen"] < now].reset_index(drop=True)
        request: DataRequest = self.detector.plan(from_epoch(now), W, known, self.state)
        extras = {name: rows for f, name in EXTRA_FIELDS.items()
                  if (rows := self._rows(name, getattr(request, f), now)) is not None}  # fmt: skip
        if request.samples and "samples" in self.frames:
            extras["samples"] = self.frames["samples"]
        counts = pd.DataFrame(columns=[*KEY, "bucket_start", "count"])
        if request.counts_since is not None and self.counts is not None:
            c = self.counts
            counts = c[(c["bucket_start"] >= request.counts_since) & (c["bucket_start"] < now)]
        return DetectorInputs(now=from_epoch(now), bucket_seconds=W, series=known, counts=counts, state=dict(self.state),
                              prior=tuple(self.prior), extras=extras)  # fmt: skip

    def step(self, now: int) -> DetectorOutput:
        """One pass at ``now``."""
        out = self.detector.run(self.inputs(now))
        self.state.update(out.state)
        for d in out.drafts:
            self.opened_at.setdefault(d.fingerprint, now)
            self.seen[d.fingerprint] = d
        self.last = out
        return out

    def play(self, start: int, stop: int, every: int = HOUR) -> dict[str, FindingDraft]:
        """Passes at ``start``, ``start + every``… up to ``stop``; every finding reported, by fingerprint."""
        for now in range(start, stop + 1, every):
            self.step(now)
        return self.seen


def kinds(drafts: Iterable[FindingDraft]) -> list[tuple[str, str, str]]:
    """(kind, event, subject) of drafts, sorted."""
    return sorted((d.kind, d.event, d.subject) for d in drafts)

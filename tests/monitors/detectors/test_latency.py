"""Latency detector: SLO breaches naming the slow hop, slow-downs against the event's own baseline."""

from __future__ import annotations

import random

import pandas as pd

from monitors.config import parse_config
from monitors.detectors.config import DetectorsConfig
from monitors.detectors.latency import LatencyDetector
from monitors.models import FindingDraft, Severity
from monitors.timeutil import from_epoch
from tests.monitors.detectors.semantic_frames import DAY, HOUR, T0, Runner, grid, kinds, latency, series

ONSET = T0 + 2 * DAY + 18 * HOUR
HOP_DELAY = {"send": 0.8, "deliver": 0.3}


def _frames(event: str, slow_hop: str, extra_s: float, share: float, n: int = 12) -> pd.DataFrame:
    """Every 5 minutes ``n`` events; from ONSET ``share`` of them take ``extra_s`` longer on ``slow_hop``."""
    rnd = random.Random(9)
    times = grid(3)
    per: dict[int, dict[str, list[float]]] = {}
    for i, t in enumerate(times.tolist()):
        hops: dict[str, list[float]] = {"send": [], "deliver": [], "e2e": []}
        for _ in range(n):
            parts = {h: rnd.expovariate(1 / m) for h, m in HOP_DELAY.items()}
            if t >= ONSET and rnd.random() < share:
                parts[slow_hop] += extra_s * rnd.uniform(0.8, 1.2)
            hops["send"].append(parts["send"])
            hops["deliver"].append(parts["deliver"])
            hops["e2e"].append(parts["send"] + parts["deliver"])
        per[i] = hops
    return pd.concat([latency(event, times, hop, lambda i, _t, hop=hop: per[i][hop]) for hop in ("send", "deliver", "e2e")],
                     ignore_index=True)  # fmt: skip


def test_defaults_follow_the_seed_slos() -> None:
    slos = {(s.event, s.hop, s.percentile, s.max) for s in parse_config({}).detectors.latency.slos}
    assert slos == {("Added to Cart", "e2e", 95.0, "5m"), ("Checkout Started", "e2e", 95.0, "5m"),
                    ("Order Completed", "e2e", 95.0, "2m")}  # fmt: skip


def test_an_slo_breach_names_the_slow_hop_and_explains_the_volume_drop() -> None:
    frame = _frames("Order Completed", "deliver", 600, 0.5)
    runner = Runner(LatencyDetector(DetectorsConfig()), {"latency": frame}, series([frame]))
    drop = FindingDraft(kind="volume_drop", source="web", environment="production", event="Order Completed",
                        started_at=from_epoch(ONSET + 600), severity=Severity.WARNING, score=5.0, title="drop")  # fmt: skip
    runner.prior = [drop]
    found = runner.play(ONSET - HOUR, ONSET + 45 * 60, every=15 * 60)
    (slo,) = [d for d in found.values() if d.kind == "latency_slo"]
    assert (slo.event, slo.subject) == ("Order Completed", "e2e p95 ≤ 2m")
    assert slo.evidence["slow_hop"] == "deliver" and slo.evidence["hops"]["e2e"]["p95"] > 120
    assert 0.4 < slo.evidence["share_over_slo"] < 0.6 and slo.evidence["allowed_share"] == 0.05
    assert runner.opened_at[slo.fingerprint] - ONSET <= 30 * 60
    assert "journeys' exit condition" in slo.title
    assert runner.last is not None and drop.fingerprint in runner.last.suppress


def test_a_slow_down_without_an_slo_is_an_anomaly_against_the_event_baseline() -> None:
    frame = _frames("Product Viewed", "send", 240, 0.4)
    runner = Runner(LatencyDetector(DetectorsConfig()), {"latency": frame}, series([frame]))
    found = runner.play(ONSET - 6 * HOUR, ONSET + HOUR, every=30 * 60)
    assert kinds(found.values()) == [("latency_anomaly", "Product Viewed", "")]
    (d,) = found.values()
    assert d.evidence["slow_hop"] == "send" and d.started_at.timestamp() >= ONSET - 10 * 60
    assert "got slower on the send hop" in d.title

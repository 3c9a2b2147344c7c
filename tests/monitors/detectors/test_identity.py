"""Identity detector: email as user id, missing ids, profile checks from identity sketches."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitors.detectors.config import DetectorsConfig
from monitors.detectors.identity import IdentityDetector
from monitors.models import FindingDraft, Severity
from monitors.sketch import HLL
from monitors.timeutil import from_epoch
from tests.monitors.detectors.semantic_frames import (
    DAY,
    HOUR,
    T0,
    Runner,
    grid,
    metrics,
    samples,
    series,
    violations,
)

ONSET = T0 + 3 * DAY + 16 * HOUR


def _prior(kind: str, event: str, subject: str = "") -> FindingDraft:
    return FindingDraft(kind=kind, source="web", environment="production", event=event, subject=subject,
                        started_at=from_epoch(ONSET), severity=Severity.WARNING, score=5.0, title=kind)  # fmt: skip


def test_an_email_as_id_deploy_is_one_source_finding_and_cart_events_without_cart_id_are_flagged() -> None:
    rng = np.random.default_rng(3)
    times = grid(4)
    after = times >= ONSET
    frames: dict[str, list[pd.DataFrame]] = {"metrics": [], "violations": []}
    for event, mean in (("Product Viewed", 30), ("Added to Cart", 10)):
        checked = rng.poisson(mean, len(times))
        frames["metrics"].append(metrics(event, times, checked))
        frames["violations"].append(violations(event, times, "email_as_user_id", np.where(after, checked // 2, 0)))
    cart = frames["metrics"][1]["checked"].to_numpy()
    frames["violations"].append(violations("Added to Cart", times[frames["metrics"][1].index], "missing_entity_id",
                                           np.where(after[frames["metrics"][1].index], cart // 3, 0), prop="cart_id"))  # fmt: skip
    data = {k: pd.concat(v, ignore_index=True) for k, v in frames.items()}
    data["samples"] = samples("Added to Cart", "missing_entity_id", "cart_id", ['{"event":"Added to Cart","properties":{}}'], ONSET)
    runner = Runner(IdentityDetector(DetectorsConfig()), data, series([data["metrics"]]))
    explained = [_prior("property_missing", "Added to Cart", "cart_id"), _prior("conformance_drop", "Added to Cart")]
    runner.prior = explained
    found = runner.play(ONSET - HOUR, ONSET + HOUR, every=15 * 60)
    by_kind = {(d.kind, d.event, d.subject): d for d in found.values()}
    assert set(by_kind) == {("email_as_user_id", "*", ""), ("missing_entity_id", "Added to Cart", "cart_id")}
    email = by_kind[("email_as_user_id", "*", "")]
    assert email.severity is Severity.CRITICAL and set(email.evidence["messages_by_event"]) == {"Product Viewed", "Added to Cart"}
    cart_finding = by_kind[("missing_entity_id", "Added to Cart", "cart_id")]
    assert cart_finding.evidence["samples"][0]["violation"] == "missing_entity_id:cart_id"
    assert "several flows" in cart_finding.evidence["why"]
    assert runner.last is not None and runner.last.suppress == {d.fingerprint for d in explained}


def _identity_rows(day: int, users: range, identified: range, anon: range, linked: range) -> list[dict[str, object]]:
    at = T0 + day * DAY + 10 * HOUR
    row = {"source": "web", "environment": "production", "bucket_start": at}
    ids = HLL.from_keys(f"u{i}" for i in identified).encode()
    return [
        {**row, "event": "Order Completed", "uid_hll": HLL.from_keys(f"u{i}" for i in users).encode(),
         "anon_only_hll": HLL.from_keys(f"a{i}" for i in anon).encode(), "linked_hll": HLL.from_keys(f"a{i}" for i in linked).encode()},
        {**row, "event": "$identify", "uid_hll": ids, "anon_only_hll": b"", "linked_hll": b""},
    ]  # fmt: skip


def test_ids_never_identified_rising_above_their_usual_share_are_reported_as_estimates() -> None:
    rows = []
    for day in range(9):
        users = range(day * 2000, day * 2000 + 2000)
        broken = day == 8  # a release stops sending identify for most logins
        identified = range(day * 2000, day * 2000 + (600 if broken else 1900))
        rows += _identity_rows(day, users, identified, range(day * 500, day * 500 + 500), range(day * 500, day * 500 + 100))
    identity = pd.DataFrame(rows)
    frames = {"identity": identity, "metrics": metrics("Order Completed", identity["bucket_start"].unique(), np.full(9, 50))}
    known = series([identity]).assign(last_seen=T0 + 9 * DAY + 2 * HOUR)  # traffic went on after the sketches
    detector = IdentityDetector(DetectorsConfig.model_validate({"identity": {"identify_horizon": "2d"}}))
    runner = Runner(detector, frames, known)
    assert runner.play(T0 + DAY + HOUR, T0 + 8 * DAY + 14 * HOUR, every=DAY) == {}  # daily passes; day 8 is not over
    found = runner.play(T0 + 9 * DAY + HOUR, T0 + 9 * DAY + HOUR)
    (d,) = found.values()
    assert (d.kind, d.event, d.subject) == ("never_identified", "$identify", "never_identified")
    assert 0.55 < d.evidence["rate"] < 0.75 and d.evidence["baseline_median"] < 0.12
    assert "HyperLogLog" in d.evidence["method"]
    again = runner.step(T0 + 9 * DAY + 2 * HOUR)  # not due again the same day: kept, not recomputed
    assert [x.fingerprint for x in again.drafts] == [d.fingerprint]


def test_profile_checks_run_once_a_day_and_read_each_day_once() -> None:
    identity = pd.DataFrame(_identity_rows(0, range(10), range(10), range(5), range(2)))
    known = series([identity]).assign(first_seen=T0, last_seen=T0 + 3 * DAY)
    runner = Runner(IdentityDetector(DetectorsConfig()), {"identity": identity}, known)

    def due(now: int) -> bool:
        return runner.detector.plan(from_epoch(now), 300, known, runner.state).identity_since is not None

    assert due(T0 + DAY + 10 * 60)
    runner.step(T0 + DAY + 10 * 60)
    assert not due(T0 + DAY + 20 * HOUR)
    since = runner.detector.plan(from_epoch(T0 + 2 * DAY + 600), 300, known, runner.state).identity_since
    assert since == T0 + DAY  # only the day not merged yet (a first pass reads one day)

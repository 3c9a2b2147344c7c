"""Rename detector: one "A → B" finding instead of a drop plus a new event; property renames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitors.detectors._semantic import fold, name_similarity
from monitors.detectors.config import DetectorsConfig
from monitors.detectors.rename import RenameDetector
from monitors.models import FindingDraft, Severity
from monitors.timeutil import from_epoch
from tests.monitors.detectors.semantic_frames import DAY, HOUR, T0, Runner, W, grid, props, series

ONSET = T0 + 9 * DAY + 17 * HOUR


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Order Completed", "order_completed", True),
        ("Order Completed", "orderCompleted", True),
        ("Order Completed", "ORDER-COMPLETED", True),
        ("First_name", "first_name", True),
        ("cart_value", "cartValue", True),
        ("items[].product_id", "items.productId", True),
        ("Order Completed", "Order Refunded", False),
    ],
)
def test_names_fold_to_one_key_across_case_spaces_underscores_hyphens_and_camel_case(a: str, b: str, same: bool) -> None:
    assert (fold(a) == fold(b)) is same
    assert (name_similarity(a, b) == 1.0) is same


def test_similar_but_different_names_score_below_an_exact_fold() -> None:
    assert 0.6 < name_similarity("Checkout Started", "checkout_start") < 1.0
    assert name_similarity("Order Completed", "Newsletter Signup") < 0.6


def _traffic(new: str, moves: float, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts of Order Completed (and a busier event) for 10 days; from ONSET ``moves`` of Order
    Completed arrives as ``new``. Property keys of both for the pairing."""
    rng = np.random.default_rng(seed)
    times = grid(10)
    hours = (times % DAY) / 3600
    mean = 4 * (1 + 0.5 * np.sin((hours - 14) / 24 * 2 * np.pi))
    old = rng.poisson(mean)
    moved = np.where(times >= ONSET, rng.binomial(old, moves), 0)
    rows = [("Order Completed", old - moved), (new, moved), ("Product Viewed", rng.poisson(mean * 10))]
    counts = pd.concat([pd.DataFrame({"source": "web", "environment": "production", "event": e, "bucket_start": times[c > 0],
                                      "count": c[c > 0]}) for e, c in rows], ignore_index=True)  # fmt: skip
    keys = [("order_id", "VARCHAR"), ("revenue", "DOUBLE"), ("items", "ARRAY")]
    prop = pd.concat([props(e, times, k, c, t) for e, c in rows[:2] for k, t in keys], ignore_index=True)
    return counts, prop


def _prior(kind: str, event: str, at: int, **extra: object) -> FindingDraft:
    return FindingDraft(kind=kind, source="web", environment="production", event=event, started_at=from_epoch(at),
                        severity=Severity.WARNING, score=5.0, title=kind, **extra)  # type: ignore[arg-type]  # fmt: skip


def _runner(new: str, moves: float) -> Runner:
    counts, prop = _traffic(new, moves)
    known = series([counts])
    return Runner(RenameDetector(DetectorsConfig()), {"props": prop}, known, counts=counts)


def test_a_rename_is_one_finding_that_explains_the_drop_and_the_new_event() -> None:
    runner = _runner("order_completed", 1.0)
    first = runner.known.loc[runner.known["event"] == "order_completed", "first_seen"].item()
    explained = [_prior("silence", "Order Completed", first + 900), _prior("new_event", "order_completed", first),
                 _prior("unplanned_event", "order_completed", first)]  # fmt: skip
    runner.prior = explained
    found = runner.play(first, ONSET + 2 * HOUR, every=W)
    (d,) = found.values()
    assert (d.kind, d.event, d.subject) == ("event_rename", "Order Completed", "order_completed")
    assert d.evidence["from"] == "Order Completed" and d.evidence["to"] == "order_completed"
    assert d.evidence["confidence"] >= 0.9 and d.evidence["name_similarity"] == 1.0
    assert d.started_at.timestamp() == first and d.ended_at is None
    assert runner.opened_at[d.fingerprint] - ONSET <= HOUR
    assert runner.last is not None and runner.last.suppress == {x.fingerprint for x in explained}


def test_a_new_event_that_takes_no_volume_from_an_old_one_is_not_a_rename() -> None:
    runner = _runner("Order Refunded", 0.0)
    counts = runner.counts
    assert counts is not None
    first = int(counts["bucket_start"].max()) - 4 * HOUR
    late = counts[counts["event"] == "Product Viewed"].tail(40).assign(event="Order Refunded", count=2)
    runner.counts = pd.concat([counts, late], ignore_index=True)
    runner.known = series([runner.counts], first={"Order Refunded": first})
    assert runner.play(first + HOUR, first + 4 * HOUR, every=HOUR) == {}
    assert runner.last is not None and runner.last.stats["candidates"] == 1  # judged, not paired


def test_while_a_new_event_is_young_its_findings_and_drops_of_similar_names_wait() -> None:
    runner = _runner("order_completed", 1.0)
    first = runner.known.loc[runner.known["event"] == "order_completed", "first_seen"].item()
    waiting = [_prior("silence", "Order Completed", first), _prior("unplanned_event", "order_completed", first)]
    unrelated = _prior("silence", "Product Viewed", first)
    runner.prior = [*waiting, unrelated]
    out = runner.step(first + 5 * 60)
    assert out.drafts == [] and out.suppress == {x.fingerprint for x in waiting}


def test_a_property_rename_pairs_the_missing_property_with_the_new_one() -> None:
    at = ONSET
    missing = _prior("property_missing", "Added to Cart", at, subject="cart_value", observed=0.98, expected=0.01,
                     evidence={"types": {"number": 1.0}, "samples": []})  # fmt: skip
    new = _prior("new_property", "Added to Cart", at + W, subject="cartValue", observed=0.97, expected=0.0,
                 evidence={"types": {"number": 200}, "samples": []})  # fmt: skip
    unrelated = _prior("new_property", "Added to Cart", at, subject="coupon", observed=0.4, expected=0.0,
                       evidence={"types": {"string": 50}})  # fmt: skip
    times = grid(10)
    known = series([props("Added to Cart", times, "cartValue", np.full(len(times), 5))])
    runner = Runner(RenameDetector(DetectorsConfig()), {"props": props("Added to Cart", times, "cartValue", np.full(len(times), 5))}, known)
    runner.prior = [missing, new, unrelated]
    (d,) = runner.step(at + HOUR).drafts
    assert (d.kind, d.subject) == ("property_rename", "cart_value → cartValue")
    assert d.evidence["types_from"] == ["number"] and d.evidence["confidence"] > 0.9
    assert runner.last is not None and runner.last.suppress == {missing.fingerprint, new.fingerprint}
    runner.prior = []
    (kept,) = runner.step(at + 3 * HOUR).drafts  # kept in state after the schema findings are gone
    assert kept.fingerprint == d.fingerprint and kept.ended_at is None

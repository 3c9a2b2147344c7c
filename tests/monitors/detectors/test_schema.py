"""Schema detector: new properties, type changes, missing properties, conformance, unplanned events."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitors.detectors.config import DetectorsConfig
from monitors.detectors.schema import SchemaDetector
from monitors.models import FindingDraft, Severity
from monitors.timeutil import from_epoch
from tests.monitors.detectors.semantic_frames import (
    DAY,
    HOUR,
    T0,
    Runner,
    grid,
    kinds,
    metrics,
    props,
    samples,
    series,
    violations,
)

ONSET = T0 + 3 * DAY + 15 * HOUR
EVENT = "Added to Cart"


def _drift() -> dict[str, pd.DataFrame]:
    """From ONSET: half the cart values arrive as strings, 30 % lack the price, a new key appears."""
    rng = np.random.default_rng(5)
    times = grid(4)
    checked = rng.poisson(40, len(times))
    after = times >= ONSET
    strings = np.where(after, checked // 2, 0)
    no_price = np.where(after, np.round(checked * 0.3), 0).astype(int)
    broken = np.maximum(strings, no_price)
    return {
        "metrics": metrics(EVENT, times, checked, conforming=checked - broken),
        "props": pd.concat([
            props(EVENT, times, "cart_id", checked, "VARCHAR"),
            props(EVENT, times, "cart_value", checked - strings, "DOUBLE"),
            props(EVENT, times, "cart_value", strings, "VARCHAR"),
            props(EVENT, times, "price", checked - no_price, "DOUBLE"),
            props(EVENT, times, "coupon", np.where(after, checked // 2, 0), "VARCHAR"),
            props(EVENT, times, "currency", np.where(np.arange(len(times)) % 9 == 0, 1, 0), "VARCHAR"),  # rare, optional
        ], ignore_index=True),
        "violations": pd.concat([
            violations(EVENT, times, "wrong_type", strings, "cart_value"),
            violations(EVENT, times, "missing_required_property", no_price, "price"),
        ], ignore_index=True),
        "samples": samples(EVENT, "wrong_type", "cart_value", ['{"properties":{"cart_value":"12.50"}}'], ONSET),
    }


def test_drift_is_reported_per_property_with_types_and_samples_and_conformance_is_explained() -> None:
    frames = _drift()
    runner = Runner(SchemaDetector(DetectorsConfig()), frames, series([frames["metrics"]]))
    found = runner.play(ONSET - 2 * HOUR, ONSET + HOUR, every=15 * 60)
    assert kinds(found.values()) == [
        ("new_property", EVENT, "coupon"), ("property_missing", EVENT, "price"), ("type_change", EVENT, "cart_value"),
    ]  # fmt: skip
    by = {d.kind: d for d in found.values()}
    assert all(runner.opened_at[d.fingerprint] - ONSET <= HOUR for d in found.values())
    change = by["type_change"]
    assert change.evidence["new_type"] == "string" and change.evidence["usual_types"] == {"number": 1.0}
    assert change.evidence["samples"][0]["violation"] == "wrong_type:cart_value"
    assert change.title.startswith("Added to Cart.cart_value arrives as string in 49") and change.title.endswith("(usually number)")
    missing = by["property_missing"]
    assert missing.evidence["required_by_plan"] is True and missing.severity is Severity.CRITICAL
    assert 0.25 < (missing.observed or 0) < 0.35
    assert by["new_property"].severity is Severity.INFO and list(by["new_property"].evidence["types"]) == ["string"]


def test_an_unexplained_conformance_drop_is_reported_with_the_violations_behind_it() -> None:
    rng = np.random.default_rng(6)
    times = grid(4)
    checked = rng.poisson(40, len(times))
    bad = np.where(times >= ONSET, checked // 4, 0)
    frames = {"metrics": metrics(EVENT, times, checked, conforming=checked - bad),
              "violations": violations(EVENT, times, "payload_too_large", bad)}  # fmt: skip
    runner = Runner(SchemaDetector(DetectorsConfig()), frames, series([frames["metrics"]]))
    (d,) = runner.play(ONSET - HOUR, ONSET + HOUR, every=20 * 60).values()
    assert (d.kind, d.event) == ("conformance_drop", EVENT)
    assert list(d.evidence["violations"]) == ["payload_too_large"]


def test_a_new_event_outside_the_plan_is_reported_once_and_explains_the_new_event_finding() -> None:
    times = grid(6)
    late = times[times >= ONSET]
    frames = {"metrics": pd.concat([metrics(EVENT, times, np.full(len(times), 20)), metrics("Gift Card Bought", late, np.full(len(late), 3))]),
              "violations": violations("Gift Card Bought", late, "unplanned_event", np.full(len(late), 3))}  # fmt: skip
    runner = Runner(SchemaDetector(DetectorsConfig()), frames, series([frames["metrics"]]))
    prior = FindingDraft(kind="new_event", source="web", environment="production", event="Gift Card Bought",
                         started_at=from_epoch(ONSET), severity=Severity.INFO, score=0.0, title="new")  # fmt: skip
    runner.prior = [prior]
    found = runner.play(ONSET + HOUR, ONSET + 3 * HOUR, every=HOUR)
    (d,) = found.values()
    assert (d.kind, d.event, d.started_at.timestamp()) == ("unplanned_event", "Gift Card Bought", ONSET)
    assert runner.last is not None and runner.last.suppress == {prior.fingerprint}
    assert runner.step(ONSET + 2 * DAY).drafts == []  # reported for a day (new_event_window)


def test_missing_item_fields_are_reported_from_the_plan_violations() -> None:
    rng = np.random.default_rng(8)
    times = grid(4)
    checked = rng.poisson(30, len(times))
    no_sku = np.where(times >= ONSET, checked // 2, 0)
    frames = {"metrics": metrics(EVENT, times, checked, conforming=checked - no_sku),
              "violations": violations(EVENT, times, "missing_required_property", no_sku, "items[].product_id")}  # fmt: skip
    runner = Runner(SchemaDetector(DetectorsConfig()), frames, series([frames["metrics"]]))
    assert kinds(runner.play(ONSET - HOUR, ONSET + HOUR, every=30 * 60).values()) == [
        ("property_missing", EVENT, "items[].product_id")
    ]

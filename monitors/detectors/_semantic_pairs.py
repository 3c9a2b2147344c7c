"""Scoring of rename pairs (see :mod:`monitors.detectors.rename`).

Event pairs: A's expected count over the window since B appeared is the mean of the same buckets
one day and one week earlier (only those after A's first bucket). The *fit* says how well
``A + B`` holds A's expected level (1 when within Poisson noise and 25 %, 0 when twice that
off); the *similarity* is the best of the names' similarity and, when both carried properties,
the Jaccard similarity of their (key, JSON type) sets weighted 0.8 with the names' 0.2. The
confidence is fit × similarity; similarities under 0.6 are never paired.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from monitors.detectors._semantic import jaccard, name_similarity, rnd, window
from monitors.detectors._semantic_config import RenameDetectorConfig
from monitors.detectors.base import SeriesKey
from monitors.models import FindingDraft
from monitors.timeutil import parse_duration

DAY = 86400
MIN_SIMILARITY = 0.6
FAMILIES = {"VARCHAR": "string", "BIGINT": "number", "DOUBLE": "number", "BOOLEAN": "boolean", "ARRAY": "array",
            "OBJECT": "object", "NULL": "null"}  # fmt: skip


def encode(verdict: dict[str, Any] | None) -> bytes:
    """State bytes of a decided candidate (``null`` when it was never paired)."""
    return json.dumps(verdict, sort_keys=True, separators=(",", ":")).encode()


def decode(blob: bytes) -> dict[str, Any] | None:
    """Inverse of :func:`encode`."""
    try:
        value = json.loads(blob.decode())
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _counts(counts: pd.DataFrame, key: SeriesKey, start: int, end: int, w: int) -> np.ndarray:
    out = np.zeros(max((end - start) // w, 0))
    if counts.empty or not len(out):
        return out
    rows = counts[(counts["source"] == key.source) & (counts["environment"] == key.environment) & (counts["event"] == key.event)]
    t = (rows["bucket_start"].to_numpy(np.int64) - start) // w
    ok = (t >= 0) & (t < len(out))
    np.add.at(out, t[ok], rows["count"].to_numpy(np.float64)[ok])
    return out


def _keys(props: pd.DataFrame, key: SeriesKey, start: int, end: int) -> set[tuple[str, str]]:
    if props.empty:
        return set()
    p = props
    rows = p[(p["source"] == key.source) & (p["environment"] == key.environment) & (p["event"] == key.event)
             & (p["bucket_start"] >= start) & (p["bucket_start"] < end)]  # fmt: skip
    return {(str(k), FAMILIES.get(str(t), str(t))) for k, t in rows[["property", "json_type"]].drop_duplicates().itertuples(index=False)}


def _expected(a: np.ndarray, first_a: int, start: int, n: int, w: int) -> float:
    """Seasonal-naive expectation of A over the ``n`` buckets from ``start`` (a covers 7 days before)."""
    offset = 7 * DAY // w
    total = 0.0
    for lag in (DAY // w, offset):
        if start - lag * w < first_a:
            continue
        total += a[offset - lag : offset - lag + n].sum()
    lags = sum(1 for lag in (DAY // w, offset) if start - lag * w >= first_a)
    return total / lags if lags else 0.0


def best_pair(
    b: SeriesKey, first: int, end: int, w: int, series: pd.DataFrame, counts: pd.DataFrame, props: pd.DataFrame,
    cfg: RenameDetectorConfig,
) -> dict[str, Any] | None:  # fmt: skip
    """The best old event for new event ``b`` (first bucket ``first``), or None."""
    stop = min(end, first + parse_duration(cfg.window) // w * w)
    n = (stop - first) // w
    if n <= 0:
        return None
    lo = first - 7 * DAY
    b_obs = float(_counts(counts, b, first, stop, w).sum())
    if b_obs < cfg.min_events:
        return None
    keys_b = _keys(props, b, first, stop)
    best: dict[str, Any] | None = None
    for row in series.itertuples(index=False):
        a = SeriesKey(str(row.source), str(row.environment), str(row.event))
        if (a.source, a.environment) != (b.source, b.environment) or a == b or str(getattr(row, "msg_type", "track")) != "track":
            continue
        if int(row.first_seen) > first - DAY:
            continue
        history = _counts(counts, a, lo, stop, w)
        a_obs = float(history[-n:].sum())
        expected = _expected(history, int(row.first_seen), first, n, w)
        verdict = _score(a, b, a_obs, expected, b_obs, _keys(props, a, first - 7200, first), keys_b, cfg)
        if verdict is not None and (best is None or verdict["confidence"] > best["confidence"]):
            best = verdict
    if best is None or best["confidence"] < cfg.min_confidence:
        return None
    best.update(since=first, window=window(first, stop))
    return best


def _score(
    a: SeriesKey, b: SeriesKey, a_obs: float, expected: float, b_obs: float, keys_a: set[tuple[str, str]],
    keys_b: set[tuple[str, str]], cfg: RenameDetectorConfig,
) -> dict[str, Any] | None:  # fmt: skip
    if expected < cfg.min_events:
        return None
    drop = expected - a_obs
    share = b_obs / expected
    if drop < max(cfg.min_events, 2.0 * math.sqrt(expected)) or drop / expected < cfg.min_share or share < cfg.min_share:
        return None
    rel = abs(a_obs + b_obs - expected) / expected
    allowed = 0.25 + 2.5 / math.sqrt(expected)
    fit = max(0.0, 1.0 - max(0.0, rel - allowed) / allowed)
    name = name_similarity(a.event, b.event)
    prop = jaccard(keys_a, keys_b) if keys_a and keys_b else None
    similarity = name if prop is None else max(name, 0.8 * prop + 0.2 * name)
    if similarity < MIN_SIMILARITY or fit <= 0:
        return None
    return {
        "from": a.event, "confidence": round(fit * similarity, 4), "fit": round(fit, 4), "share": round(min(share, 1.0), 4),
        "observed_from": a_obs, "expected_from": round(expected, 2), "observed_to": b_obs,
        "name_similarity": name, "property_similarity": rnd(prop),
        "keys_from": sorted(f"{k}:{t}" for k, t in keys_a), "keys_to": sorted(f"{k}:{t}" for k, t in keys_b),
    }  # fmt: skip


def property_pair(p: FindingDraft, q: FindingDraft) -> tuple[float, dict[str, Any]] | None:
    """(confidence, detail) of "property ``p.subject`` renamed to ``q.subject``", or None."""
    name = name_similarity(p.subject, q.subject)
    if name < MIN_SIMILARITY or p.expected is None or p.observed is None or q.observed is None:
        return None
    lost = float(p.observed) - float(p.expected)  # the share of messages that lost P
    gained = float(q.observed)
    if lost <= 0:
        return None
    fit = max(0.0, 1.0 - abs(lost - gained) / max(lost, 0.05) / 0.6)
    types_p = set(p.evidence.get("types", {}))
    types_q = set(q.evidence.get("types", {}))
    types = 1.0 if types_p & types_q else (0.8 if not (types_p and types_q) else 0.5)
    start_gap = abs(p.started_at.timestamp() - q.started_at.timestamp())
    if start_gap > 3 * 3600:
        return None
    confidence = name * fit * types
    detail = {"presence_lost": round(lost, 4), "presence_gained": round(gained, 4), "fit": round(fit, 4),
              "types_from": sorted(types_p), "types_to": sorted(types_q)}  # fmt: skip
    return confidence, detail

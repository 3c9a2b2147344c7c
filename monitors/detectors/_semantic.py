"""Shared helpers of the semantic detectors (rename, names, leakage, schema, latency, identity).

* name folding and similarity (``Order Completed`` ≈ ``order_completed`` ≈ ``orderCompleted``);
* which buckets a pass judges (complete by the clock and covered by data, as the volume detector);
* series keys of frames, and evidence pieces every finding carries: the window, numbers, and up
  to 5 redacted sample payloads from ``violation_samples``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from monitors.detectors.base import SeriesKey
from monitors.models import FindingDraft
from monitors.redact import redact_line
from monitors.timeutil import iso, to_epoch

KEY = ["source", "environment", "event"]
MAX_SAMPLES = 5
SAMPLE_COLUMNS = ["source", "environment", "event", "vtype", "property", "slot", "bucket_start", "sample"]
_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SPLIT = re.compile(r"[^0-9A-Za-z]+")


def fold(name: str) -> str:
    """The comparison key of a name: camelCase split, case, spaces, ``_``, ``-`` and ``.`` folded.

    ``Order Completed``, ``order_completed``, ``orderCompleted`` and ``ORDER-COMPLETED`` all fold
    to ``order_completed``; nested paths keep their ``[]``-free tokens (``items[].product_id`` →
    ``items_product_id``)."""
    spaced = _CAMEL.sub(r"\1 \2", _ACRONYM.sub(r"\1 \2", name))
    return "_".join(t for t in _SPLIT.split(spaced.lower()) if t)


def name_similarity(a: str, b: str) -> float:
    """1.0 when the names fold to the same key, else the best of the folded strings' sequence
    ratio and their token overlap (0..1)."""
    fa, fb = fold(a), fold(b)
    if fa == fb:
        return 1.0
    ratio = difflib.SequenceMatcher(None, fa, fb).ratio()
    ta, tb = set(fa.split("_")), set(fb.split("_"))
    jaccard = len(ta & tb) / len(ta | tb) if ta | tb else 0.0
    return round(max(ratio, jaccard) * 0.95, 4)  # never as sure as an exact fold


def jaccard(a: Iterable[Any], b: Iterable[Any]) -> float:
    """|A ∩ B| / |A ∪ B| (0 for two empty sets)."""
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def judge_end(now: datetime, width: int, lateness: int, series: pd.DataFrame) -> int:
    """Exclusive end of the buckets a pass judges: complete by the clock (``lateness`` after they
    ended) and never past the newest data (a stalled ingest is not judged as a change)."""
    end = (to_epoch(now) - lateness) // width * width
    if len(series):
        end = min(end, int(series["last_seen"].max()) // width * width)
    return int(end)


def series_keys(frame: pd.DataFrame) -> list[SeriesKey]:
    """The series of a frame with source/environment/event columns, in row order."""
    return [SeriesKey(str(s), str(e), str(v)) for s, e, v in frame[KEY].itertuples(index=False)]


def factorize(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Codes of the rows of ``frame`` by the values of ``columns`` (as strings), and the distinct
    value tuples: each column factorised alone, codes combined (fast on millions of rows)."""
    combined = np.zeros(len(frame), dtype=np.int64)
    parts = []
    for col in columns:
        codes, uniques = pd.factorize(frame[col])
        combined = combined * len(uniques) + codes
        parts.append([str(u) for u in uniques])
    distinct, inverse = np.unique(combined, return_inverse=True)
    tuples = []
    for value in distinct.tolist():
        items = []
        for values in reversed(parts):
            value, i = divmod(value, len(values))
            items.append(values[i])
        tuples.append(tuple(reversed(items)))
    return inverse.astype(np.int64), tuples


def window(start: int, end: int) -> dict[str, str]:
    """A half-open window ``[start, end)`` in ISO 8601 UTC."""
    return {"from": iso(start), "to": iso(end)}


def rnd(value: float | None, digits: int = 4) -> float | None:
    """A JSON-friendly rounded number (None for missing or non-finite)."""
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)


def pct(value: float) -> str:
    """A rate for titles: ``3.2%``, ``0.04%``."""
    p = 100.0 * value
    return f"{p:.2g}%" if p < 1 else f"{p:.3g}%"


class Samples:
    """Redacted sample payloads from ``violation_samples``, by series, violation type and property
    (redacted again when picked: ingest stores them redacted already)."""

    def __init__(self, frame: pd.DataFrame | None) -> None:
        self._frame = frame if frame is not None else pd.DataFrame(columns=SAMPLE_COLUMNS)
        self._by: dict[SeriesKey, pd.DataFrame] | None = None

    def _of(self, key: SeriesKey) -> pd.DataFrame | None:
        if self._by is None:
            f = self._frame
            self._by = {} if f.empty else {SeriesKey(*map(str, k)): part for k, part in f.groupby(KEY, sort=False)}
        return self._by.get(key)

    def pick(self, key: SeriesKey, wanted: Sequence[tuple[str, str | None]], limit: int = MAX_SAMPLES) -> list[dict[str, Any]]:
        """Up to ``limit`` samples for (vtype, property) pairs in order of preference; a property of
        ``None`` takes every property of that vtype. Each sample says which violation it shows."""
        rows = self._of(key)
        out: list[dict[str, Any]] = []
        if rows is None or limit <= 0:
            return out
        rows = rows.sort_values(["bucket_start", "slot"], ascending=[False, True])
        seen: set[str] = set()
        for vtype, prop in wanted:
            mask = rows["vtype"] == vtype
            if prop is not None:
                mask &= rows["property"] == prop
            for v, p, at, sample in rows[mask][["vtype", "property", "bucket_start", "sample"]].itertuples(index=False):
                text = redact_line(str(sample))
                if text in seen:
                    continue
                seen.add(text)
                out.append({"violation": f"{v}:{p}" if p else str(v), "at": iso(int(at)), "sample": text})
                if len(out) >= limit:
                    return out
        return out

    def pick_source(
        self, total: SeriesKey, wanted: Sequence[tuple[str, str | None]], events: Sequence[str], limit: int = MAX_SAMPLES
    ) -> list[dict[str, Any]]:
        """Samples for a per-source total: from its events in the given order (most affected
        first), each sample naming its event."""
        out: list[dict[str, Any]] = []
        for event in events:
            key = SeriesKey(total.source, total.environment, event)
            out += [{"event": event, **s} for s in self.pick(key, wanted, limit - len(out))]
            if len(out) >= limit:
                break
        return out


def explained(
    prior: Sequence[FindingDraft],
    kinds: Iterable[str],
    key: SeriesKey,
    start: int,
    end: int | None,
    slack: int,
    subject: str | None = None,
) -> set[str]:
    """Fingerprints of earlier drafts of ``kinds`` on series ``key`` (and ``subject``, when given)
    whose episode overlaps ``[start - slack, end + slack)`` (``end`` None: still going)."""
    wanted = set(kinds)
    out = set()
    for d in prior:
        if d.kind not in wanted or SeriesKey(d.source, d.environment, d.event) != key:
            continue
        if subject is not None and d.subject != subject:
            continue
        d_start = to_epoch(d.started_at)
        d_end = None if d.ended_at is None else to_epoch(d.ended_at)
        if (end is None or d_start < end + slack) and (d_end is None or d_end > start - slack):
            out.add(d.fingerprint)
    return out

"""From rate episodes to findings: the numbers and windows every semantic finding shows, and the
frames the rate book reads (denominators from bucket metrics, numerators from violations)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from monitors.detectors._semantic import KEY, pct, rnd, window
from monitors.detectors._semantic_book import BookResult, Found
from monitors.detectors._semantic_long import Long
from monitors.detectors._semantic_rates import Timing
from monitors.detectors._semantic_totals import ALL
from monitors.detectors.base import SeriesKey
from monitors.models import FindingDraft, Severity
from monitors.timeutil import from_epoch, iso

METRIC_COLUMNS = [*KEY, "bucket_start", "count", "checked", "conforming", "identified"]
VIOLATION_COLUMNS = [*KEY, "bucket_start", "vtype", "property", "count"]
PROPERTY_COLUMNS = [*KEY, "bucket_start", "property", "json_type", "count"]
LATENCY_COLUMNS = [*KEY, "bucket_start", "hop", "count", "bins"]


def empty(columns: list[str]) -> pd.DataFrame:
    """An empty frame with ``columns``."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("bucket_start", "value") else "object") for c in columns})


def extra(extras: Mapping[str, pd.DataFrame], name: str, columns: list[str]) -> pd.DataFrame:
    """``extras[name]``, or an empty frame with ``columns`` when it was not loaded."""
    frame = extras.get(name)
    return frame if frame is not None else empty(columns)


def checked_dens(metrics: pd.DataFrame) -> Long:
    """Denominator ``checked`` (messages the plan was evaluated on) per series and bucket."""
    return Long.of(metrics, KEY, lambda u: (SeriesKey(*u), "checked"), "checked")


def violation_nums(violations: pd.DataFrame, checks: Mapping[tuple[str, str | None], str], subject: bool) -> Long:
    """Numerators from violation rows: ``checks`` maps (vtype, property or None for any) to a
    check name; ``subject`` keeps the property as the key's subject (else subject '')."""

    def key_of(u: tuple[str, ...]) -> Any | None:
        """The key of a (source, environment, event, vtype, property) combination, or None."""
        source, environment, event, vtype, prop = u
        check = checks.get((vtype, prop), checks.get((vtype, None)))
        return None if check is None else (SeriesKey(source, environment, event), check, prop if subject else "")

    return Long.of(violations, [*KEY, "vtype", "property"], key_of, "count")


def _part(n: float, d: float) -> dict[str, Any]:
    return {"messages": d, "affected": n, "rate": rnd(n / d if d else None)}


def numbers(found: Found, timing: Timing) -> dict[str, Any]:
    """The episode's numbers: onset, the latest 1-hour window against the baseline, the peak and
    the totals since onset."""
    ep = found.episode
    w = timing.width
    span = max(timing.windows) * w
    now_at = int(ep.get("now_at", ep["last_cont"]))
    now = _part(float(ep.get("now_n", ep["peak_n"])), float(ep.get("now_d", ep["peak_d"])))
    return {
        "onset_at": iso(ep["start"]),
        "detected_at": iso(ep["opened_at"] + w),
        "last_elevated_at": iso(ep["last_hot"]),
        "window": {**window(now_at + w - span, now_at + w), **now},
        "baseline": {"rate": rnd(float(ep.get("now_p0", ep["base"]))), "learned_over_s": timing.slots * timing.slot},
        "peak": {"at": iso(ep["peak_at"]), "score": rnd(ep["peak_z"], 2), **_part(ep["peak_n"], ep["peak_d"])},
        "episode": {**window(ep["start"], ep["last_hot"] + w), **_part(ep["acc_n"], ep["acc_d"])},
        "adapted": found.adapted,
    }


def rates_of(found: Found) -> tuple[float, float]:
    """(observed, expected) rate of an episode: the rate since onset (or the peak window's) and
    the baseline."""
    ep = found.episode
    observed = ep["acc_n"] / ep["acc_d"] if ep["acc_d"] else (ep["peak_n"] / ep["peak_d"] if ep["peak_d"] else 0.0)
    return float(observed), float(ep["base"])


def draft(
    found: Found,
    kind: str,
    title: str,
    severity: Severity,
    evidence: dict[str, Any],
    *,
    subject: str | None = None,
) -> FindingDraft:
    """A finding for one rate episode (``ended_at`` None while it lasts)."""
    ep = found.episode
    observed, expected = rates_of(found)
    return FindingDraft(
        kind=kind,
        source=found.series.source,
        environment=found.series.environment,
        event=found.series.event,
        subject=found.subject if subject is None else subject,
        started_at=from_epoch(ep["start"]),
        ended_at=None if found.ended_at is None else from_epoch(found.ended_at),
        last_seen_at=from_epoch(ep["last_hot"]),
        severity=severity,
        score=round(float(ep["peak_z"]), 3),
        title=title,
        observed=round(observed, 6),
        expected=round(expected, 6),
        evidence=evidence,
    )


def tally(
    frame: pd.DataFrame, found: Found, notes: dict[str, Any] | None, by: str, mask: pd.Series | None = None
) -> dict[str, Any]:
    """Episode notes: messages per value of column ``by`` over the episode's buckets, counted
    once each across runs (``through``: the last bucket counted). ``mask`` selects the rows (of
    the series, or of every event of the source for a per-source total)."""
    notes = {"through": found.episode["start"] - 1, "counts": {}} if notes is None else dict(notes)
    counts = dict(notes["counts"])
    if not frame.empty:
        key = found.series
        f = frame if mask is None else frame[mask]
        mine = (f["source"] == key.source) & (f["environment"] == key.environment)
        if key.event != ALL:
            mine &= f["event"] == key.event
        t = f["bucket_start"]
        rows = f[mine & (t > notes["through"]) & (t >= found.episode["start"]) & (t <= found.episode["last_hot"])]
        for value, n in rows.groupby(by)["count"].sum().items():
            counts[str(value)] = counts.get(str(value), 0) + int(n)
        if not rows.empty:
            notes["through"] = int(rows["bucket_start"].max())
    notes["counts"] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    return notes


def groups(found: list[Found], gap: int) -> list[list[Found]]:
    """Episodes of the same series that overlap in time (within ``gap``), each group ordered by
    when its episodes were detected (the first one names the group's finding)."""
    out: list[list[Found]] = []
    for f in sorted(found, key=lambda f: (f.series, f.episode["start"])):
        last = out[-1] if out else None
        end = max((g.ended_at if g.ended_at is not None else 2**62) for g in last) if last else 0
        if last and last[0].series == f.series and f.episode["start"] <= end + gap:
            last.append(f)
        else:
            out.append([f])
    return [sorted(g, key=lambda f: (f.episode["opened_at"], f.check, f.subject)) for g in out]


def label(key: SeriesKey) -> str:
    """The event name for titles; a per-source total reads ``all web events``."""
    return f"all {key.source} events" if key.event == ALL else key.event


def fold_totals(
    drafts: list[FindingDraft], result: BookResult, kind_of: Callable[[str], str], *, subjects: bool = True,
    slack: int = 3600,
) -> list[FindingDraft]:  # fmt: skip
    """Per-event drafts that a per-source total of the same kind (and subject, unless
    ``subjects`` is False) covers — its open episode, or its last one — are dropped; a total
    reported in this run lists them under ``evidence["events"]``."""
    spans = [(kind_of(check), key, subject if subjects else "", start, end)
             for (key, check, subject), (start, end) in result.spans.items() if key.event == ALL]  # fmt: skip
    if not spans:
        return drafts
    totals = {(d.kind, d.source, d.environment, d.subject): d for d in drafts if d.event == ALL}
    out = []
    for d in drafts:
        if d.event == ALL or not _covered(d, spans, slack):
            out.append(d)
            continue
        total = totals.get((d.kind, d.source, d.environment, d.subject))
        if total is not None:
            total.evidence.setdefault("events", {})[d.event] = {
                "rate": d.observed, "baseline": d.expected, "started_at": iso(d.started_at), "title": d.title,
            }  # fmt: skip
    return out


def _covered(d: FindingDraft, spans: list[tuple[str, SeriesKey, str, int, int | None]], slack: int) -> bool:
    start = d.started_at.timestamp()
    end = d.ended_at.timestamp() if d.ended_at else float("inf")
    for kind, key, subject, t_start, t_end in spans:
        if (kind, key.source, key.environment, subject) != (d.kind, d.source, d.environment, d.subject):
            continue
        if t_start < end + slack and start < (float("inf") if t_end is None else t_end) + slack:
            return True
    return False


def change(found: Found) -> str:
    """``0.1% → 3.2%`` for titles."""
    observed, expected = rates_of(found)
    return f"{pct(expected)} → {pct(observed)}"

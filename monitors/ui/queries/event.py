"""Event detail: volume with the expected band and incidents, latency per hop, conformance,
violations with redacted samples, and the findings (renames, leaks…) with their evidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitors.config import Config
from monitors.redact import redact_line
from monitors.ui.sketches import quantile_table
from monitors.ui.slo import slo_seconds
from monitors.ui.window import Window
from storage import Store
from storage.findings_store import StoredFinding


@dataclass(frozen=True)
class SeriesKey:
    """One event stream."""

    source: str
    environment: str
    event: str


@dataclass(frozen=True)
class EventDetail:
    """Everything the event page draws (frames keep their columns when empty)."""

    key: SeriesKey
    counts: pd.DataFrame
    """bucket_start, count, checked, conforming, identified, conformance"""
    band: pd.DataFrame
    """bucket_start, observed, expected, lower, upper, anomalous"""
    latency: pd.DataFrame
    """bucket_start, hop, n, p50, p95, p99"""
    violations: pd.DataFrame
    """bucket_start, vtype, count"""
    violation_totals: pd.DataFrame
    """vtype, property, count"""
    samples: pd.DataFrame
    """vtype, property, sample (redacted)"""
    findings: list[StoredFinding]
    slo_s: float
    slo_hop: str


def _band(store: Store, key: SeriesKey, win: Window) -> pd.DataFrame:
    cols = ["bucket_start", "observed", "expected", "lower", "upper", "anomalous"]
    bands = store.read_bands(win.since, win.until, source=key.source, environment=key.environment, event=key.event)
    if bands.empty:
        return pd.DataFrame(columns=cols)
    rolled = bands.assign(bucket_start=bands["bucket_start"] - bands["bucket_start"] % win.width)
    agg = rolled.groupby("bucket_start", as_index=False).agg(
        observed=("observed", "sum"), expected=("expected", "sum"), lower=("lower", "sum"), upper=("upper", "sum"),
        anomalous=("anomalous", "any"))  # fmt: skip
    return agg[cols]


def grid(win: Window) -> np.ndarray:
    """Every bucket start of the window at its display width."""
    return np.arange(win.since, win.until, win.width, dtype=np.int64)


def _latency(store: Store, key: SeriesKey, win: Window) -> pd.DataFrame:
    rows = store.ui_latency_rows(win.since, win.until, width=win.width, source=key.source,
                                   environment=key.environment, event=key.event)  # fmt: skip
    if rows.empty:
        return pd.DataFrame(columns=["bucket_start", "hop", "n", "p50", "p95", "p99"])
    table = quantile_table(rows, ["bucket_start", "hop"])
    full = pd.MultiIndex.from_product([sorted(table["hop"].unique()), grid(win)], names=["hop", "bucket_start"])
    table = table.set_index(["hop", "bucket_start"]).reindex(full).reset_index()  # gaps stay gaps (NaN)
    return table.assign(n=table["n"].fillna(0).astype("int64"))[["bucket_start", "hop", "n", "p50", "p95", "p99"]]


def _counts(store: Store, key: SeriesKey, win: Window) -> pd.DataFrame:
    counts = store.ui_bucket_metrics(win.since, win.until, width=win.width, source=key.source,
                                       environment=key.environment, event=key.event)  # fmt: skip
    cols = ["count", "checked", "conforming", "identified"]
    counts = counts.set_index("bucket_start")[cols].reindex(grid(win), fill_value=0).rename_axis("bucket_start")
    counts = counts.reset_index().astype("int64")  # a bucket without events is a zero, not a gap
    return counts.assign(conformance=counts["conforming"] / counts["checked"].where(counts["checked"] > 0))


def _samples(store: Store, key: SeriesKey) -> pd.DataFrame:
    frame = store.ui_violation_samples(source=key.source, environment=key.environment, event=key.event)
    frame = frame.assign(sample=[redact_line(s) for s in frame["sample"]])
    return frame[["vtype", "property", "sample"]].reset_index(drop=True)


def event_detail(store: Store, config: Config, key: SeriesKey, win: Window) -> EventDetail:
    """Load the event page's data for one series and window."""
    where = {"source": key.source, "environment": key.environment, "event": key.event}
    counts = _counts(store, key, win)
    viols = store.ui_violation_counts(win.since, win.until, width=win.width, **where)
    per_bucket = viols.groupby(["bucket_start", "vtype"], as_index=False)["count"].sum()
    totals = viols.groupby(["vtype", "property"], as_index=False)["count"].sum().sort_values("count", ascending=False)
    findings = store.list_findings(since=win.start, source=key.source, environment=key.environment, event=key.event)
    related = [f for f in store.list_findings(since=win.start, kind="event_rename")
               if f.evidence.get("from") == key.event or f.evidence.get("to") == key.event]  # fmt: skip
    seen = {f.id for f in findings}
    findings += [f for f in related if f.id not in seen]
    return EventDetail(
        key=key, counts=counts, band=_band(store, key, win), latency=_latency(store, key, win),
        violations=per_bucket, violation_totals=totals.reset_index(drop=True), samples=_samples(store, key),
        findings=sorted(findings, key=lambda f: f.started_at), slo_s=slo_seconds(config, key.event, key.source, key.environment),
        slo_hop=config.dashboard.latency_hop,
    )  # fmt: skip


def series_choices(store: Store) -> pd.DataFrame:
    """Every series (source, environment, event), busiest events first within a source."""
    series = store.list_series()
    if series.empty:
        return pd.DataFrame(columns=["source", "environment", "event"])
    return series[["source", "environment", "event"]].sort_values(["event", "source", "environment"]).reset_index(drop=True)

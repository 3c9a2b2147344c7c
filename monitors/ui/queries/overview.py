"""Overview: one row per event (volume vs expected, conformance, p95 vs SLO, last seen, open
findings), the journeys at risk, and the live tiles."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from monitors.alerts.finding import AlertFinding
from monitors.alerts.journeys import annotate
from monitors.config import Config
from monitors.timeutil import to_epoch
from monitors.ui.queries import ACTIVE, KEY, SEVERITY_RANK
from monitors.ui.queries.tiling import latency_rows
from monitors.ui.sketches import quantile_table
from monitors.ui.slo import slo_seconds
from monitors.ui.window import Window
from storage import Store
from storage.findings_store import StoredFinding

OVERVIEW_COLUMNS = [*KEY, "count", "expected", "volume_ratio", "conformance", "p95_s", "slo_s", "p95_ok",
                    "last_seen", "open_findings", "worst_severity", "trend", "link"]  # fmt: skip
JOURNEY_COLUMNS = ["journey", "status", "findings", "worst_severity", "events", "reasons"]


def event_link(source: str, environment: str, event: str, range_key: str) -> str:
    """Relative URL of the event detail page for one series."""
    return "event?" + urlencode({"event": event, "source": source, "env": environment, "range": range_key})


def _latency(store: Store, config: Config, win: Window) -> pd.DataFrame:
    raw = store.bucket_seconds() or config.bucket_seconds
    rows = latency_rows(store, win.since, win.until, raw=raw, hop=config.dashboard.latency_hop)
    if rows.empty:
        return pd.DataFrame(columns=[*KEY, "p95_s"])
    table = quantile_table(rows, KEY, (0.95,))
    return table.rename(columns={"p95": "p95_s"})[[*KEY, "p95_s"]]


def _expected(store: Store, win: Window) -> pd.DataFrame:
    sums = store.ui_band_totals(win.since, win.until)
    if sums.empty:
        return pd.DataFrame(columns=[*KEY, "expected", "volume_ratio"])
    sums = sums.astype({"observed": "float64", "expected": "float64"})
    ratio = sums["observed"] / sums["expected"].where(sums["expected"] > 0)
    return sums.assign(volume_ratio=ratio)[[*KEY, "expected", "volume_ratio"]]


def _trend(store: Store, win: Window) -> pd.DataFrame:
    counts = store.ui_bucket_metrics(win.since, win.until, width=win.width)
    starts = np.arange(win.since, win.until, win.width)
    if counts.empty:
        return pd.DataFrame(columns=[*KEY, "trend"])
    grid = counts.pivot_table(index=KEY, columns="bucket_start", values="count", aggfunc="sum", fill_value=0)
    grid = grid.reindex(columns=starts, fill_value=0)
    return pd.DataFrame({"trend": grid.to_numpy(dtype=np.int64).tolist()}, index=grid.index).reset_index()


def _finding_counts(findings: list[StoredFinding]) -> pd.DataFrame:
    rows = [(f.source, f.environment, f.event, f.severity) for f in findings if f.status in ACTIVE and f.event]
    frame = pd.DataFrame(rows, columns=[*KEY, "severity"])
    if frame.empty:
        return pd.DataFrame(columns=[*KEY, "open_findings", "worst_severity"])
    frame["rank"] = frame["severity"].map(SEVERITY_RANK)
    grouped = frame.sort_values("rank").groupby(KEY, as_index=False)
    return grouped.agg(open_findings=("severity", "size"), worst_severity=("severity", "last"))


def overview(store: Store, config: Config, win: Window, findings: list[StoredFinding]) -> pd.DataFrame:
    """One row per known series; events silent in the window have count 0."""
    series = store.list_series()
    if series.empty:
        return pd.DataFrame(columns=OVERVIEW_COLUMNS)
    frame = series[[*KEY, "last_seen"]].copy()
    totals = store.ui_series_totals(win.since, win.until, width=win.width)[[*KEY, "count", "checked", "conforming"]]
    for part in (totals, _expected(store, win), _latency(store, config, win), _finding_counts(findings),
                 _trend(store, win)):  # fmt: skip
        frame = frame.merge(part, on=KEY, how="left")
    frame["count"] = frame["count"].fillna(0).astype("int64")
    frame["conformance"] = frame["conforming"] / frame["checked"].where(frame["checked"] > 0)
    frame["slo_s"] = [slo_seconds(config, e, s, env) for s, env, e in zip(frame["source"], frame["environment"],
                                                                           frame["event"], strict=True)]
    frame["p95_ok"] = (frame["p95_s"] <= frame["slo_s"]).where(frame["p95_s"].notna())
    frame["last_seen"] = pd.to_datetime(frame["last_seen"], unit="s", utc=True)
    frame["open_findings"] = frame["open_findings"].fillna(0).astype("int64")
    frame["worst_severity"] = frame["worst_severity"].fillna("")
    frame["trend"] = [t if isinstance(t, list) else [] for t in frame["trend"]]
    frame["link"] = [event_link(s, e, ev, win.key) for s, e, ev in zip(frame["source"], frame["environment"],
                                                                        frame["event"], strict=True)]  # fmt: skip
    frame = frame.sort_values(["open_findings", "count"], ascending=[False, False], kind="stable")
    return frame[OVERVIEW_COLUMNS].reset_index(drop=True)


def alert_view(finding: StoredFinding, config: Config) -> AlertFinding:
    """The finding with its journeys at risk (as alerts see it)."""
    return annotate(AlertFinding.from_row(asdict(finding)), config.journeys)


def journeys(config: Config, findings: list[StoredFinding]) -> pd.DataFrame:
    """Each configured journey: ``at risk`` when an active finding threatens it, else ``healthy``."""
    hits: dict[str, list[tuple[str, str]]] = {j.name: [] for j in config.journeys}
    for finding in findings:
        if finding.status not in ACTIVE:
            continue
        for risk in alert_view(finding, config).journeys:
            hits.setdefault(risk.name, []).append((finding.severity, f"{risk.role}: {risk.via} — {finding.title}"))
    rows = []
    for journey in config.journeys:
        found = hits[journey.name]
        worst = max((s for s, _ in found), key=lambda s: SEVERITY_RANK.get(s, 0), default=None)
        rows.append({"journey": journey.name, "status": "at risk" if found else "healthy", "findings": len(found),
                     "worst_severity": worst, "events": ", ".join(journey.events),
                     "reasons": "; ".join(sorted({r for _, r in found}))})  # fmt: skip
    return pd.DataFrame(rows, columns=JOURNEY_COLUMNS)


def tiles(store: Store, config: Config, win: Window, findings: list[StoredFinding], now: datetime) -> dict[str, float]:
    """The live numbers: events, conformance, open and critical findings, silent series."""
    totals = store.ui_series_totals(win.since, win.until, width=win.width)
    checked = int(totals["checked"].sum()) if not totals.empty else 0
    conforming = int(totals["conforming"].sum()) if not totals.empty else 0
    active = [f for f in findings if f.status in ACTIVE]
    series = store.list_series()
    quiet_for = to_epoch(now) - 3600
    silent = int((series["last_seen"] < quiet_for).sum()) if not series.empty else 0
    return {
        "events": float(totals["count"].sum()) if not totals.empty else 0.0,
        "conformance": conforming / checked if checked else float("nan"),
        "open_findings": float(len(active)),
        "critical": float(sum(1 for f in active if f.severity == "critical")),
        "silent_series": float(silent),
    }

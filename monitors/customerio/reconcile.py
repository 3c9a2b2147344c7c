"""Sent (outgoing logs) versus received (Customer.io activities), per event name and bucket.
Pure: frames and context in, metrics frame and ``delivery_gap`` findings out.

* ``sent`` is :meth:`Store.read_counts` (source, environment, event, bucket_start, count),
  narrowed to the configured sources and environment and summed per event.
* ``received`` is :meth:`Store.read_customerio_metrics` rows of type ``event`` (and
  ``failed_event``, reported as rejected); event activities are bucketed by the sender's own
  timestamp when they carry it, so the two sides line up.
* A bucket is judged only when the collector covered it completely (not estimated, inside
  ``[covered_from, covered_until - settle)``) and at least ``min_sent`` events were sent.
* Consecutive judged buckets whose delivery ratio is below ``min_ratio`` form one episode → one
  finding; critical below ``critical_ratio``. A good judged bucket ends the episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from monitors.customerio.config import ReconcileConfig
from monitors.models import FindingDraft, Severity
from monitors.timeutil import from_epoch, iso, parse_duration, to_epoch

KIND = "delivery_gap"
COLUMNS = ["workspace", "event", "bucket_start", "sent", "received", "failed", "estimated",
           "latency_n", "latency_sum", "latency_max"]


@dataclass(frozen=True)
class ReconcileContext:
    """What the pure function needs besides the frames."""

    workspace: str
    config: ReconcileConfig
    bucket: int
    now: datetime
    covered_from: int = 0
    covered_until: int | None = None


@dataclass
class ReconcileResult:
    """Metrics per (event, bucket) with ``ratio`` and ``judged`` columns, and the findings."""

    metrics: pd.DataFrame
    findings: list[FindingDraft] = field(default_factory=list)


def _sent(sent: pd.DataFrame, config: ReconcileConfig) -> tuple[pd.DataFrame, dict[str, str]]:
    rows = sent[sent["environment"] == config.environment]
    # identify / page / screen calls are not Customer.io "event" activities: only track events reconcile
    rows = rows[~rows["event"].astype(str).str.startswith("$")]
    if config.sources:
        rows = rows[rows["source"].isin(config.sources)]
    sources = rows.groupby("event")["source"].agg(lambda s: ",".join(sorted(set(s)))).to_dict()
    totals = rows.groupby(["event", "bucket_start"], as_index=False)["count"].sum().rename(columns={"count": "sent"})
    return totals, sources


def _received(received: pd.DataFrame) -> pd.DataFrame:
    events = received[received["atype"] == "event"].rename(columns={"name": "event", "count": "received"})
    failed = received[received["atype"] == "failed_event"].rename(columns={"name": "event", "count": "failed"})
    keys = ["event", "bucket_start"]
    if events.empty:  # grouping an empty frame with str keys fails in pandas 3 (no Arrow type to infer)
        got = pd.DataFrame({"event": pd.Series([], dtype=object), "bucket_start": pd.Series([], dtype="int64"),
                            "received": pd.Series([], dtype="int64"), "estimated": pd.Series([], dtype=bool),
                            "latency_n": pd.Series([], dtype="int64"), "latency_sum": pd.Series([], dtype="float64"),
                            "latency_max": pd.Series([], dtype="float64")})  # fmt: skip
    else:
        got = events.groupby(keys, as_index=False).agg(
            received=("received", "sum"), estimated=("estimated", "any"), latency_n=("latency_n", "sum"),
            latency_sum=("latency_sum", "sum"), latency_max=("latency_max", "max"))
    if failed.empty:
        rejected = pd.DataFrame({"event": pd.Series([], dtype=object), "bucket_start": pd.Series([], dtype="int64"),
                                 "failed": pd.Series([], dtype="int64"), "estimated_f": pd.Series([], dtype=bool)})  # fmt: skip
    else:
        rejected = failed.groupby(keys, as_index=False).agg(failed=("failed", "sum"), estimated_f=("estimated", "any"))
    both = got.merge(rejected, on=keys, how="outer")
    both["estimated"] = both["estimated"].astype("boolean").fillna(False) | both["estimated_f"].astype(
        "boolean").fillna(False)
    return both.drop(columns=["estimated_f"])


def delivery_metrics(sent: pd.DataFrame, received: pd.DataFrame, ctx: ReconcileContext) -> pd.DataFrame:
    """One row per (event, bucket) of the events that were sent: sent, received, failed, ratio, judged."""
    totals, _ = _sent(sent, ctx.config)
    frame = totals.merge(_received(received), on=["event", "bucket_start"], how="left")
    for col in ("received", "failed", "latency_n"):
        frame[col] = frame[col].fillna(0).astype("int64")
    for col in ("latency_sum", "latency_max"):
        frame[col] = frame[col].fillna(0.0).astype("float64")
    frame["estimated"] = frame["estimated"].astype("boolean").fillna(False).astype(bool)
    frame["workspace"] = ctx.workspace
    frame["ratio"] = (frame["received"] / frame["sent"]).where(frame["sent"] > 0)
    until = min(ctx.covered_until if ctx.covered_until is not None else to_epoch(ctx.now), to_epoch(ctx.now))
    settled = until - parse_duration(ctx.config.settle)
    frame["judged"] = ((frame["bucket_start"] >= ctx.covered_from) & (frame["bucket_start"] + ctx.bucket <= settled)
                       & (frame["sent"] >= ctx.config.min_sent) & ~frame["estimated"])
    return frame[[*COLUMNS, "ratio", "judged"]].sort_values(["event", "bucket_start"]).reset_index(drop=True)


def _episodes(rows: pd.DataFrame, min_ratio: float) -> list[tuple[pd.DataFrame, int | None]]:
    """Runs of bad judged buckets, each with the start of the good bucket that ended it (or None)."""
    episodes: list[tuple[pd.DataFrame, int | None]] = []
    current: list[int] = []
    starts = rows["bucket_start"].tolist()
    for pos, ratio in enumerate(rows["ratio"].tolist()):
        if ratio < min_ratio:
            current.append(pos)
        elif current:
            episodes.append((rows.iloc[current], int(starts[pos])))
            current = []
    if current:
        episodes.append((rows.iloc[current], None))
    return episodes


def _finding(event: str, rows: pd.DataFrame, ended: int | None, ctx: ReconcileContext,
             source: str) -> FindingDraft:
    sent, received, failed = int(rows["sent"].sum()), int(rows["received"].sum()), int(rows["failed"].sum())
    ratio = received / sent
    severity = Severity.CRITICAL if ratio < ctx.config.critical_ratio else Severity.WARNING
    rejected = f"; {failed} rejected as failed_event" if failed else ""
    title = (f"{event}: {sent - received} of {sent} events sent were not received by Customer.io "
             f"({ratio:.0%} delivered){rejected}")
    evidence: dict[str, Any] = {
        "workspace": ctx.workspace, "sent": sent, "received": received, "failed": failed, "lost": sent - received,
        "ratio": round(ratio, 4), "min_ratio": ctx.config.min_ratio, "sources": source.split(","),
        "buckets": [{"bucket_start": iso(int(r.bucket_start)), "sent": int(r.sent), "received": int(r.received),
                     "failed": int(r.failed)} for r in rows.itertuples()],
    }
    start = int(rows["bucket_start"].min())
    return FindingDraft(
        kind=KIND, source=source, environment=ctx.config.environment, event=event, started_at=from_epoch(start),
        severity=severity, score=round(1.0 - ratio, 4), title=title, observed=float(received), expected=float(sent),
        ended_at=from_epoch(ended) if ended is not None else None, subject=f"customerio:{ctx.workspace}",
        last_seen_at=from_epoch(int(rows["bucket_start"].max()) + ctx.bucket), evidence=evidence)


def reconcile(sent: pd.DataFrame, received: pd.DataFrame, ctx: ReconcileContext) -> ReconcileResult:
    """Delivery metrics and ``delivery_gap`` findings (see the module doc)."""
    metrics = delivery_metrics(sent, received, ctx)
    _, sources = _sent(sent, ctx.config)
    findings: list[FindingDraft] = []
    for event, rows in metrics[metrics["judged"]].groupby("event", sort=True):
        for episode, ended in _episodes(rows, ctx.config.min_ratio):
            findings.append(_finding(str(event), episode, ended, ctx, sources.get(str(event), "")))
    return ReconcileResult(metrics, findings)

"""Customer.io: sent vs received per event, failed events, attribute flapping, delivery
failures by channel, and the App API collector's health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from monitors.config import Config
from monitors.ui.window import Window
from storage import Store

OUTCOMES = ("sent", "delivered", "opened", "clicked", "converted", "bounced", "failed", "dropped", "undeliverable",
            "spammed", "unsubscribed")  # fmt: skip
FAILURES = ("bounced", "failed", "dropped", "undeliverable", "spammed")
NOT_CHANNELS = frozenset({"event", "attribute_change"})
"""``failed_event`` and ``failed_attribute_change`` are about data, not messages."""


@dataclass(frozen=True)
class CustomerIOView:
    """The Customer.io page's data."""

    configured: bool
    workspace: str | None
    delivery: pd.DataFrame
    """bucket_start, sent, received, failed (all events)"""
    per_event: pd.DataFrame
    """event, sent, received, failed, ratio, latency_avg_s"""
    failed_events: pd.DataFrame
    """name, count"""
    flapping: pd.DataFrame
    """attribute, people"""
    channels: pd.DataFrame
    """channel, outcome, count, failure"""
    health: list[dict[str, Any]]
    runs: list[dict[str, Any]]


def split_outcome(atype: str) -> tuple[str, str] | None:
    """``bounced_email`` → (``email``, ``bounced``); None for activities that are not message outcomes."""
    outcome, sep, channel = atype.partition("_")
    if not sep or outcome not in OUTCOMES or not channel or channel in NOT_CHANNELS:
        return None
    return channel, outcome


def _channels(metrics: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for atype, count in metrics.groupby("atype")["count"].sum().items():
        parsed = split_outcome(str(atype))
        if parsed:
            rows.append((parsed[0], parsed[1], int(count), parsed[1] in FAILURES))
    frame = pd.DataFrame(rows, columns=["channel", "outcome", "count", "failure"])
    return frame.sort_values(["channel", "count"], ascending=[True, False]).reset_index(drop=True)


def _named(metrics: pd.DataFrame, atype: str, column: str) -> pd.DataFrame:
    part = metrics[metrics["atype"] == atype]
    out = part.groupby("name", as_index=False)["count"].sum().rename(columns={"name": column, "count": "count"})
    return out.sort_values("count", ascending=False).reset_index(drop=True)


def customerio_view(store: Store, config: Config, win: Window) -> CustomerIOView:
    """Load the page for the configured workspace (everything stored when none is configured)."""
    workspace = config.customerio.workspace if config.customerio else None
    delivery = store.read_delivery_metrics(win.since, win.until, workspace=workspace)
    metrics = store.read_customerio_metrics(win.since, win.until, workspace=workspace)
    rolled = delivery.assign(bucket_start=delivery["bucket_start"] - delivery["bucket_start"] % win.width)
    over_time = rolled.groupby("bucket_start", as_index=False)[["sent", "received", "failed"]].sum()
    per_event = delivery.groupby("event", as_index=False)[["sent", "received", "failed", "latency_n", "latency_sum"]].sum()
    per_event = per_event.assign(
        ratio=per_event["received"] / per_event["sent"].where(per_event["sent"] > 0),
        latency_avg_s=per_event["latency_sum"] / per_event["latency_n"].where(per_event["latency_n"] > 0),
    )[["event", "sent", "received", "failed", "ratio", "latency_avg_s"]].sort_values("ratio")  # fmt: skip
    flapping = _named(metrics, "attribute_flapping", "attribute").rename(columns={"count": "people"})
    return CustomerIOView(
        configured=config.customerio is not None, workspace=workspace, delivery=over_time,
        per_event=per_event.reset_index(drop=True), failed_events=_named(metrics, "failed_event", "name"),
        flapping=flapping, channels=_channels(metrics), health=store.customerio_health(),
        runs=store.customerio_runs(workspace, limit=20),
    )  # fmt: skip

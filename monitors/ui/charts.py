"""Pure plotly chart builders: frames in, ``go.Figure`` out (no Streamlit, no I/O), so tests read
their figure data directly. Times are epoch seconds in and UTC wall-clock on the axis (labelled
UTC). Names from the data pass through :func:`label` — plotly renders a subset of HTML in text,
so an event called ``<a href=…>`` must not become a link.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

BAND_FILL = "rgba(31,119,180,0.15)"
ACTUAL = "#1f77b4"
ANOMALY = "#d62728"
INCIDENT_FILL = "rgba(214,39,40,0.08)"
PERCENTILE_DASH = {"p50": "solid", "p95": "dash", "p99": "dot"}
HOP_TITLES = {"send": "send (event → sentAt)", "deliver": "deliver (sentAt → receivedAt)",
              "e2e": "end to end (event → receivedAt)"}  # fmt: skip
MARGIN = {"l": 60, "r": 20, "t": 40, "b": 50}
CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"]}
"""``st.plotly_chart(config=…)`` for every chart."""


@dataclass(frozen=True)
class Incident:
    """A finding drawn on a time axis: shaded from start to end (or to the right edge)."""

    start: datetime
    end: datetime | None
    label: str


def label(text: object) -> str:
    """Data text made inert for plotly's HTML-like rendering."""
    return html.escape(str(text), quote=False)


def times(epochs: pd.Series | Sequence[int]) -> pd.DatetimeIndex:
    """Epoch seconds → UTC wall-clock timestamps (naive, labelled UTC on the axis)."""
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(epochs, dtype="int64"), unit="s"))


def _layout(fig: go.Figure, y_title: str, *, height: int = 320) -> go.Figure:
    fig.update_layout(
        height=height, margin=MARGIN, hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )  # fmt: skip
    fig.update_xaxes(title_text="time (UTC)", showspikes=True, spikemode="across")
    fig.update_yaxes(title_text=y_title)
    return fig


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo else value


def volume_chart(counts: pd.DataFrame, band: pd.DataFrame, incidents: Sequence[Incident], width_label: str,
                 *, right_edge: datetime | None = None) -> go.Figure:  # fmt: skip
    """Events per bucket with the expected band, anomalous buckets and incident spans."""
    fig = go.Figure()
    if not band.empty:
        x = times(band["bucket_start"])
        fig.add_trace(go.Scatter(x=x, y=band["upper"], name="upper", mode="lines", line={"width": 0},
                                 hoverinfo="skip", showlegend=False))  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=band["lower"], name="expected range", mode="lines", line={"width": 0},
                                 fill="tonexty", fillcolor=BAND_FILL, hoverinfo="skip"))  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=band["expected"], name="expected", mode="lines",
                                 line={"dash": "dot", "width": 1, "color": "#555"}))  # fmt: skip
    fig.add_trace(go.Scatter(x=times(counts["bucket_start"]), y=counts["count"], name="events", mode="lines",
                             line={"width": 2, "color": ACTUAL}))  # fmt: skip
    if not band.empty and bool(band["anomalous"].any()):
        odd = band[band["anomalous"]]
        fig.add_trace(go.Scatter(x=times(odd["bucket_start"]), y=odd["observed"], name="anomaly", mode="markers",
                                 marker={"symbol": "x", "size": 9, "color": ANOMALY}))  # fmt: skip
    _incidents(fig, incidents, right_edge)
    return _layout(fig, f"events / {width_label}")


def _incidents(fig: go.Figure, incidents: Sequence[Incident], right_edge: datetime | None) -> None:
    if not incidents:
        return
    for inc in incidents:
        end = inc.end or right_edge
        if end is not None:
            fig.add_vrect(x0=_naive(inc.start), x1=_naive(end), fillcolor=INCIDENT_FILL, line_width=0, layer="below")
    fig.add_trace(go.Scatter(
        x=[_naive(i.start) for i in incidents], y=[0] * len(incidents), name="incidents", mode="markers",
        marker={"symbol": "triangle-up", "size": 11, "color": ANOMALY}, text=[label(i.label) for i in incidents],
        hovertemplate="%{text}<extra>incident</extra>"))  # fmt: skip


def latency_chart(latency: pd.DataFrame, slo_s: float, slo_hop: str) -> go.Figure:
    """p50 / p95 / p99 per hop (one row each, log scale) with the SLO line on the SLO hop (a trace:
    shapes on log axes take log units). Missing buckets are gaps, not interpolated."""
    hops = [h for h in HOP_TITLES if h in set(latency["hop"])] or [slo_hop]
    fig = make_subplots(rows=len(hops), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[HOP_TITLES.get(h, h) for h in hops])  # fmt: skip
    for row, hop in enumerate(hops, start=1):
        part = latency[latency["hop"] == hop].sort_values("bucket_start")
        for name, dash in PERCENTILE_DASH.items():
            fig.add_trace(go.Scatter(x=times(part["bucket_start"]), y=part[name], name=f"{hop} {name}", mode="lines",
                                     line={"dash": dash}, legendgroup=hop), row=row, col=1)  # fmt: skip
        if hop == slo_hop and not part.empty:
            edges = times(part["bucket_start"].iloc[[0, -1]])
            fig.add_trace(go.Scatter(x=edges, y=[slo_s, slo_s], name=f"SLO p95 {slo_s:g} s", mode="lines",
                                     line={"dash": "dash", "color": ANOMALY, "width": 1.5}), row=row, col=1)  # fmt: skip
        fig.update_yaxes(type="log", title_text="seconds", row=row, col=1)
    fig.update_layout(height=230 * len(hops) + 80, margin=MARGIN, hovermode="x unified")
    fig.update_xaxes(title_text="time (UTC)", row=len(hops), col=1)
    return fig


def conformance_chart(counts: pd.DataFrame) -> go.Figure:
    """Share of checked events that conform to the tracking plan, per bucket."""
    data = counts[counts["checked"] > 0] if not counts.empty else counts
    fig = go.Figure(go.Scatter(x=times(data["bucket_start"]), y=data["conformance"], name="conformance",
                               mode="lines+markers", marker={"size": 4}))  # fmt: skip
    low = float(data["conformance"].min()) if not data.empty else 0.9
    fig = _layout(fig, "conforming share", height=260)
    fig.update_yaxes(tickformat=".0%", range=[min(0.9, low - 0.02), 1.005])
    return fig


def violations_chart(violations: pd.DataFrame, width_label: str) -> go.Figure:
    """Violations per bucket, stacked by type."""
    fig = go.Figure()
    for vtype, part in violations.groupby("vtype", sort=True):
        fig.add_trace(go.Bar(x=times(part["bucket_start"]), y=part["count"], name=label(vtype)))
    fig.update_layout(barmode="stack")
    return _layout(fig, f"violations / {width_label}", height=260)


def weekly_chart(hops: pd.DataFrame, hop: str) -> go.Figure:
    """p95 of the SLO hop per event, last week vs this week, with each event's SLO."""
    data = hops[hops["hop"] == hop]
    names = [label(e) for e in data["event"]]
    fig = go.Figure([
        go.Bar(x=names, y=data["last_p95"], name="last week p95", marker_color="#9ecae1"),
        go.Bar(x=names, y=data["this_p95"], name="this week p95", marker_color=ACTUAL),
        go.Scatter(x=names, y=data["slo_s"], name="SLO", mode="markers",
                   marker={"symbol": "line-ew-open", "size": 30, "color": ANOMALY, "line": {"width": 3}}),
    ])  # fmt: skip
    fig.update_layout(barmode="group", height=340, margin=MARGIN,
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})  # fmt: skip
    fig.update_yaxes(type="log", title_text=f"{hop} p95 (seconds)")
    return fig


def delivery_chart(delivery: pd.DataFrame, width_label: str) -> go.Figure:
    """Events sent by the backend vs received by Customer.io, and those it rejected."""
    x = times(delivery["bucket_start"])
    fig = go.Figure([
        go.Scatter(x=x, y=delivery["sent"], name="sent", mode="lines", line={"width": 2, "color": ACTUAL}),
        go.Scatter(x=x, y=delivery["received"], name="received", mode="lines", line={"dash": "dash", "color": "#2ca02c"}),
        go.Bar(x=x, y=delivery["failed"], name="failed", marker_color=ANOMALY),
    ])  # fmt: skip
    return _layout(fig, f"events / {width_label}")


def channel_chart(channels: pd.DataFrame) -> go.Figure:
    """Message outcomes per channel (failures in red shades)."""
    fig = go.Figure()
    for outcome, part in channels.groupby("outcome", sort=True):
        failure = bool(part["failure"].iloc[0])
        fig.add_trace(go.Bar(x=[label(c) for c in part["channel"]], y=part["count"], name=label(outcome),
                             marker_color=ANOMALY if failure else None))  # fmt: skip
    fig.update_layout(barmode="group", height=300, margin=MARGIN)
    fig.update_yaxes(title_text="messages")
    return fig

"""The weekly latency review: this week against last week per event and hop, SLO compliance,
worst hours and biggest regressions — with CSV, standalone HTML and plain-text renderings.

Used by the dashboard page and by the worker, which sends the same report every week through an
alert route. No Streamlit here. Percentiles come from merged sketches (exact to 1 %), never from
averaged per-bucket percentiles.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from monitors.config import Config
from monitors.timeutil import from_epoch, iso, to_epoch
from monitors.ui.queries.tiling import latency_rows
from monitors.ui.sketches import quantile_table
from monitors.ui.slo import slo_seconds
from storage import Store

HOPS = ("send", "deliver", "e2e")
KEY = ["source", "environment", "event"]
MIN_VALUES = 20
"""A week (or hour) with fewer latency values is shown but never called a regression or a worst hour."""
HOP_COLUMNS = [*KEY, "hop", "this_p50", "this_p95", "this_p99", "last_p50", "last_p95", "last_p99",
               "this_n", "last_n", "p95_change", "slo_s", "within_slo", "hours_within_slo", "meets_slo"]  # fmt: skip
HOUR_COLUMNS = [*KEY, "hour", "p95", "n", "slo_s", "over_slo"]


@dataclass(frozen=True)
class WeeklyReview:
    """One review: ``[start, end)`` is "this week", the 7 days before it "last week"."""

    start: datetime
    end: datetime
    hop: str
    hops: pd.DataFrame
    worst_hours: pd.DataFrame
    regressions: pd.DataFrame

    @property
    def title(self) -> str:
        """Report title with the week."""
        return f"Weekly latency review {self.start:%Y-%m-%d} – {(self.end - timedelta(seconds=1)):%Y-%m-%d}"


def week_bounds(end: datetime) -> tuple[int, int, int]:
    """(last week start, this week start, this week end) in epoch seconds, hour-aligned."""
    stop = to_epoch(end) - to_epoch(end) % 3600
    return stop - 14 * 86400, stop - 7 * 86400, stop


def last_full_week(now: datetime) -> datetime:
    """The Monday 00:00 UTC that ends the last complete week before ``now``."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=midnight.weekday())


def weekly_review(store: Store, config: Config, end: datetime, *, top: int = 10) -> WeeklyReview:
    """Build the review of the 7 days before ``end`` (floored to the hour)."""
    lo, mid, hi = week_bounds(end)
    raw = store.bucket_seconds() or config.bucket_seconds
    hop = config.dashboard.latency_hop
    weeks = [latency_rows(store, a, b, raw=raw).assign(week=name) for a, b, name in ((lo, mid, "last"), (mid, hi, "this"))]
    rows = pd.concat([w for w in weeks if not w.empty] or weeks[:1], ignore_index=True)
    if rows.empty:
        empty = pd.DataFrame(columns=HOP_COLUMNS)
        return WeeklyReview(from_epoch(mid), from_epoch(hi), hop, empty, pd.DataFrame(columns=HOUR_COLUMNS), empty)
    pairs = rows[["source", "environment", "event"]].drop_duplicates().itertuples(index=False)
    slo = {e: slo_seconds(config, e, s, env) for s, env, e in pairs}
    weekly = quantile_table(rows, [*KEY, "hop", "week"], above=slo)
    hourly = latency_rows(store, mid, hi, raw=raw, hop=hop, widths=(3600,))
    hourly = hourly.assign(bucket_start=hourly["bucket_start"] - hourly["bucket_start"] % 3600)
    hours = quantile_table(hourly, [*KEY, "bucket_start"], (0.95,))
    hours = _hours(hours, slo)
    table = _hop_table(weekly, hours, hop, slo)
    regressions = table[(table["this_n"] >= MIN_VALUES) & (table["last_n"] >= MIN_VALUES) & (table["p95_change"] > 1.1)]
    regressions = regressions.sort_values("p95_change", ascending=False).head(top).reset_index(drop=True)
    worst = hours[hours["n"] >= MIN_VALUES].sort_values(["over_slo", "p95"], ascending=False).head(top)
    return WeeklyReview(from_epoch(mid), from_epoch(hi), hop, table, worst.reset_index(drop=True), regressions)


def _hours(hours: pd.DataFrame, slo: dict[str, float]) -> pd.DataFrame:
    if hours.empty:
        return pd.DataFrame(columns=HOUR_COLUMNS)
    out = hours.assign(hour=pd.to_datetime(hours["bucket_start"], unit="s", utc=True), slo_s=hours["event"].map(slo))
    out = out.assign(over_slo=out["p95"] / out["slo_s"])
    return out[HOUR_COLUMNS].astype({"n": "int64"})


def _hop_table(weekly: pd.DataFrame, hours: pd.DataFrame, hop: str, slo: dict[str, float]) -> pd.DataFrame:
    keys = [*KEY, "hop"]
    this = weekly[weekly["week"] == "this"].set_index(keys)
    last = weekly[weekly["week"] == "last"].set_index(keys)
    table = pd.DataFrame(index=this.index.union(last.index))
    for name, part in (("this", this), ("last", last)):
        for col in ("p50", "p95", "p99", "n"):
            table[f"{name}_{col}"] = part[col]
    table = table.reset_index()
    table[["this_n", "last_n"]] = table[["this_n", "last_n"]].fillna(0).astype("int64")
    table["p95_change"] = table["this_p95"] / table["last_p95"].where(table["last_p95"] > 0)
    table["slo_s"] = table["event"].map(slo)
    within = this["share_above"].rsub(1.0).rename("within_slo").reset_index()
    table = table.merge(within, on=keys, how="left")
    table.loc[table["hop"] != hop, ["slo_s", "within_slo"]] = None
    ok_hours = hours.assign(ok=hours["p95"] <= hours["slo_s"]).groupby(KEY)["ok"].mean().rename("hours_within_slo")
    table = table.merge(ok_hours.reset_index().assign(hop=hop), on=keys, how="left")
    table["meets_slo"] = (table["this_p95"] <= table["slo_s"]).where(table["slo_s"].notna() & table["this_p95"].notna())
    order = {h: i for i, h in enumerate(HOPS)}
    table = table.assign(_o=table["hop"].map(order).fillna(len(HOPS)))
    table = table.sort_values(["event", "source", "environment", "_o"])
    return table[HOP_COLUMNS].reset_index(drop=True)


# -- renderings -------------------------------------------------------------------------------


def to_csv(review: WeeklyReview) -> str:
    """The per event and hop table as CSV (seconds, shares as fractions)."""
    frame = review.hops.assign(week_start=iso(review.start), week_end=iso(review.end))
    return str(frame.to_csv(index=False, float_format="%.4f"))


def _fmt(seconds: object) -> str:
    if seconds is None or pd.isna(seconds):
        return "–"
    value = float(seconds)  # type: ignore[arg-type]
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _pct(share: object) -> str:
    return "–" if share is None or pd.isna(share) else f"{float(share):.1%}"  # type: ignore[arg-type]


def _change(ratio: object) -> str:
    return "–" if ratio is None or pd.isna(ratio) else f"{(float(ratio) - 1):+.0%}"  # type: ignore[arg-type]


def to_text(review: WeeklyReview) -> str:
    """Plain text for email bodies and chat."""
    lines = [review.title, f"(p95 of the {review.hop} hop against each event's SLO; UTC)", ""]
    slo_rows = review.hops[review.hops["hop"] == review.hop]
    missed = slo_rows[slo_rows["meets_slo"] == False]  # noqa: E712 - nullable booleans
    lines.append(f"{len(slo_rows) - len(missed)} of {len(slo_rows)} events met their latency SLO.")
    for r in slo_rows.itertuples(index=False):
        mark = "MISSED" if r.meets_slo is False else "ok"
        lines.append(f"  {r.event} [{r.source}/{r.environment}]: p95 {_fmt(r.this_p95)} (last week "
                     f"{_fmt(r.last_p95)}, {_change(r.p95_change)}), SLO {_fmt(r.slo_s)} — {mark}, "
                     f"{_pct(r.within_slo)} of events within")  # fmt: skip
    if not review.regressions.empty:
        lines += ["", "Biggest regressions (p95, this week vs last):"]
        lines += [f"  {r.event} {r.hop}: {_fmt(r.last_p95)} → {_fmt(r.this_p95)} ({_change(r.p95_change)})"
                  for r in review.regressions.itertuples(index=False)]  # fmt: skip
    if not review.worst_hours.empty:
        lines += ["", "Worst hours:"]
        lines += [f"  {r.hour:%a %Y-%m-%d %H:00} {r.event}: p95 {_fmt(r.p95)} (SLO {_fmt(r.slo_s)})"
                  for r in review.worst_hours.itertuples(index=False)]  # fmt: skip
    return "\n".join(lines) + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 24px}"
    "th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f4f4f4}"
    "td.t{text-align:left}tr.miss td{background:#fde8e8}caption{text-align:left;font-weight:600;padding:4px 0}"
)


def _table(caption: str, header: list[str], rows: list[list[str]], missed: list[bool] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="miss"' if missed and missed[i] else ""
        cells = "".join(f'<td class="t">{html.escape(c)}</td>' if j < 2 else f"<td>{html.escape(c)}</td>"
                        for j, c in enumerate(row))  # fmt: skip
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{''.join(body)}</table>"


def to_html(review: WeeklyReview) -> str:
    """A standalone HTML page (inline CSS, no scripts); every name is escaped."""
    hops = review.hops
    rows = [[f"{r.event} [{r.source}/{r.environment}]", r.hop, _fmt(r.this_p50), _fmt(r.this_p95), _fmt(r.this_p99),
             _fmt(r.last_p95), _change(r.p95_change), _fmt(r.slo_s), _pct(r.within_slo), _pct(r.hours_within_slo)]
            for r in hops.itertuples(index=False)]  # fmt: skip
    parts = [
        _table("Per event and hop", ["event", "hop", "p50", "p95", "p99", "p95 last week", "change", "SLO (p95)",
                                     "events within SLO", "hours within SLO"], rows,
               [r.meets_slo is False for r in hops.itertuples(index=False)]),
        _table("Biggest regressions", ["event", "hop", "p95 last week", "p95 this week", "change"],
               [[r.event, r.hop, _fmt(r.last_p95), _fmt(r.this_p95), _change(r.p95_change)]
                for r in review.regressions.itertuples(index=False)]),
        _table("Worst hours", ["event", "hour (UTC)", "p95", "SLO", "values"],
               [[r.event, f"{r.hour:%a %Y-%m-%d %H:00}", _fmt(r.p95), _fmt(r.slo_s), str(r.n)]
                for r in review.worst_hours.itertuples(index=False)]),
    ]  # fmt: skip
    title = html.escape(review.title)
    note = html.escape(f"p95 of the {review.hop} hop against each event's SLO; times in UTC.")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>{_STYLE}</style>"
            f"</head><body><h1>{title}</h1><p>{note}</p>{''.join(parts)}</body></html>\n")  # fmt: skip

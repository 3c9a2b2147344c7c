"""Weekly latency review: per event and hop this week vs last week (p50 / p95 / p99), SLO
compliance, worst hours, biggest regressions; CSV and standalone HTML exports. The worker sends
the same report every week (``weekly_report`` job)."""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st

from monitors.timeutil import to_epoch, utcnow
from monitors.ui import charts, common, data
from monitors.ui.weekly import last_full_week, to_csv, to_html

ROLLING = "last 7 days"
SECONDS = st.column_config.NumberColumn(format="%.2f s")
SHARE = st.column_config.NumberColumn(format="percent")
HOP_COLUMNS = {
    "event": st.column_config.TextColumn("event", pinned=True), "source": st.column_config.TextColumn("source"),
    "environment": st.column_config.TextColumn("env"), "hop": st.column_config.TextColumn("hop"),
    "this_p50": SECONDS, "this_p95": SECONDS, "this_p99": SECONDS, "last_p50": SECONDS, "last_p95": SECONDS,
    "last_p99": SECONDS, "this_n": st.column_config.NumberColumn("values", format="compact"),
    "last_n": st.column_config.NumberColumn("values last week", format="compact"),
    "p95_change": st.column_config.NumberColumn("p95 ×", format="%.2f"), "slo_s": SECONDS,
    "within_slo": SHARE, "hours_within_slo": SHARE, "meets_slo": st.column_config.CheckboxColumn("meets SLO"),
}  # fmt: skip


def _weeks(now: datetime) -> dict[str, datetime]:
    monday = last_full_week(now)
    weeks = {ROLLING: now}
    for back in range(4):
        end = monday - timedelta(days=7 * back)
        weeks[f"week of {(end - timedelta(days=7)):%Y-%m-%d}"] = end
    return weeks


def render() -> None:
    """Draw the page."""
    st.title("Weekly latency review")
    now = utcnow()
    weeks = _weeks(now)
    choice = st.selectbox("Week", list(weeks), key="week", bind="query-params") or ROLLING
    end = weeks[choice]
    review = data.weekly(to_epoch(end) - to_epoch(end) % 3600)
    st.caption(f"{review.start:%Y-%m-%d %H:%M} – {review.end:%Y-%m-%d %H:%M} UTC against the 7 days before; "
               f"SLOs are on the p95 of the {review.hop} hop")  # fmt: skip
    if review.hops.empty:
        st.info("No latency data for these two weeks.")
        return
    cols = st.columns(2)
    name = review.start.strftime("%Y-%m-%d")
    cols[0].download_button("Export CSV", to_csv(review), file_name=f"latency-review-{name}.csv", mime="text/csv",
                            key="export_csv", on_click="ignore")  # fmt: skip
    cols[1].download_button("Export HTML report", to_html(review), file_name=f"latency-review-{name}.html",
                            mime="text/html", key="export_html", on_click="ignore")  # fmt: skip
    slo_rows = review.hops[review.hops["hop"] == review.hop]
    met = int((slo_rows["meets_slo"] == True).sum())  # noqa: E712 - nullable booleans
    st.metric("Events meeting their latency SLO", f"{met} of {len(slo_rows)}")
    common.chart(charts.weekly_chart(review.hops, review.hop), "weekly_chart")
    st.subheader("Per event and hop")
    st.dataframe(review.hops, hide_index=True, column_config=HOP_COLUMNS, key="weekly_hops")
    st.subheader("Biggest regressions")
    if review.regressions.empty:
        st.success("No p95 regression over 10 % against last week.")
    else:
        st.dataframe(review.regressions, hide_index=True, column_config=HOP_COLUMNS, key="weekly_regressions")
    st.subheader("Worst hours")
    st.dataframe(review.worst_hours, hide_index=True, key="weekly_worst_hours", column_config={
        "event": st.column_config.TextColumn("event"), "source": st.column_config.TextColumn("source"),
        "environment": st.column_config.TextColumn("env"),
        "hour": st.column_config.DatetimeColumn("hour", format="ddd YYYY-MM-DD HH:00", timezone="UTC"),
        "p95": SECONDS, "slo_s": SECONDS, "over_slo": st.column_config.NumberColumn("× SLO", format="%.1f")})  # fmt: skip

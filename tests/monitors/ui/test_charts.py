"""Chart builders, read through their figure data."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from monitors.ui import charts
from monitors.ui.charts import Incident

T0 = 1_795_000_200


def counts(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"bucket_start": [T0 + 300 * i for i in range(n)], "count": [5, 0, 7, 6],
                         "checked": [5, 0, 7, 6], "conformance": [1.0, None, 6 / 7, 1.0]})


def band() -> pd.DataFrame:
    return pd.DataFrame({"bucket_start": [T0 + 300 * i for i in range(4)], "observed": [5.0, 0.0, 7.0, 6.0],
                         "expected": [5.0] * 4, "lower": [2.0] * 4, "upper": [8.0] * 4,
                         "anomalous": [False, True, False, False]})


def test_volume_chart_draws_band_under_actual_with_anomalies_and_incidents() -> None:
    start = datetime.fromtimestamp(T0 + 300, UTC)
    fig = charts.volume_chart(counts(), band(), [Incident(start, None, "critical <b>drop</b>")], "5 min",
                              right_edge=datetime.fromtimestamp(T0 + 1200, UTC))
    names = [t.name for t in fig.data]
    assert names == ["upper", "expected range", "expected", "events", "anomaly", "incidents"]
    assert fig.data[1].fill == "tonexty" and list(fig.data[1].y) == [2.0] * 4 and list(fig.data[0].y) == [8.0] * 4
    assert list(fig.data[3].y) == [5, 0, 7, 6]
    assert list(fig.data[4].y) == [0.0]  # the anomalous bucket, at its observed value
    assert fig.data[5].text == ("critical &lt;b&gt;drop&lt;/b&gt;",)  # inert in plotly's HTML-like text
    shape = fig.layout.shapes[0]
    assert (str(shape.x0), str(shape.x1)) == ("2026-11-18 11:15:00", "2026-11-18 11:30:00")
    assert fig.layout.yaxis.title.text == "events / 5 min" and fig.layout.xaxis.title.text == "time (UTC)"


def test_volume_chart_without_band_has_only_the_actual_line() -> None:
    empty = pd.DataFrame(columns=["bucket_start", "observed", "expected", "lower", "upper", "anomalous"])
    fig = charts.volume_chart(counts(), empty, [], "1 h")
    assert [t.name for t in fig.data] == ["events"]


def test_latency_chart_has_three_percentiles_per_hop_and_the_slo_on_its_hop() -> None:
    rows = [{"bucket_start": T0 + 300 * i, "hop": hop, "n": 3, "p50": 1.0, "p95": 2.0, "p99": 3.0}
            for hop in ("send", "e2e") for i in range(3)]
    fig = charts.latency_chart(pd.DataFrame(rows), 60.0, "e2e")
    assert [t.name for t in fig.data] == ["send p50", "send p95", "send p99", "e2e p50", "e2e p95", "e2e p99",
                                          "SLO p95 60 s"]
    assert [t.line.dash for t in fig.data[:3]] == ["solid", "dash", "dot"]
    slo = fig.data[-1]
    assert list(slo.y) == [60.0, 60.0] and slo.yaxis == "y2"  # on the e2e row
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"


def test_conformance_chart_skips_unchecked_buckets() -> None:
    fig = charts.conformance_chart(counts())
    assert len(fig.data[0].y) == 3 and fig.layout.yaxis.tickformat == ".0%"
    assert fig.layout.yaxis.range[0] == min(0.9, 6 / 7 - 0.02)


def test_violations_chart_stacks_by_type() -> None:
    frame = pd.DataFrame({"bucket_start": [T0, T0, T0 + 300], "vtype": ["wrong_type", "missing_entity_id", "wrong_type"],
                          "count": [1, 2, 3]})
    fig = charts.violations_chart(frame, "5 min")
    assert [(t.name, list(t.y)) for t in fig.data] == [("missing_entity_id", [2]), ("wrong_type", [1, 3])]
    assert fig.layout.barmode == "stack"


def test_weekly_chart_compares_weeks_against_the_slo() -> None:
    hops = pd.DataFrame({"event": ["A <x>", "B"], "hop": ["e2e", "e2e"], "last_p95": [1.0, 2.0],
                         "this_p95": [1.5, 90.0], "slo_s": [60.0, 60.0]})
    fig = charts.weekly_chart(hops, "e2e")
    assert [t.name for t in fig.data] == ["last week p95", "this week p95", "SLO"]
    assert list(fig.data[1].x) == ["A &lt;x&gt;", "B"] and list(fig.data[1].y) == [1.5, 90.0]


def test_delivery_and_channel_charts() -> None:
    delivery = pd.DataFrame({"bucket_start": [T0], "sent": [4], "received": [3], "failed": [1]})
    assert [t.name for t in charts.delivery_chart(delivery, "5 min").data] == ["sent", "received", "failed"]
    channels = pd.DataFrame({"channel": ["email", "email"], "outcome": ["bounced", "sent"], "count": [2, 5],
                             "failure": [True, False]})
    fig = charts.channel_chart(channels)
    assert [(t.name, t.marker.color) for t in fig.data] == [("bounced", charts.ANOMALY), ("sent", None)]

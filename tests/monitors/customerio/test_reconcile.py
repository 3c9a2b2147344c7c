from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from monitors.customerio.config import ReconcileConfig
from monitors.customerio.reconcile import ReconcileContext, reconcile
from monitors.models import Severity

B = 300
T0 = 1_800_000_000 - 1_800_000_000 % B
NOW = datetime.fromtimestamp(T0 + 20 * B, UTC)


def sent_frame(rows: list[tuple[str, str, int, int]], environment: str = "production") -> pd.DataFrame:
    return pd.DataFrame([(src, environment, ev, T0 + i * B, n) for src, ev, i, n in rows],
                        columns=["source", "environment", "event", "bucket_start", "count"])


def received_frame(rows: list[tuple[str, str, int, int]], estimated: bool = False) -> pd.DataFrame:
    return pd.DataFrame([("shop", atype, ev, T0 + i * B, n, estimated, 1.0, n, 2.0 * n, 3.0)
                         for atype, ev, i, n in rows],
                        columns=["workspace", "atype", "name", "bucket_start", "count", "estimated", "sample_rate",
                                 "latency_n", "latency_sum", "latency_max"])


def ctx(**config: Any) -> ReconcileContext:
    return ReconcileContext("shop", ReconcileConfig(**config), B, NOW, covered_from=0, covered_until=T0 + 20 * B)


def test_full_delivery_gives_ratio_one_and_no_findings() -> None:
    result = reconcile(sent_frame([("be", "buy", 0, 50)]), received_frame([("event", "buy", 0, 50)]), ctx())
    row = result.metrics.iloc[0]
    assert (row["sent"], row["received"], row["ratio"], bool(row["judged"])) == (50, 50, 1.0, True)
    assert result.findings == []


def test_consecutive_bad_buckets_form_one_episode_ended_by_a_good_bucket() -> None:
    sent = sent_frame([("be", "buy", i, 100) for i in range(5)])
    received = received_frame([("event", "buy", 0, 100), ("event", "buy", 1, 60), ("event", "buy", 2, 90),
                               ("event", "buy", 3, 100), ("failed_event", "buy", 1, 30), ("event", "buy", 4, 99)])
    [finding] = reconcile(sent, received, ctx()).findings
    assert (finding.started_at.timestamp(), finding.ended_at and finding.ended_at.timestamp()) == (T0 + B, T0 + 3 * B)
    assert (finding.observed, finding.expected, finding.severity, finding.score) == (150.0, 200.0, Severity.WARNING,
                                                                                    0.25)
    assert finding.title == ("buy: 50 of 200 events sent were not received by Customer.io (75% delivered); "
                             "30 rejected as failed_event")
    assert finding.evidence["failed"] == 30 and len(finding.evidence["buckets"]) == 2


def test_ongoing_collapse_is_critical_and_open() -> None:
    sent = sent_frame([("be", "buy", i, 100) for i in range(3)])
    received = received_frame([("event", "buy", 0, 100), ("event", "buy", 1, 10)])
    [finding] = reconcile(sent, received, ctx()).findings
    assert (finding.severity, finding.ended_at, finding.observed, finding.expected) == (
        Severity.CRITICAL, None, 10.0, 200.0)


@pytest.mark.parametrize(
    ("case", "context", "received_estimated"),
    [
        ("too-few-sent", ctx(min_sent=101), False),
        ("not-settled", ReconcileContext("shop", ReconcileConfig(), B, NOW, 0, T0 + B + 599), False),
        ("before-coverage", ReconcileContext("shop", ReconcileConfig(), B, NOW, T0 + B, T0 + 20 * B), False),
        ("estimated", ctx(), True),
    ],
)
def test_unjudgeable_buckets_open_no_findings(case: str, context: ReconcileContext, received_estimated: bool) -> None:
    result = reconcile(sent_frame([("be", "buy", 0, 100)]), received_frame([("event", "buy", 0, 5)],
                                                                          received_estimated), context)
    assert result.findings == []
    assert not result.metrics["judged"].any()


def test_only_configured_sources_and_environment_count() -> None:
    sent = pd.concat([sent_frame([("be", "buy", 0, 50), ("web", "buy", 0, 50)]),
                      sent_frame([("be", "buy", 0, 1000)], environment="staging")])
    result = reconcile(sent, received_frame([("event", "buy", 0, 50)]), ctx(sources=["be"]))
    assert result.metrics[["sent", "received"]].values.tolist() == [[50, 50]]
    both = reconcile(sent, received_frame([("event", "buy", 0, 50)]), ctx())
    [finding] = both.findings
    assert finding.source == "be,web" and finding.evidence["sources"] == ["be", "web"]


def test_missing_received_rows_mean_nothing_arrived() -> None:
    result = reconcile(sent_frame([("be", "gone", 0, 40)]), received_frame([]), ctx())
    assert result.metrics[["received", "failed", "latency_n"]].values.tolist() == [[0, 0, 0]]
    assert [f.severity for f in result.findings] == [Severity.CRITICAL]


def test_events_only_customerio_saw_are_not_reported() -> None:
    result = reconcile(sent_frame([("be", "buy", 0, 40)]), received_frame([("event", "buy", 0, 40),
                                                                           ("event", "frontend_only", 0, 9)]), ctx())
    assert result.metrics["event"].tolist() == ["buy"]


def test_latency_columns_pass_through() -> None:
    result = reconcile(sent_frame([("be", "buy", 0, 40)]), received_frame([("event", "buy", 0, 40)]), ctx())
    row = result.metrics.iloc[0]
    assert (row["latency_n"], row["latency_sum"], row["latency_max"]) == (40, 80.0, 3.0)


def test_nothing_sent_gives_empty_results() -> None:
    result = reconcile(sent_frame([]), received_frame([("event", "buy", 0, 5)]), ctx())
    assert result.metrics.empty and result.findings == []


def test_activities_without_events_and_identify_calls_do_not_break_or_count() -> None:
    sent = sent_frame([("be", "buy", 0, 50), ("be", "$identify", 0, 80)])
    result = reconcile(sent, received_frame([("sent_email", "welcome", 0, 5)]), ctx())
    assert list(result.metrics["event"]) == ["buy"]
    row = result.metrics.iloc[0]
    assert (row["sent"], row["received"]) == (50, 0)
    assert [f.event for f in result.findings] == ["buy"]

"""Sample messages for renderer contract tests (fixed times, so rendered output is stable)."""

from __future__ import annotations

from collections.abc import Callable

from monitors.alerts.compose import alert_message, make_test_message, report_message
from monitors.alerts.finding import AlertFinding
from monitors.alerts.journeys import annotate
from monitors.alerts.message import Link, Message
from monitors.alerts.planner import Change, GroupPlan
from monitors.alerts.routing import build_tree
from monitors.config import JourneyConfig
from tests.monitors.alerts.conftest import at, make_config
from tests.monitors.alerts.factories import make_finding

DASHBOARD = "http://dash.test:8501"
JOURNEYS = [
    JourneyConfig(
        name="Cart recovery", trigger=["Added to Cart"], exit=["Order Completed"], filter=["cart_value"]
    ),
    JourneyConfig(name="Post-purchase", trigger=["Order Completed"]),
]
PII = ("jane.doe@example.com", "+44 7700 900123")


def _route_plan(
    changes: list[Change], *, repeat: bool = False, group: dict[str, str] | None = None
) -> GroupPlan:
    tree = build_tree(
        make_config([{"name": "oncall", "type": "file"}], {"receiver": "oncall", "name": "oncall"}).alerts
    )
    assert tree is not None
    return GroupPlan(
        tree,
        group or {"source": "web", "environment": "production", "kind": changes[0].finding.kind},
        "g",
        tuple(changes),
        (),
        repeat,
        None,
        False,
    )


def _silence(**kw: object) -> AlertFinding:
    evidence = {
        "window": "45m",
        "last_seen": "2026-11-02T09:15:00Z",
        "sample": f"from {PII[0]} tel {PII[1]}",
        "buckets": [0, 0, 0],
    }
    return annotate(
        make_finding(
            "silence",
            event="Order Completed",
            title="Order Completed stopped arriving",
            evidence=evidence,
            **kw,
        ),  # type: ignore[arg-type]
        JOURNEYS,
    )


def firing_single() -> Message:
    return alert_message(_route_plan([Change(_silence(), "firing:critical", None)]), DASHBOARD, at(minutes=1))


def resolved_single() -> Message:
    f = _silence(status="resolved", ended_at=at(minutes=52))
    return alert_message(_route_plan([Change(f, "resolved", "firing:critical")]), DASHBOARD, at(minutes=53))


def acknowledged() -> Message:
    f = _silence(status="acknowledged", status_by="ana@shop.test")
    return alert_message(
        _route_plan([Change(f, "acknowledged", "firing:critical")]), DASHBOARD, at(minutes=9)
    )


def repeat() -> Message:
    return alert_message(
        _route_plan([Change(_silence(), "repeat:1", "firing:critical")], repeat=True), DASHBOARD, at(hours=4)
    )


def escalated() -> Message:
    f = make_finding(
        "latency",
        event="Checkout Started",
        subject="segment",
        severity="critical",
        title="Checkout Started p95 delay 14m",
    )
    return alert_message(
        _route_plan([Change(f, "firing:critical", "firing:warning")]), DASHBOARD, at(minutes=20)
    )


def group_mixed() -> Message:
    drops = [
        make_finding("volume_drop", event="Product Viewed", title="Product Viewed down 64%"),
        make_finding(
            "volume_drop", event="Checkout Started", title="Checkout Started down 58%", severity="critical"
        ),
        make_finding(
            "volume_drop", event="Search", title="Search down 40%", status="resolved", ended_at=at(minutes=30)
        ),
    ]
    changes = [
        Change(drops[0], "firing:warning", None),
        Change(drops[1], "firing:critical", None),
        Change(drops[2], "resolved", "firing:warning"),
    ]
    return alert_message(_route_plan(changes), DASHBOARD, at(minutes=31))


def many() -> Message:
    drops = [
        make_finding("volume_drop", event=f"Event {i:02d}", title=f"Event {i:02d} down") for i in range(12)
    ]
    return alert_message(
        _route_plan([Change(f, "firing:warning", None) for f in drops]), DASHBOARD, at(minutes=1)
    )


def report() -> Message:
    text = "Weekly latency review, 26 Oct – 1 Nov\n\nOrder Completed p95: 42s (last week 38s)\nAdded to Cart p95: 3.1s"
    html = "<h3>Weekly latency review</h3><table><tr><td>Order Completed p95</td><td>42s</td></tr></table>"
    return report_message(
        "Weekly latency review",
        text,
        at(hours=24),
        html=html,
        route="weekly",
        dashboard_url=DASHBOARD,
        links=(Link("Latency page", f"{DASHBOARD}/latency"),),
    )


def marked_test() -> Message:
    return make_test_message("oncall", "pagerduty", DASHBOARD, at(minutes=5))


SAMPLES: dict[str, Callable[[], Message]] = {
    "firing_single": firing_single,
    "resolved_single": resolved_single,
    "acknowledged": acknowledged,
    "repeat": repeat,
    "escalated": escalated,
    "group_mixed": group_mixed,
    "many": many,
    "report": report,
    "test": marked_test,
}

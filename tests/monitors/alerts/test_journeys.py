from __future__ import annotations

from typing import Any

import pytest

from monitors.alerts.journeys import annotate, raise_once
from monitors.alerts.message import JourneyRisk
from monitors.config import JourneyConfig
from monitors.models import Severity
from tests.monitors.alerts.factories import make_finding

CART = JourneyConfig(
    name="Cart recovery",
    trigger=["Added to Cart"],
    exit=["Order Completed"],
    filter=["cart_value"],
    properties=["cart_url"],
)
POST = JourneyConfig(name="Post-purchase", trigger=["Order Completed"], raise_severity=False)


@pytest.mark.parametrize(
    ("kwargs", "risks", "severity"),
    [
        (
            {"event": "Order Completed"},
            [("Cart recovery", "exit", "Order Completed"), ("Post-purchase", "trigger", "Order Completed")],
            "critical",
        ),
        (
            {"event": "Added to Cart", "severity": "info"},
            [("Cart recovery", "trigger", "Added to Cart")],
            "warning",
        ),
        (
            {"event": "Added to Cart", "severity": "critical"},
            [("Cart recovery", "trigger", "Added to Cart")],
            "critical",
        ),
        (
            {"kind": "missing_property", "event": "Added to Cart", "subject": "cart_value"},
            [("Cart recovery", "filter", "Added to Cart.cart_value")],
            "critical",
        ),
        (
            {"kind": "missing_property", "event": "Added to Cart", "subject": "cart_url"},
            [("Cart recovery", "property", "Added to Cart.cart_url")],
            "critical",
        ),
        ({"kind": "missing_property", "event": "Added to Cart", "subject": "colour"}, [], "warning"),
        ({"event": "Product Viewed"}, [], "warning"),
        ({"event": "Order Completed", "environment": "staging"}, [], "warning"),
        (
            {"kind": "source_down", "event": ""},
            [("Cart recovery", "source", "web"), ("Post-purchase", "source", "web")],
            "critical",
        ),
    ],
    ids=[
        "exit-and-trigger",
        "trigger-info-to-warning",
        "critical-stays",
        "filter-property",
        "message-property",
        "unrelated-property",
        "unrelated-event",
        "other-environment",
        "source-down",
    ],
)
def test_findings_on_journey_events_name_the_journeys_and_raise_severity(
    kwargs: dict[str, Any], risks: list[tuple[str, str, str]], severity: str
) -> None:
    annotated = annotate(make_finding(**kwargs), [CART, POST])
    assert [(j.name, j.role, j.via) for j in annotated.journeys] == risks
    assert annotated.severity is Severity(severity)
    assert annotated.base_severity is (Severity(kwargs.get("severity", "warning")) if risks else None)


def test_a_rename_puts_journeys_on_both_names_at_risk() -> None:
    rename = make_finding(
        "event_rename", event="order_completed", evidence={"from": "Order Completed", "to": "order_completed"}
    )
    assert annotate(rename, [CART]).journeys == (JourneyRisk("Cart recovery", "exit", "Order Completed"),)


def test_journeys_limited_to_sources_ignore_other_sources() -> None:
    ios_only = CART.model_copy(update={"sources": ["ios"]})
    assert annotate(make_finding(source="web"), [ios_only]).journeys == ()
    assert annotate(make_finding(source="ios"), [ios_only]).journeys != ()


def test_raise_once_stops_at_critical() -> None:
    assert [raise_once(s) for s in Severity] == [Severity.WARNING, Severity.CRITICAL, Severity.CRITICAL]

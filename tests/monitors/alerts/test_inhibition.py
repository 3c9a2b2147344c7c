from __future__ import annotations

from datetime import timedelta

from monitors.alerts.config import InhibitRuleConfig
from monitors.alerts.inhibition import inhibited
from monitors.config import parse_config
from tests.monitors.alerts.conftest import at
from tests.monitors.alerts.factories import make_finding

RULES = parse_config({}).alerts.inhibit_rules


def test_a_source_that_is_down_mutes_per_event_drops_of_that_source_only() -> None:
    down = make_finding("source_down", event="")
    drop = make_finding("volume_drop", event="Order Completed")
    quiet = make_finding("silence", event="Added to Cart")
    other_source = make_finding("volume_drop", source="ios")
    staging = make_finding("volume_drop", environment="staging")
    schema = make_finding("type_mismatch", subject="price")
    muted = inhibited([down, drop, quiet, other_source, staging, schema], RULES)
    assert set(muted) == {drop.fingerprint, quiet.fingerprint}
    assert muted[drop.fingerprint] == f"inhibited by source_down {down.fingerprint} (web: source_down)"


def test_a_resolved_or_subject_scoped_source_finding_inhibits_nothing() -> None:
    resolved_down = make_finding("source_down", event="", status="resolved")
    stalled_hop = make_finding("ingest_stalled", event="", subject="segment")
    drop = make_finding("volume_drop")
    assert inhibited([resolved_down, stalled_hop, drop], RULES) == {}


def test_a_rename_mutes_the_drop_of_the_old_name_and_the_new_event_of_the_new_name() -> None:
    rename = make_finding(
        "event_rename", event="order_completed", evidence={"from": "Order Completed", "to": "order_completed"}
    )
    old_drop = make_finding("silence", event="Order Completed")
    new_event = make_finding("new_event", event="order_completed")
    unrelated = make_finding("volume_drop", event="Added to Cart")
    elsewhere = make_finding("volume_drop", event="Order Completed", source="ios")
    muted = inhibited([rename, old_drop, new_event, unrelated, elsewhere], RULES)
    assert set(muted) == {old_drop.fingerprint, new_event.fingerprint}
    assert "rename 'Order Completed' → 'order_completed'" in muted[old_drop.fingerprint]
    assert inhibited([rename, old_drop, new_event], RULES, renames=False) == {}


def test_custom_rules_compare_the_equal_labels() -> None:
    rule = InhibitRuleConfig(
        source_match={"severity": "critical"}, target_match={"severity": "info"}, equal=["event"]
    )
    loud = make_finding("volume_drop", severity="critical", event="A")
    quiet_same = make_finding("latency", severity="info", event="A")
    quiet_other = make_finding("latency", severity="info", event="B")
    assert set(inhibited([loud, quiet_same, quiet_other], [rule], renames=False)) == {quiet_same.fingerprint}


def test_a_recovered_source_keeps_inhibiting_its_lagging_findings_for_the_holdover() -> None:
    down = make_finding("source_down", event="", status="resolved", ended_at=at(minutes=20))
    lagging = make_finding("silence", event="Search")
    after = make_finding("volume_drop", event="Search", started_at=at(minutes=21))
    hold = timedelta(minutes=10)
    assert set(inhibited([down, lagging, after], RULES, now=at(minutes=25), holdover=hold)) == {
        lagging.fingerprint
    }
    assert inhibited([down, lagging, after], RULES, now=at(minutes=30), holdover=hold) == {}
    assert inhibited([down, lagging], RULES, now=at(minutes=25)) == {}

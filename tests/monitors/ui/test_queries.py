"""The pure loaders behind the pages, on SQLite and PostgreSQL, against the seeded store."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from monitors.config import Config, parse_config
from monitors.errors import InputError
from monitors.plan import load_plan
from monitors.ui.queries import customerio as q_cio
from monitors.ui.queries import event as q_event
from monitors.ui.queries import findings as q_findings
from monitors.ui.queries import operations as q_ops
from monitors.ui.queries import overview as q_overview
from monitors.ui.queries import plan as q_plan
from monitors.ui.slo import slo_seconds
from monitors.ui.window import window
from storage import Store
from tests.monitors.ui.seed import ENV, HOSTILE, SOURCE, Seeded


def test_overview_rows_hold_volume_conformance_latency_and_findings(
    store: Store, seeded: Seeded, ui_config: Config, now: datetime
) -> None:
    win = window("24h", now)
    table = q_overview.overview(store, ui_config, win, store.list_findings()).set_index("event")
    oc, cart = table.loc["Order Completed"], table.loc["Added to Cart"]
    assert (oc["count"], cart["count"], table.loc[HOSTILE, "count"]) == (960, 2400, 240)
    assert cart["conformance"] == pytest.approx(1 - 120 / 2400)
    assert oc["expected"] == 5.0 * seeded.buckets and oc["volume_ratio"] == pytest.approx(0.8)
    assert oc["p95_s"] == pytest.approx(1200, rel=0.01)  # the last two hours (10 % of events) ran 20 minutes late
    assert (oc["slo_s"], bool(oc["p95_ok"])) == (30.0, False)
    assert cart["p95_s"] == pytest.approx(1.0, rel=0.01) and bool(cart["p95_ok"]) and cart["slo_s"] == 90.0
    assert (oc["open_findings"], oc["worst_severity"]) == (1, "critical")
    assert len(oc["trend"]) == 288 and sum(oc["trend"]) == 960


def test_slo_comes_from_the_latency_detector_then_the_dashboard(ui_config: Config) -> None:
    assert slo_seconds(ui_config, "Order Completed", SOURCE, ENV) == 30.0  # detectors.latency.slos
    assert slo_seconds(ui_config, "Added to Cart", SOURCE, ENV) == 90.0  # dashboard.slo_overrides
    assert slo_seconds(ui_config, "Product Viewed", SOURCE, ENV) == 60.0  # dashboard.latency_slo
    assert slo_seconds(parse_config({}), "Order Completed") == 120.0  # the detector's built-in default


def test_journeys_at_risk_name_the_role_and_finding(store: Store, seeded: Seeded, ui_config: Config) -> None:
    frame = q_overview.journeys(ui_config, store.list_findings()).set_index("journey")
    assert frame.loc["Cart recovery", "status"] == "at risk"
    assert frame.loc["Cart recovery", "findings"] == 2
    assert frame.loc["Cart recovery", "worst_severity"] == "critical"
    assert "exit: Order Completed — Order Completed dropped 80% below expected" in frame.loc["Cart recovery", "reasons"]
    assert frame.loc["Welcome", "status"] == "healthy"


def test_tiles_count_events_and_findings(store: Store, seeded: Seeded, ui_config: Config, now: datetime) -> None:
    values = q_overview.tiles(store, ui_config, window("24h", now), store.list_findings(), now)
    assert values["events"] == 3600 and values["open_findings"] == 3 and values["critical"] == 1
    assert values["conformance"] == pytest.approx(1 - 120 / 3600)
    assert values["silent_series"] == 3  # traffic ended over an hour ago


def test_event_detail_fills_empty_buckets_with_zero(store: Store, seeded: Seeded, ui_config: Config, now: datetime) -> None:
    win = window("24h", now)
    detail = q_event.event_detail(store, ui_config, q_event.SeriesKey(SOURCE, ENV, "Order Completed"), win)
    assert len(detail.counts) == 288 and int(detail.counts["count"].sum()) == 960
    assert int((detail.counts["count"] == 0).sum()) == 288 - seeded.buckets
    assert len(detail.band) == seeded.buckets and bool(detail.band["anomalous"].iloc[-1])
    assert sorted(detail.latency["hop"].unique()) == ["deliver", "e2e", "send"]
    assert detail.latency["p95"].isna().sum() == 3 * (288 - seeded.buckets)  # gaps stay gaps
    assert [f.kind for f in detail.findings] == ["volume_drop"]
    assert (detail.slo_s, detail.slo_hop) == (30.0, "e2e")


def test_event_detail_of_a_renamed_event_carries_rename_evidence_and_samples(
    store: Store, seeded: Seeded, ui_config: Config, now: datetime
) -> None:
    detail = q_event.event_detail(store, ui_config, q_event.SeriesKey(SOURCE, ENV, "Added to Cart"), window("24h", now))
    assert [(f.kind, f.evidence) for f in detail.findings] == [
        ("event_rename", {"from": "Added to Cart", "to": "added_to_cart"})]
    assert detail.violation_totals.values.tolist() == [["missing_required_property", "cart_id", 120]]
    assert detail.samples["sample"].tolist() == ['{"event":"Added to Cart","userId":"a***@example.com","properties":{}}']


def test_findings_table_filters_and_links(store: Store, seeded: Seeded, ui_config: Config) -> None:
    every = q_findings.findings_table(store, ui_config, q_findings.Filters())
    assert list(every["severity"]) == ["critical", "warning", "info"]
    assert every.iloc[0]["link"] == f"findings?finding={seeded.fingerprints['drop']}"
    assert every.iloc[0]["journeys"] == "Cart recovery"
    only = q_findings.findings_table(store, ui_config, q_findings.Filters(kinds=("staging_leak",)))
    assert list(only["event"]) == [HOSTILE]
    assert q_findings.findings_table(store, ui_config, q_findings.Filters(statuses=("resolved",))).empty


def test_actions_record_who_when_and_the_baseline(store: Store, seeded: Seeded, now: datetime) -> None:
    fp = seeded.fingerprints["drop"]
    q_findings.apply_action(store, fp, "acknowledge", actor=" Ann ", at=now)
    q_findings.apply_action(store, fp, "snooze", actor="Ann", at=now, until=now + timedelta(hours=2))
    q_findings.apply_action(store, fp, "mark_expected", actor="Bob", at=now, note="spring sale", baseline="adapt")
    found, actions = q_findings.finding_with_history(store, fp) or (None, [])
    assert found is not None and (found.status, found.status_by) == ("expected", "Bob")
    assert [(a.action, a.actor, a.note) for a in actions] == [
        ("acknowledge", "Ann", None), ("snooze", "Ann", f"until {(now + timedelta(hours=2)):%Y-%m-%dT%H:%M:%SZ}"),
        ("mark_expected", "Bob", "baseline: adapt — spring sale")]
    with pytest.raises(InputError, match="say who you are"):
        q_findings.apply_action(store, fp, "resolve", actor="  ", at=now)
    with pytest.raises(InputError, match="baseline must be one of adapt, keep"):
        q_findings.apply_action(store, seeded.fingerprints["rename"], "mark_expected", actor="A", at=now, baseline="x")


def test_customerio_view_splits_outcomes_by_channel(store: Store, seeded: Seeded, ui_config: Config, now: datetime) -> None:
    view = q_cio.customerio_view(store, ui_config, window("24h", now))
    assert view.per_event[["event", "sent", "received", "failed"]].values.tolist() == [["Order Completed", 4, 3, 1]]
    assert view.per_event["ratio"].tolist() == [0.75] and view.per_event["latency_avg_s"].tolist() == [2.0]
    assert view.failed_events.values.tolist() == [["Order Completed", 1]]
    assert view.channels[["channel", "outcome", "count", "failure"]].values.tolist() == [
        ["email", "sent", 5, False], ["email", "bounced", 2, True], ["push", "delivered", 4, False]]
    assert q_cio.split_outcome("failed_event") is None and q_cio.split_outcome("undeliverable_twilio") == ("twilio", "undeliverable")


def test_operations_lag_rejects_and_job_errors(store: Store, seeded: Seeded, now: datetime) -> None:
    ops = q_ops.operations(store, 300, now)
    src = ops.sources.iloc[0]
    assert src["source"] == SOURCE and src["lag_s"] == int(now.timestamp()) - (seeded.last + 300)
    assert list(ops.errors["job"]) == ["detect"] and ops.leader is None
    assert dict(zip(ops.last_runs["job"], ops.last_runs["rows"], strict=True))["ingest:shop-backend"] == 42


def test_plan_view_compares_planned_and_seen(store: Store, seeded: Seeded, now: datetime) -> None:
    view = q_plan.plan_view(store, load_plan(None), window("24h", now))
    status = dict(zip(view.events["event"], view.events["status"], strict=True))
    assert status == {"Added to Cart": "ok", "Checkout Started": "not seen", "Order Completed": "ok",
                      "Product Viewed": "not seen", HOSTILE: "unplanned"}
    props = view.properties.set_index(["event", "property"])["status"]
    assert props[("Order Completed", "revenue")] == "type differs"  # seen as text, planned as a number
    assert props[("Added to Cart", "cart_id")] == "ok" and props[("Added to Cart", "cart_value")] == "not seen"
    assert view.coverage["planned_events_seen"] == 0.5
    assert view.coverage["traffic_planned"] == pytest.approx(3360 / 3600)


def test_near_duplicates_catch_case_spacing_and_typos() -> None:
    pairs = q_plan.near_duplicates(["Order Completed", "order_completed", "Ordr Completed", "Added to Cart"])
    assert pairs.values.tolist() == [
        ["Order Completed", "Ordr Completed", "96% similar"],
        ["Order Completed", "order_completed", "same letters (case, spaces or punctuation differ)"],
        ["Ordr Completed", "order_completed", "96% similar"],
    ]

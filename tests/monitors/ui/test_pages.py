"""Every page and every action through the real router (AppTest) against a seeded store."""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from storage import Store
from tests.monitors.ui.conftest import OpenPage
from tests.monitors.ui.seed import HOSTILE, Seeded

PAGES = {
    "overview": "Overview",
    "event": "Event detail",
    "findings": "Findings",
    "latency": "Weekly latency review",
    "customerio": "Customer.io",
    "operations": "Sources and jobs",
    "plan": "Tracking plan",
}


def figures(at: AppTest) -> dict[str, dict[str, Any]]:
    """Plotly figures on the page by chart key (the spec JSON streamlit sends)."""
    return {str(el.key): json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def tables(at: AppTest, column: str) -> list[pd.DataFrame]:
    """The page's tables that have ``column`` (display-only tables carry no key in AppTest), in order."""
    return [d.value for d in at.dataframe if column in d.value.columns]


def clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("url_path", list(PAGES))
def test_every_page_renders_its_title_without_errors(open_page: OpenPage, url_path: str) -> None:
    at = open_page(url_path)
    clean(at)
    assert [t.value for t in at.title] == [PAGES[url_path]]


def test_overview_tiles_count_the_window_and_journeys_show_risk(open_page: OpenPage, app_store: tuple[Store, Seeded]) -> None:
    at = open_page("overview")
    clean(at)
    metrics = {m.label: m.value for m in at.metric}
    seeded = app_store[1]
    assert metrics["Events"] == f"{sum(seeded.counts.values()):,}"
    assert metrics["Open findings"] == "3"
    assert metrics["Critical"] == "1"
    journeys = tables(at, "journey")[0]
    assert dict(zip(journeys["journey"], journeys["status"], strict=True)) == {
        "Cart recovery": "at risk", "Welcome": "healthy"}
    events = tables(at, "trend")[0]
    row = events[events["event"] == "Order Completed"].iloc[0]
    assert (row["count"], row["open_findings"], row["worst_severity"]) == (960, 1, "critical")
    assert row["slo_s"] == 30.0
    assert row["link"] == "event?event=Order+Completed&source=shop-backend&env=production&range=24h"


def test_event_deep_link_draws_band_incident_and_slo(open_page: OpenPage) -> None:
    at = open_page("event", event="Order Completed", source="shop-backend", env="production")
    clean(at)
    assert at.selectbox(key="event").value == "Order Completed"
    figs = figures(at)
    volume = figs["volume_chart"]
    assert volume["layout"]["yaxis"]["title"]["text"] == "events / 5 min"
    names = [t.get("name") for t in volume["data"]]
    assert names == ["upper", "expected range", "expected", "events", "anomaly", "incidents"]
    assert volume["data"][1]["fill"] == "tonexty"
    slo = [t for t in figs["latency_chart"]["data"] if str(t.get("name", "")).startswith("SLO")]
    assert [(t["name"], t["y"]) for t in slo] == [("SLO p95 30 s", [30.0, 30.0])]


def test_findings_deep_link_opens_the_finding(open_page: OpenPage, app_store: tuple[Store, Seeded]) -> None:
    fp = app_store[1].fingerprints["drop"]
    at = open_page("findings", finding=fp)
    clean(at)
    assert at.subheader[0].value.replace("\\", "") == "Order Completed dropped 80% below expected"
    assert any(fp in c.value for c in at.code)


def act(open_page: OpenPage, fp: str, button: str, **widgets: Any) -> AppTest:
    at = open_page("findings", finding=fp)
    at.text_input(key="actor").input("Ann Ops")
    for key, value in widgets.items():
        at.radio(key=key).set_value(value) if key == "baseline" else at.selectbox(key=key).set_value(value)
    at.run()
    at.button(key=button).click().run()
    return at


def test_acknowledge_is_recorded_with_who(open_page: OpenPage, app_store: tuple[Store, Seeded]) -> None:
    store, seeded = app_store
    at = act(open_page, seeded.fingerprints["drop"], "act_acknowledge")
    clean(at)
    assert at.success[0].value == "acknowledge recorded: the finding is now acknowledged"
    found = store.get_finding(seeded.fingerprints["drop"])
    assert found is not None and (found.status, found.status_by) == ("acknowledged", "Ann Ops")
    assert [(a.action, a.actor) for a in store.finding_actions(found.id)] == [("acknowledge", "Ann Ops")]


def test_snooze_sets_the_end_time(open_page: OpenPage, app_store: tuple[Store, Seeded]) -> None:
    store, seeded = app_store
    at = act(open_page, seeded.fingerprints["drop"], "act_snooze", snooze_for="24h")
    clean(at)
    found = store.get_finding(seeded.fingerprints["drop"])
    assert found is not None and found.snoozed_until is not None
    hours = (found.snoozed_until - found.updated_at).total_seconds() / 3600
    assert hours == pytest.approx(24, abs=0.01)
    assert store.finding_actions(found.id)[-1].actor == "Ann Ops"


def test_resolve_closes_the_finding(open_page: OpenPage, app_store: tuple[Store, Seeded]) -> None:
    store, seeded = app_store
    act(open_page, seeded.fingerprints["rename"], "act_resolve")
    found = store.get_finding(seeded.fingerprints["rename"])
    assert found is not None and (found.status, found.status_by) == ("resolved", "Ann Ops")


@pytest.mark.parametrize("choice", ["adapt", "keep"])
def test_mark_expected_records_the_baseline_choice(open_page: OpenPage, app_store: tuple[Store, Seeded], choice: str) -> None:
    store, seeded = app_store
    act(open_page, seeded.fingerprints["drop"], "act_mark_expected", baseline=choice)
    found = store.get_finding(seeded.fingerprints["drop"])
    assert found is not None and found.status == "expected"
    assert store.finding_actions(found.id)[-1].note == f"baseline: {choice}"
    assert found.baseline == choice
    assert any(f"expected (baseline: {choice}) by" in t.value for t in open_page("findings", finding=found.fingerprint).text)


def test_an_action_without_a_name_is_refused(open_page: OpenPage, app_store: tuple[Store, Seeded]) -> None:
    store, seeded = app_store
    at = open_page("findings", finding=seeded.fingerprints["drop"])
    at.button(key="act_acknowledge").click().run()
    assert at.error[0].value == "say who you are: actions are recorded with a name"
    found = store.get_finding(seeded.fingerprints["drop"])
    assert found is not None and found.status == "open"


def test_findings_filters_narrow_the_list(open_page: OpenPage) -> None:
    at = open_page("findings")
    assert len(tables(at, "fingerprint")[0]) == 3
    at.multiselect(key="f_severity").select("critical").run()
    table = tables(at, "fingerprint")[0]
    assert list(table["kind"]) == ["volume_drop"]
    at.multiselect(key="f_severity").unselect("critical").run()
    at.multiselect(key="f_journey").select("Cart recovery").run()
    assert sorted(tables(at, "fingerprint")[0]["kind"]) == ["event_rename", "volume_drop"]


def test_weekly_review_offers_both_exports(open_page: OpenPage) -> None:
    at = open_page("latency")
    clean(at)
    labels = sorted(b.proto.label for b in at.get("download_button"))
    assert labels == ["Export CSV", "Export HTML report"]
    hops = tables(at, "hours_within_slo")[0]
    e2e = hops[(hops["event"] == "Order Completed") & (hops["hop"] == "e2e")].iloc[0]
    assert (e2e["slo_s"], bool(e2e["meets_slo"])) == (30.0, False)  # 10 % of its events were 20 min late


def test_hostile_names_are_rendered_as_text(open_page: OpenPage, app_store: tuple[Store, Seeded]) -> None:
    at = open_page("findings", finding=app_store[1].fingerprints["leak"])
    clean(at)
    heading = at.subheader[0].value
    assert re.search(r"(?<!\\)[<>\[\]()*]", heading) is None  # every Markdown/HTML character escaped
    assert heading.replace("\\", "") == f"Test users in production on {HOSTILE}"
    for element in at.markdown:
        assert not element.proto.allow_html


def test_password_gate_shows_nothing_before_login(open_page: OpenPage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHM_DASHBOARD_PASSWORD", "s3cret-pass")
    at = open_page("overview")
    assert [t.value for t in at.title] == ["Event Health Monitor"]
    assert not at.metric and not at.dataframe and not at.sidebar.segmented_control
    at.text_input(key="login_name").input("Ann")
    at.text_input(key="login_password").input("wrong")
    at.button[0].click().run()
    assert at.error[0].value == "Wrong password, or no name given."
    at.text_input(key="login_password").input("s3cret-pass")
    at.button[0].click().run()
    clean(at)
    assert [t.value for t in at.title] == ["Overview"]


def test_operations_lists_jobs_and_errors(open_page: OpenPage) -> None:
    at = open_page("operations")
    clean(at)
    last, errors, _history = tables(at, "job")
    assert dict(zip(last["job"], last["status"], strict=True)) == {"detect": "error", "ingest:shop-backend": "ok"}
    assert list(errors["error"]) == ["DatabaseError: boom"]
    sources = tables(at, "lag_s")[0]
    assert list(sources["source"]) == ["shop-backend"]


def test_customerio_page_shows_gaps_failures_and_flapping(open_page: OpenPage) -> None:
    at = open_page("customerio")
    clean(at)
    per_event = tables(at, "ratio")[0]
    assert per_event.iloc[0][["event", "sent", "received", "failed"]].tolist() == ["Order Completed", 4, 3, 1]
    assert tables(at, "people")[0].values.tolist() == [["plan", 2]]
    channels = tables(at, "outcome")[0]
    assert channels[["channel", "outcome", "count"]].values.tolist() == [["email", "bounced", 2]]

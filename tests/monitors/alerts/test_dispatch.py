"""The whole pipeline against real receivers: findings in the table → messages on the wire."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest

from monitors.alerts.dispatch import DispatchReport, dispatch, report_route, send_report, send_test
from monitors.config import Config
from monitors.errors import ConfigError
from monitors.models import FindingDraft, Severity
from storage import Store
from tests.monitors.alerts.conftest import add_finding, at, make_config, resolve, set_finding
from tests.monitors.alerts.receivers import HttpReceiver, SmtpReceiver

PD, POST, UPDATE, HOOK = "/v2/enqueue", "/api/chat.postMessage", "/api/chat.update", "/hook"


def stack(http: HttpReceiver, **root: Any) -> Config:
    """On-call pages for critical findings (one per finding), retention hears about journeys,
    everything else goes to a webhook."""
    receivers = [
        {"name": "pager", "type": "pagerduty", "url": http.url(PD)},
        {"name": "retention", "type": "slack_bot", "channel": "C0RETENTION", "api_url": http.url("/api")},
        {"name": "hook", "type": "webhook"},
    ]
    route = {
        "receiver": "hook",
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": [
            {
                "name": "oncall",
                "receiver": "pager",
                "min_severity": "critical",
                "continue": True,
                "group_by": ["..."],
            },
            {"name": "retention", "receiver": "retention", "match": {"journey": "*"}},
        ],
        **root,
    }
    return make_config(receivers, route)


def env(http: HttpReceiver) -> dict[str, str]:
    return {
        "PAGERDUTY_ROUTING_KEY": "R" * 32,
        "SLACK_BOT_TOKEN": "xoxb-1",
        "EHM_WEBHOOK_URL": http.url(HOOK),
        "EHM_WEBHOOK_SECRET": "s",
    }


class Ticker:
    """Runs dispatch at chosen times against the receivers."""

    def __init__(self, store: Store, config: Config, http: HttpReceiver, client: httpx.Client) -> None:
        self.store, self.config, self.http, self.client = store, config, http, client

    def __call__(self, when: datetime) -> DispatchReport:
        return dispatch(self.store, self.config, when, client=self.client, env=env(self.http))


def pd_events(http: HttpReceiver) -> list[tuple[str, str]]:
    return [(r.json()["event_action"], r.json()["dedup_key"]) for r in http.delivered(PD)]


def hook_bodies(http: HttpReceiver) -> list[dict[str, Any]]:
    return [r.json() for r in http.delivered(HOOK)]


def test_a_stopped_event_pages_once_repeats_after_repeat_interval_and_resolves_once(
    store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    tick = Ticker(store, stack(http_receiver), http_receiver, http_client)
    fp = add_finding(store, kind="silence", event="Order Completed", title="Order Completed stopped arriving")
    assert tick(at(seconds=10)).enqueued == 0
    assert tick(at(seconds=30)).enqueued == 2
    for minute in (1, 5, 60, 239):
        assert tick(at(minutes=minute)).enqueued == 0
    assert pd_events(http_receiver) == [("trigger", fp)]
    [root] = http_receiver.delivered(POST)
    assert root.json()["channel"] == "C0RETENTION" and "thread_ts" not in root.json()
    assert "Cart recovery (exit: Order Completed)" in str(root.json()["blocks"])

    assert tick(at(hours=4, seconds=30)).enqueued == 2
    assert pd_events(http_receiver) == [("trigger", fp), ("trigger", fp)]
    repeat = http_receiver.delivered(POST)[1].json()
    assert repeat["thread_ts"] == "1700000000.000001" and "REPEAT" in repeat["text"]

    resolve(store, fp, at(hours=4, minutes=10))
    assert tick(at(hours=4, minutes=5)).enqueued == 0  # group_interval after the repeat
    assert tick(at(hours=4, minutes=11)).enqueued == 2
    for hour in (5, 9, 30):
        assert tick(at(hours=hour)).enqueued == 0
    assert pd_events(http_receiver) == [("trigger", fp), ("trigger", fp), ("resolve", fp)]
    posts, [update] = http_receiver.delivered(POST), http_receiver.delivered(UPDATE)
    assert len(posts) == 3 and posts[2].json()["thread_ts"] == "1700000000.000001"
    assert posts[2].json()["text"] == "[RESOLVED] Order Completed stopped arriving"
    assert update.json()["ts"] == "1700000000.000001" and update.json()["text"].startswith("[RESOLVED]")
    assert http_receiver.delivered(HOOK) == []
    assert store.outbox_counts() == {"sent": 6}


def test_related_findings_are_grouped_into_one_message(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    tick = Ticker(sqlite_store, stack(http_receiver), http_receiver, http_client)
    for event, created in (("Product Viewed", 0), ("Search", 10), ("Checkout Started", 25)):
        add_finding(sqlite_store, event=event, created_at=at(seconds=created))
    add_finding(sqlite_store, event="Search", source="ios")
    tick(at(seconds=30))
    bodies = sorted(hook_bodies(http_receiver), key=lambda b: str(b["group"]["source"]))
    assert [(b["group"], len(b["findings"])) for b in bodies] == [
        ({"source": "ios", "environment": "production", "kind": "volume_drop"}, 1),
        ({"source": "web", "environment": "production", "kind": "volume_drop"}, 3),
    ]
    web = bodies[1]
    assert web["title"] == "3 findings (volume_drop) in web/production"
    assert sorted(f["event"] for f in web["findings"]) == ["Checkout Started", "Product Viewed", "Search"]


def test_silenced_findings_wait_until_the_silence_is_expired(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    tick = Ticker(sqlite_store, stack(http_receiver), http_receiver, http_client)
    sid = sqlite_store.add_silence({"event": "Product *"}, at(), at(hours=2), "ana", "planned deploy", at())
    fp = add_finding(sqlite_store, event="Product Viewed")
    other = add_finding(sqlite_store, event="Search")
    report = tick(at(minutes=1))
    assert report.muted == {fp: f"silenced by #{sid} event=Product *"}
    assert [f["fingerprint"] for b in hook_bodies(http_receiver) for f in b["findings"]] == [other]
    assert sqlite_store.expire_silence(sid, at(minutes=30))
    tick(at(minutes=31))
    assert [f["fingerprint"] for b in hook_bodies(http_receiver) for f in b["findings"]] == [other, fp]


def test_a_source_that_is_down_inhibits_its_per_event_drops(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    tick = Ticker(sqlite_store, stack(http_receiver), http_receiver, http_client)
    down = add_finding(
        sqlite_store, kind="source_down", event="", severity="warning", title="web stopped sending events"
    )
    drop = add_finding(sqlite_store, kind="volume_drop", event="Product Viewed")
    silent = add_finding(sqlite_store, kind="silence", event="Search")
    report = tick(at(minutes=1))
    assert set(report.muted) == {drop, silent}
    # source-level findings put every journey at risk: warning → critical pages on-call
    assert pd_events(http_receiver) == [("trigger", down)]
    assert [f["fingerprint"] for b in hook_bodies(http_receiver) for f in b["findings"]] == []
    resolve(sqlite_store, down, at(minutes=20))
    assert set(tick(at(minutes=21)).muted) == {drop, silent}  # held for inhibit_holdover (10m)
    assert pd_events(http_receiver) == [("trigger", down), ("resolve", down)]
    resolve(
        sqlite_store, silent, at(minutes=22)
    )  # per-event findings of a recovered source close a bit later
    tick(at(minutes=29))
    assert hook_bodies(http_receiver) == []
    assert tick(at(minutes=30)).muted == {}
    assert [f["fingerprint"] for b in hook_bodies(http_receiver) for f in b["findings"]] == [drop]


def test_a_rename_inhibits_the_drop_and_the_new_event_it_explains(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    tick = Ticker(sqlite_store, stack(http_receiver), http_receiver, http_client)
    add_finding(
        sqlite_store,
        kind="event_rename",
        event="order_completed",
        evidence={"from": "Order Completed", "to": "order_completed"},
    )
    old = add_finding(sqlite_store, kind="volume_drop", event="Order Completed")
    new = add_finding(sqlite_store, kind="new_event", event="order_completed")
    report = tick(at(minutes=1))
    assert set(report.muted) == {old, new}
    notified = {f["kind"] for r in http_receiver.requests if r.path == HOOK for f in r.json()["findings"]}
    assert notified == set()  # the rename itself is critical (journeys) → on-call and retention
    assert [a for a, _ in pd_events(http_receiver)] == ["trigger"]


def test_acknowledgement_and_escalation_are_each_notified_once(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    tick = Ticker(sqlite_store, stack(http_receiver), http_receiver, http_client)
    fp = add_finding(sqlite_store, event="Product Viewed", severity="warning")
    tick(at(minutes=1))
    set_finding(sqlite_store, fp, severity="critical")
    tick(at(minutes=7))
    set_finding(sqlite_store, fp, status="acknowledged", status_by="ana")
    for minute in (13, 19, 300):
        tick(at(minutes=minute))
    transitions = [
        (f["transition"], f["previous"]) for b in hook_bodies(http_receiver) for f in b["findings"]
    ]
    assert transitions == [
        ("firing:warning", None),
        ("firing:critical", "firing:warning"),
        ("acknowledged", "firing:critical"),
    ]
    assert pd_events(http_receiver) == [("trigger", fp), ("acknowledge", fp)]


def test_routes_without_resolved_notifications_still_record_the_resolution(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    tick = Ticker(sqlite_store, stack(http_receiver, send_resolved=False), http_receiver, http_client)
    fp = add_finding(sqlite_store, event="Search")
    tick(at(minutes=1))
    resolve(sqlite_store, fp, at(minutes=10))
    report = tick(at(minutes=11))
    assert (report.enqueued, report.suppressed) == (0, 1)
    assert len(http_receiver.delivered(HOOK)) == 1
    assert [r["transition"] for r in sqlite_store.alert_log_for([fp])] == ["firing:warning", "resolved"]
    assert tick(at(minutes=20)).findings == 1  # resolved findings stay candidates for inhibit_holdover
    assert tick(at(minutes=21)).findings == 0


def test_snoozed_findings_are_muted_until_the_snooze_ends(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    tick = Ticker(sqlite_store, stack(http_receiver), http_receiver, http_client)
    fp = add_finding(sqlite_store, event="Search")
    set_finding(sqlite_store, fp, snoozed_until=at(hours=1))
    assert tick(at(minutes=1)).muted == {fp: "snoozed until 2026-11-02T11:00:00Z"}
    assert http_receiver.delivered(HOOK) == []
    tick(at(hours=1, minutes=1))
    assert len(http_receiver.delivered(HOOK)) == 1


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_reports_go_through_the_email_route_by_default(
    sqlite_store: Store, smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", smtp.password)
    mail = {
        "name": "mail",
        "type": "email",
        "host": "127.0.0.1",
        "port": smtp.port,
        "username": smtp.user,
        "password_env": "SMTP_PASSWORD",
        "sender": "ehm@shop.test",
        "to": ["retention@shop.test"],
        "ca_file": smtp.ca_file,
    }
    config = make_config(
        [{"name": "hook", "type": "webhook"}, mail],
        {"receiver": "hook", "routes": [{"name": "weekly", "receiver": "mail", "match": {"kind": "none"}}]},
    )
    assert report_route(config.alerts).name == "weekly"
    outbox_id = send_report(
        sqlite_store, config, "Weekly latency review", "p95 42s", html="<b>p95 42s</b>", now=at(hours=24)
    )
    assert sqlite_store.outbox_row(outbox_id)["status"] == "sent"  # type: ignore[index]
    [envelope] = smtp.messages
    assert b"Subject: [REPORT] Weekly latency review" in (envelope.original_content or b"")
    no_email = make_config([{"name": "hook", "type": "webhook"}], {"receiver": "hook"})
    with pytest.raises(ConfigError, match="no route for reports"):
        report_route(no_email.alerts)


def test_a_test_alert_is_marked_and_sent_straight_through_the_route(
    http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    message, receipt = send_test(
        stack(http_receiver), "default", now=at(), client=http_client, env=env(http_receiver)
    )
    [body] = hook_bodies(http_receiver)
    assert body["type"] == "test" and body["title"] == "Test alert from Event Health Monitor (route default)"
    assert receipt == {} and message.is_test
    with pytest.raises(ConfigError, match="no alert route named 'nope'"):
        send_test(stack(http_receiver), "nope", client=http_client, env=env(http_receiver))


def test_the_findings_store_lifecycle_drives_notifications(
    store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    """Detector drafts and people's actions through FindingsStore; alerting sees only the table."""
    tick = Ticker(store, stack(http_receiver), http_receiver, http_client)
    draft = FindingDraft(
        kind="volume_drop", source="web", environment="production", event="Search", started_at=at(),
        severity=Severity.WARNING, score=6.0, title="Search down 70%", observed=30.0, expected=100.0,
    )  # fmt: skip
    store.upsert_findings([draft], now=at())
    tick(at(minutes=1))
    store.acknowledge(draft.fingerprint, actor="ana", at=at(minutes=2))
    tick(at(minutes=7))
    store.upsert_findings([replace(draft, ended_at=at(minutes=20))], now=at(minutes=21))
    tick(at(minutes=22))
    store.reopen(draft.fingerprint, actor="ana", note="still low", at=at(minutes=30))
    tick(at(minutes=31))
    transitions = [
        (f["transition"], f["status_by"]) for b in hook_bodies(http_receiver) for f in b["findings"]
    ]
    assert transitions == [
        ("firing:warning", None),
        ("acknowledged", "ana"),
        ("resolved", "detector"),
        ("firing:warning#2", "ana"),
    ]

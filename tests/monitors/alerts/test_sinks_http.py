"""HTTP sinks against a real server on 127.0.0.1: exact payloads, signatures, error classes."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from monitors.alerts.config import (
    PagerDutyReceiver,
    SlackBotReceiver,
    SlackWebhookReceiver,
    TeamsReceiver,
    WebhookReceiver,
)
from monitors.alerts.message import State
from monitors.alerts.renderers import slack, teams, webhook
from monitors.alerts.sinks import Delivery, build_sink
from monitors.alerts.sinks.webhook import sign, verify
from monitors.errors import DeliveryError
from tests.monitors.alerts.receivers import HttpReceiver, Reply, free_port
from tests.monitors.alerts.samples import SAMPLES

SECRET = "whsec-0123456789abcdef"
TOKEN = "xoxb-test-token-1"
ROUTING_KEY = "R0UTINGKEY0123456789abcdefABCDEF"


def env_for(receiver: HttpReceiver) -> dict[str, str]:
    return {
        "SLACK_WEBHOOK_URL": receiver.url("/slack/hook"),
        "TEAMS_WEBHOOK_URL": receiver.url("/teams/flow"),
        "EHM_WEBHOOK_URL": receiver.url("/hook"),
        "EHM_WEBHOOK_SECRET": SECRET,
        "SLACK_BOT_TOKEN": TOKEN,
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
    }


def test_slack_webhook_posts_the_block_kit_payload(
    http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    sink = build_sink(
        SlackWebhookReceiver(name="ops", type="slack_webhook"), client=http_client, env=env_for(http_receiver)
    )
    message = SAMPLES["firing_single"]()
    assert sink.send(message, Delivery("1")) == {}
    [req] = http_receiver.at("/slack/hook")
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"].startswith("event-health-monitor/")
    assert req.json() == slack.render(message)


def test_teams_posts_an_adaptive_card_message(http_receiver: HttpReceiver, http_client: httpx.Client) -> None:
    sink = build_sink(
        TeamsReceiver(name="teams", type="teams"), client=http_client, env=env_for(http_receiver)
    )
    message = SAMPLES["group_mixed"]()
    sink.send(message, Delivery("1"))
    [req] = http_receiver.delivered("/teams/flow")
    body = req.json()
    assert body == teams.render(message)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard" and attachment["content"]["version"] == "1.4"


def test_webhook_body_is_documented_json_signed_over_timestamp_and_body(
    http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    sink = build_sink(
        WebhookReceiver(name="hook", type="webhook"), client=http_client, env=env_for(http_receiver)
    )
    message = SAMPLES["resolved_single"]()
    sink.send(message, Delivery("42"))
    [req] = http_receiver.at("/hook")
    stamp, signature = req.headers["x-ehm-timestamp"], req.headers["x-ehm-signature"]
    assert abs(int(stamp) - time.time()) < 60
    assert verify(SECRET, stamp, signature, req.body)
    assert not verify("wrong-secret", stamp, signature, req.body)
    assert not verify(SECRET, stamp, signature, req.body + b" ")
    assert not verify(
        SECRET, str(int(stamp) - 3600), sign(SECRET, str(int(stamp) - 3600), req.body), req.body
    )
    assert req.headers["x-ehm-delivery"] == "42" and req.headers["x-ehm-type"] == "alert"
    body = req.json()
    assert body == {**webhook.render(message), "delivery_id": "42"}
    [finding] = body["findings"]
    assert (finding["state"], finding["transition"], finding["previous"]) == (
        "resolved",
        "resolved",
        "firing:critical",
    )
    assert SECRET not in req.body.decode()


def test_slack_bot_posts_then_replies_in_the_thread_and_flips_the_first_message(
    http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    cfg = SlackBotReceiver(
        name="bot", type="slack_bot", channel="C0ALERTS", api_url=http_receiver.url("/api")
    )
    sink = build_sink(cfg, client=http_client, env=env_for(http_receiver))
    firing, resolved = SAMPLES["firing_single"](), SAMPLES["resolved_single"]()
    root = sink.send(firing, Delivery("1"))
    assert root == {"channel": "C0ALERTS", "ts": "1700000000.000001"}
    reply = sink.send(resolved, Delivery("2", thread_receipt=root, root_message=firing, closes_thread=True))
    assert reply == {"channel": "C0ALERTS", "ts": "1700000000.000001", "reply_ts": "1700000000.000002"}
    posts, updates = http_receiver.at("/api/chat.postMessage"), http_receiver.at("/api/chat.update")
    assert [p.headers["authorization"] for p in posts] == [f"Bearer {TOKEN}"] * 2
    assert posts[0].json() == {"channel": "C0ALERTS", **slack.render(firing), "unfurl_links": False}
    assert posts[1].json() == {
        "channel": "C0ALERTS",
        **slack.render(resolved),
        "unfurl_links": False,
        "thread_ts": root["ts"],
    }
    [update] = updates
    assert update.json() == {
        "channel": "C0ALERTS",
        "ts": root["ts"],
        **slack.render(firing.with_state(State.RESOLVED)),
    }
    assert update.json()["blocks"][0]["text"]["text"].startswith(":white_check_mark: [RESOLVED]")
    assert http_receiver.requests.index(update) < http_receiver.requests.index(posts[1])


@pytest.mark.parametrize(
    ("error", "retryable"),
    [("channel_not_found", False), ("invalid_auth", False), ("ratelimited", True), ("internal_error", True)],
)
def test_slack_bot_errors_in_ok_false_bodies_are_classified(
    http_receiver: HttpReceiver, http_client: httpx.Client, error: str, retryable: bool
) -> None:
    http_receiver.script("/api/chat.postMessage", Reply(200, {"ok": False, "error": error}))
    cfg = SlackBotReceiver(
        name="bot", type="slack_bot", channel="C0ALERTS", api_url=http_receiver.url("/api")
    )
    with pytest.raises(DeliveryError) as info:
        build_sink(cfg, client=http_client, env=env_for(http_receiver)).send(
            SAMPLES["firing_single"](), Delivery("1")
        )
    assert info.value.retryable is retryable
    assert error in str(info.value) and TOKEN not in str(info.value)


def test_pagerduty_sends_events_with_the_routing_key_and_a_stable_dedup_key(
    http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    cfg = PagerDutyReceiver(name="pd", type="pagerduty", url=http_receiver.url("/v2/enqueue"))
    sink = build_sink(cfg, client=http_client, env=env_for(http_receiver))
    firing, ack, resolved = (
        SAMPLES["firing_single"](),
        SAMPLES["acknowledged"](),
        SAMPLES["resolved_single"](),
    )
    fp = firing.items[0].fingerprint
    for message in (firing, ack, resolved):
        assert sink.send(message, Delivery("1")) == {"dedup_keys": [fp]}
    bodies = [r.json() for r in http_receiver.delivered("/v2/enqueue")]
    assert [(b["event_action"], b["dedup_key"], b["routing_key"]) for b in bodies] == [
        ("trigger", fp, ROUTING_KEY),
        ("acknowledge", fp, ROUTING_KEY),
        ("resolve", fp, ROUTING_KEY),
    ]
    payload = bodies[0]["payload"]
    assert payload["summary"] == "[CRITICAL] Order Completed stopped arriving"
    assert (payload["severity"], payload["source"], payload["class"], payload["component"]) == (
        "critical",
        "web/production",
        "silence",
        "Order Completed",
    )
    assert payload["custom_details"]["journeys_at_risk"] == [
        "Cart recovery (exit: Order Completed)",
        "Post-purchase (trigger: Order Completed)",
    ]
    assert bodies[0]["links"] == [
        {"href": firing.items[0].url, "text": "Open finding in Event Health Monitor"}
    ]
    assert set(bodies[2]) == {"routing_key", "dedup_key", "event_action"}


def test_pagerduty_test_alert_resolves_itself_and_reports_are_refused(
    http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    cfg = PagerDutyReceiver(name="pd", type="pagerduty", url=http_receiver.url("/v2/enqueue"))
    sink = build_sink(cfg, client=http_client, env=env_for(http_receiver))
    sink.send(SAMPLES["test"](), Delivery("t"))
    actions = [r.json()["event_action"] for r in http_receiver.at("/v2/enqueue")]
    assert actions == ["trigger", "resolve"]
    with pytest.raises(DeliveryError, match="receives alerts only") as info:
        sink.send(SAMPLES["report"](), Delivery("r"))
    assert not info.value.retryable


@pytest.mark.parametrize(
    ("reply", "retryable", "retry_after", "text"),
    [
        (Reply(400, "invalid_payload"), False, None, "HTTP 400 invalid_payload"),
        (Reply(404, "channel_not_found"), False, None, "HTTP 404 channel_not_found"),
        (Reply(429, "rate limited", {"Retry-After": "7"}), True, 7.0, "HTTP 429"),
        (Reply(500, "rollup_error"), True, None, "HTTP 500 rollup_error"),
        (Reply(503, "", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), True, 0.0, "HTTP 503"),
    ],
    ids=["400", "404", "429-retry-after", "500", "503-http-date"],
)
def test_http_failures_are_retryable_or_permanent_and_never_show_the_url(
    http_receiver: HttpReceiver,
    http_client: httpx.Client,
    reply: Reply,
    retryable: bool,
    retry_after: float | None,
    text: str,
) -> None:
    http_receiver.script("/slack/hook", reply)
    sink = build_sink(
        SlackWebhookReceiver(name="ops", type="slack_webhook"), client=http_client, env=env_for(http_receiver)
    )
    with pytest.raises(DeliveryError) as info:
        sink.send(SAMPLES["firing_single"](), Delivery("1"))
    assert (info.value.retryable, info.value.retry_after) == (retryable, retry_after)
    assert text in str(info.value)
    assert "/slack/hook" not in str(info.value) and "127.0.0.1" not in str(info.value)


def test_unreachable_receivers_are_retryable_network_errors(http_client: httpx.Client) -> None:
    env = {"EHM_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/hook", "EHM_WEBHOOK_SECRET": SECRET}
    sink = build_sink(WebhookReceiver(name="hook", type="webhook"), client=http_client, env=env)
    with pytest.raises(DeliveryError, match="webhook hook: network error") as info:
        sink.send(SAMPLES["firing_single"](), Delivery("1"))
    assert info.value.retryable and "127.0.0.1" not in str(info.value)


@pytest.mark.parametrize(
    ("receiver", "variable"),
    [
        (SlackWebhookReceiver(name="a", type="slack_webhook"), "SLACK_WEBHOOK_URL"),
        (WebhookReceiver(name="a", type="webhook"), "EHM_WEBHOOK_URL"),
        (PagerDutyReceiver(name="a", type="pagerduty"), "PAGERDUTY_ROUTING_KEY"),
        (TeamsReceiver(name="a", type="teams"), "TEAMS_WEBHOOK_URL"),
        (SlackBotReceiver(name="a", type="slack_bot", channel="C1"), "SLACK_BOT_TOKEN"),
    ],
    ids=["slack-webhook", "webhook", "pagerduty", "teams", "slack-bot"],
)
def test_a_missing_secret_is_a_retryable_error_naming_the_variable(
    receiver: Any, variable: str, http_client: httpx.Client
) -> None:
    with pytest.raises(DeliveryError) as info:
        build_sink(receiver, client=http_client, env={}).send(SAMPLES["firing_single"](), Delivery("1"))
    assert info.value.retryable
    assert f"environment variable {variable} is not set" in str(info.value)


def test_webhook_without_a_secret_sends_unsigned(
    http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    sink = build_sink(
        WebhookReceiver(name="hook", type="webhook", secret_env=None),
        client=http_client,
        env=env_for(http_receiver),
    )
    sink.send(SAMPLES["test"](), Delivery("t-1"))
    [req] = http_receiver.at("/hook")
    assert "x-ehm-signature" not in req.headers
    assert json.loads(req.body)["type"] == "test"

"""Delivery guarantees: retries, permanent failures, ordering, leases, a killed dispatcher."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from monitors.alerts.delivery import backoff
from monitors.alerts.dispatch import DispatchReport, dispatch, plan_and_enqueue
from monitors.config import Config, parse_config
from monitors.timeutil import iso
from storage import Store
from tests.monitors.alerts.conftest import add_finding, at, make_config, resolve
from tests.monitors.alerts.receivers import HttpReceiver, Reply

HOOK = "/hook"
ROOT = Path(__file__).resolve().parents[3]


def hook_config(**route: Any) -> Config:
    base = {
        "receiver": "hook",
        "group_wait": "0s",
        "group_interval": "1m",
        "repeat_interval": "1d",
        "group_by": ["..."],
        **route,
    }
    return make_config(
        [{"name": "hook", "type": "webhook"}],
        base,
        delivery={"backoff": "30s", "max_backoff": "10m", "give_up_after": "24h"},
    )


def env(http: HttpReceiver) -> dict[str, str]:
    return {"EHM_WEBHOOK_URL": http.url(HOOK), "EHM_WEBHOOK_SECRET": "s"}


def tick(
    store: Store, config: Config, http: HttpReceiver, client: httpx.Client, when: datetime
) -> DispatchReport:
    return dispatch(store, config, when, client=client, env=env(http))


def delivered_ids(http: HttpReceiver) -> list[str]:
    return [r.headers["x-ehm-delivery"] for r in http.delivered(HOOK)]


def test_backoff_doubles_up_to_the_cap() -> None:
    config = hook_config().alerts.delivery
    assert [backoff(n, config) for n in (1, 2, 3, 4, 5, 6)] == [30, 60, 120, 240, 480, 600]


def test_a_receiver_failing_with_500_is_retried_with_backoff_and_delivered_exactly_once(
    store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    http_receiver.script(HOOK, Reply(500, "boom"), Reply(502, "bad gateway"), Reply(503, "unavailable"))
    config = hook_config()
    add_finding(store, event="Search")
    report = tick(store, config, http_receiver, http_client, at(seconds=1))
    assert (report.enqueued, report.delivery.retrying) == (1, 1)
    [row] = store.list_outbox()
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("pending", 1, at(seconds=31))
    assert row["last_error"] == "webhook hook: HTTP 500 boom"
    for second in (30, 31, 60, 91, 150, 210, 211, 400, 1000):
        tick(store, config, http_receiver, http_client, at(seconds=second))
    assert [r.status for r in http_receiver.at(HOOK)] == [500, 502, 503, 200]
    assert delivered_ids(http_receiver) == ["1"]
    [row] = store.list_outbox()
    assert (row["status"], row["attempts"], row["last_error"], row["sent_at"]) == (
        "sent",
        4,
        None,
        at(seconds=211),
    )


def test_nothing_is_lost_or_reordered_when_a_receiver_is_down_for_an_hour(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    http_receiver.script(HOOK, *[Reply(503, "down")] * 1000)
    config = hook_config()
    fp = add_finding(sqlite_store, event="Order Completed", title="Order Completed stopped arriving")
    for minute in range(61):
        if minute == 30:
            resolve(sqlite_store, fp, at(minutes=29))
        tick(sqlite_store, config, http_receiver, http_client, at(minutes=minute, seconds=1))
    assert http_receiver.delivered(HOOK) == []
    failures = len(http_receiver.at(HOOK))
    assert 8 <= failures <= 14  # backoff, not one attempt per tick
    http_receiver.clear_script()  # the receiver is back: 200 again
    for minute in range(61, 75):
        tick(sqlite_store, config, http_receiver, http_client, at(minutes=minute, seconds=1))
    states = [r.json()["state"] for r in http_receiver.delivered(HOOK)]
    assert states == ["firing", "resolved"]
    assert delivered_ids(http_receiver) == ["1", "2"]
    assert sqlite_store.outbox_counts() == {"sent": 2}


def test_a_400_is_recorded_with_its_reason_not_retried_and_does_not_block_later_messages(
    store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    http_receiver.script(HOOK, Reply(400, '{"error": "unknown field"}'))
    config = hook_config()
    add_finding(store, event="Search")
    add_finding(store, event="Product Viewed")
    report = tick(store, config, http_receiver, http_client, at(seconds=1))
    assert (report.delivery.sent, report.delivery.failed) == (1, 1)
    for minute in (1, 5, 60):
        tick(store, config, http_receiver, http_client, at(minutes=minute))
    assert len(http_receiver.at(HOOK)) == 2
    [failed] = store.list_outbox(status="failed")
    assert failed["attempts"] == 1
    assert failed["last_error"] == 'webhook hook: HTTP 400 {"error": "unknown field"}'
    assert report.delivery.errors == [
        f'#{failed["id"]} hook: webhook hook: HTTP 400 {{"error": "unknown field"}}'
    ]


def test_429_waits_exactly_the_retry_after_seconds(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    http_receiver.script(HOOK, Reply(429, "slow down", {"Retry-After": "120"}))
    config = hook_config()
    add_finding(sqlite_store, event="Search")
    tick(sqlite_store, config, http_receiver, http_client, at(seconds=1))
    assert sqlite_store.list_outbox()[0]["next_attempt_at"] == at(seconds=121)
    tick(sqlite_store, config, http_receiver, http_client, at(seconds=120))
    assert len(http_receiver.at(HOOK)) == 1
    tick(sqlite_store, config, http_receiver, http_client, at(seconds=121))
    assert delivered_ids(http_receiver) == ["1"]


def test_retries_give_up_after_give_up_after_and_say_so(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    http_receiver.script(HOOK, *[Reply(500, "boom")] * 100)
    config = make_config(
        [{"name": "hook", "type": "webhook"}],
        {"receiver": "hook", "group_wait": "0s"},
        delivery={"give_up_after": "1h", "backoff": "10m"},
    )
    add_finding(sqlite_store, event="Search")
    for minute in range(0, 80, 5):
        tick(sqlite_store, config, http_receiver, http_client, at(minutes=minute, seconds=1))
    [row] = sqlite_store.list_outbox()
    assert row["status"] == "failed"
    assert row["last_error"] == f"gave up after {row['attempts']} attempts: webhook hook: HTTP 500 boom"


def test_a_claimed_message_is_not_sent_again_until_its_lease_ends(
    sqlite_store: Store, http_receiver: HttpReceiver, http_client: httpx.Client
) -> None:
    config = hook_config()
    add_finding(sqlite_store, event="Search")
    plan_and_enqueue(sqlite_store, config, at(seconds=1))
    assert sqlite_store.claim_outbox(
        1, at(seconds=1), at(minutes=2, seconds=1)
    )  # a dispatcher that then died
    tick(sqlite_store, config, http_receiver, http_client, at(minutes=2))
    assert http_receiver.requests == []
    tick(sqlite_store, config, http_receiver, http_client, at(minutes=2, seconds=1))
    assert delivered_ids(http_receiver) == ["1"]
    assert sqlite_store.list_outbox()[0]["attempts"] == 2


def test_enqueueing_the_same_transition_twice_writes_nothing_the_second_time(sqlite_store: Store) -> None:
    outbox = {
        "route": "r",
        "receiver": "hook",
        "kind": "alert",
        "state": "firing",
        "group_hash": "g",
        "thread_id": None,
        "closes_thread": False,
        "message": "{}",
        "created_at": at(),
        "next_attempt_at": at(),
    }
    log = [
        {"route": "r", "fingerprint": "fp1", "transition": "firing:warning", "group_hash": "g", "at": at()}
    ]
    assert sqlite_store.enqueue_notification(outbox, log) == 1
    assert sqlite_store.enqueue_notification(outbox, log) is None
    assert sqlite_store.outbox_counts() == {"pending": 1}


def _run_dispatch(
    config_path: Path, db_url: str, now: datetime, env: dict[str, str]
) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "monitors",
        "alerts",
        "dispatch",
        "--config",
        str(config_path),
        "--db",
        db_url,
        "--now",
        iso(now),
    ]
    return subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_a_dispatcher_killed_mid_send_is_restarted_without_losing_or_duplicating(
    sqlite_url: str, sqlite_store: Store, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    config_path = tmp_path / "ehm.yaml"
    route = {"receiver": "hook", "group_wait": "0s", "group_by": ["..."]}
    config_path.write_text(
        yaml.safe_dump({"alerts": {"receivers": [{"name": "hook", "type": "webhook"}], "route": route}})
    )
    parse_config(yaml.safe_load(config_path.read_text()))
    fps = [add_finding(sqlite_store, event=e) for e in ("Search", "Product Viewed", "Order Completed")]
    release = threading.Event()
    http_receiver.script(HOOK, Reply(), Reply(hang=release))
    first = _run_dispatch(config_path, sqlite_url, at(seconds=1), env(http_receiver))
    deadline = time.monotonic() + 30
    while len(http_receiver.at(HOOK)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.kill()  # SIGKILL while the second message is on the wire
    first.communicate(timeout=10)
    release.set()
    assert [r.status for r in http_receiver.at(HOOK)] == [200, None]
    assert [r["status"] for r in sorted(sqlite_store.list_outbox(), key=lambda r: r["id"])] == [
        "sent",
        "sending",
        "pending",
    ]

    early = _run_dispatch(config_path, sqlite_url, at(minutes=1), env(http_receiver))  # lease still running
    _out, err = early.communicate(timeout=60)
    assert early.returncode == 0, err
    assert len(http_receiver.at(HOOK)) == 2
    later = _run_dispatch(config_path, sqlite_url, at(minutes=3), env(http_receiver))
    out, err = later.communicate(timeout=60)
    assert later.returncode == 0, err
    assert "3 findings considered, 0 muted, 0 messages queued; delivered 2" in out
    assert sorted(delivered_ids(http_receiver)) == ["1", "2", "3"]
    assert sorted(
        f for r in http_receiver.delivered(HOOK) for f in (x["fingerprint"] for x in r.json()["findings"])
    ) == sorted(fps)
    assert sqlite_store.outbox_counts() == {"sent": 3}
    assert len(sqlite_store.alert_log_for(fps)) == 3

"""Official SDKs → stand-in → collector → Store → reconciliation, all over real HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from customerio import analytics
from customerio.track import CustomerIO

from monitors.customerio.job import collect_once, reconcile_once
from monitors.customerio.standin import StandIn, StandInInfo
from monitors.models import Severity
from storage import Store
from tests.monitors.customerio.conftest import make_client, make_config
from tests.monitors.customerio.helpers import write_sent

BUCKET = 300


def bucket_ago(hours: int) -> int:
    now = int(time.time())
    return now - now % BUCKET - hours * 3600


def collect(store: Store, info: StandInInfo, **overrides: Any) -> None:
    config = make_config(info, **overrides)
    client = make_client(config, info)
    try:
        collect_once(config, store, client, bucket=BUCKET)
    finally:
        client.close()


def metrics(store: Store) -> dict[tuple[str, str, int], int]:
    frame = store.read_customerio_metrics(workspace="shop")
    return {(r.atype, r.name, r.bucket_start): r.count for r in frame.itertuples()}


def test_sdk_traffic_shows_up_as_activity_metrics(standin: StandIn, info: StandInInfo, sqlite_store: Store,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert info.ca_path
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", info.ca_path)
    standin.workspace.campaigns = {"order_completed": "email"}
    standin.faults.apply("bounce=0.5")
    standin.faults.apply("fail=0.25:order_completed")
    base = bucket_ago(1)
    with CustomerIO(info.credentials.site_id, info.credentials.track_api_key, host=info.host,
                    port=info.tls_port, retries=0) as track:
        for plan in ("a", "b", "a", "b", "a"):
            track.identify(id="flappy", plan=plan)
        track.track("flappy", "signup", data={}, id="01HB4HBDKTFWYZCK01DMRSWRF1", timestamp=base + 10)
    pipes = analytics.Client(info.credentials.write_key, host=info.base_url, sync_mode=True, max_retries=0)
    for n in range(8):
        pipes.track(f"buyer{n}", "order_completed", {"n": n}, timestamp=datetime.fromtimestamp(base + 20 + n, UTC))
    collect(sqlite_store, info)
    got = metrics(sqlite_store)
    assert got[("event", "signup", base)] == 1
    assert got[("event", "order_completed", base)] == 6
    assert got[("failed_event", "order_completed", base)] == 2
    assert sum(v for k, v in got.items() if k[0] == "attribute_change" and k[1] == "plan") == 4
    assert sum(v for k, v in got.items() if k[:2] == ("attribute_flapping", "plan")) == 1
    assert sum(v for k, v in got.items() if k[0] == "sent_email") == 6
    assert sum(v for k, v in got.items() if k[0] == "bounced_email") == 3
    assert sum(v for k, v in got.items() if k[0] == "delivered_email") == 3
    assert sum(v for k, v in got.items() if k[0] == "profile_create") == 9
    frame = sqlite_store.read_customerio_metrics(workspace="shop", atype="event", name="order_completed")
    row = frame.iloc[0]
    assert row["latency_n"] == 6 and row["latency_max"] >= 3600 - 60


def test_reconciliation_finds_injected_losses(standin: StandIn, info: StandInInfo, sqlite_store: Store) -> None:
    standin.faults.apply("drop=0.6:checkout_completed")
    base = bucket_ago(2)
    pipes = analytics.Client(info.credentials.write_key, host=info.base_url, upload_size=50, max_retries=0)
    for bucket in (base, base + BUCKET):
        for n in range(40):
            ts = datetime.fromtimestamp(bucket + n, UTC)
            pipes.track(f"c{n}", "checkout_completed", {"n": n}, timestamp=ts)
    for n in range(30):
        pipes.track(f"s{n}", "signup", {}, timestamp=datetime.fromtimestamp(base + n, UTC))
    pipes.shutdown()
    write_sent(sqlite_store, "shop-backend", "checkout_completed", {base: 40, base + BUCKET: 40})
    write_sent(sqlite_store, "shop-backend", "signup", {base: 30})
    collect(sqlite_store, info)
    config = make_config(info, reconcile={"sources": ["shop-backend"]})
    result = reconcile_once(config, sqlite_store, bucket=BUCKET)
    assert [(f.kind, f.event, f.severity, f.observed, f.expected) for f in result.findings] == [
        ("delivery_gap", "checkout_completed", Severity.CRITICAL, 32.0, 80.0)]
    finding = result.findings[0]
    assert finding.title == ("checkout_completed: 48 of 80 events sent were not received by Customer.io "
                             "(40% delivered)")
    assert (finding.started_at.timestamp(), finding.ended_at) == (base, None)
    assert (finding.source, finding.subject) == ("shop-backend", "customerio:shop")
    stored = sqlite_store.read_delivery_metrics(workspace="shop")
    assert {(r.event, r.bucket_start): (r.sent, r.received, r.latency_n) for r in stored.itertuples()} == {
        ("checkout_completed", base): (40, 16, 16), ("checkout_completed", base + BUCKET): (40, 16, 16),
        ("signup", base): (30, 30, 30)}


def test_without_a_collection_nothing_is_judged(info: StandInInfo, sqlite_store: Store) -> None:
    base = bucket_ago(2)
    write_sent(sqlite_store, "shop-backend", "checkout_completed", {base: 40})
    result = reconcile_once(make_config(info), sqlite_store, bucket=BUCKET)
    assert result.findings == []
    stored = sqlite_store.read_delivery_metrics(workspace="shop")
    assert stored[["event", "sent", "received"]].values.tolist() == [["checkout_completed", 40, 0]]

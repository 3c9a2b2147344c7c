"""The stand-in's App API over real HTTP: paging, filters, auth, the 10/s limit, faults, admin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from monitors.customerio.standin import Faults, FaultSpecError, StandIn, StandInInfo


@pytest.fixture
def http(info: StandInInfo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=info.base_url,
                      headers={"Authorization": f"Bearer {info.credentials.app_api_key}"}) as client:
        yield client


def seed(standin: StandIn, n: int, atype: str = "event", name: str = "signup", start: int = 1_700_000_000) -> None:
    for i in range(n):
        standin.inject(atype, name=name, customer_id=f"u{i}", timestamp=start + i)


def all_pages(http: httpx.Client, **params: Any) -> list[list[dict[str, Any]]]:
    pages, start = [], None
    while True:
        query = {**params, **({"start": start} if start else {})}
        body = http.get("/v1/activities", params=query).json()
        pages.append(body["activities"])
        start = body["next"]
        if not start:
            return pages


def test_activities_page_newest_first_to_an_empty_next(standin: StandIn, http: httpx.Client) -> None:
    seed(standin, 7, start=1_700_000_000)
    pages = all_pages(http, limit=3, type="event")
    assert [len(p) for p in pages] == [3, 3, 1]
    times = [a["timestamp"] for p in pages for a in p]
    assert times == sorted(times, reverse=True) and len(set(times)) == 7
    ids = [a["id"] for p in pages for a in p]
    assert ids == sorted(ids, reverse=True)


def test_default_limit_is_10_and_limit_is_clamped_at_100(standin: StandIn, http: httpx.Client) -> None:
    seed(standin, 120)
    assert len(http.get("/v1/activities").json()["activities"]) == 10
    assert len(http.get("/v1/activities", params={"limit": 500}).json()["activities"]) == 100
    assert http.get("/v1/activities", params={"limit": "x"}).status_code == 400


def test_type_and_name_filters(standin: StandIn, http: httpx.Client) -> None:
    seed(standin, 2, name="signup")
    seed(standin, 3, name="purchase")
    seed(standin, 4, atype="failed_event", name="purchase")
    body = http.get("/v1/activities", params={"type": "event", "name": "purchase", "limit": 50}).json()
    assert [(a["type"], a["name"]) for a in body["activities"]] == [("event", "purchase")] * 3
    assert len(http.get("/v1/activities", params={"type": "failed_event", "limit": 50}).json()["activities"]) == 4


def test_deleted_people_need_deleted_true(standin: StandIn, http: httpx.Client) -> None:
    person = standin.workspace.person("id", "gone")
    assert person is not None
    standin.workspace.event(person, "signup", {})
    standin.workspace.delete(person)
    assert http.get("/v1/activities").json()["activities"] == []
    deleted = http.get("/v1/activities", params={"deleted": "true"}).json()["activities"]
    assert [a["type"] for a in deleted] == ["profile_delete", "event", "profile_create"]


def test_person_activities_and_unknown_person(standin: StandIn, http: httpx.Client) -> None:
    standin.workspace.identify("id", "p1", {"email": "p@example.com"})
    assert [a["type"] for a in http.get("/v1/customers/p1/activities").json()["activities"]] == ["profile_create"]
    missing = http.get("/v1/customers/nobody/activities")
    assert missing.status_code == 404
    assert missing.json() == {"errors": [{"detail": "The customer_id does not exist.", "status": "404"}]}


def test_wrong_bearer_key_is_401_in_the_error_envelope(info: StandInInfo) -> None:
    response = httpx.get(f"{info.base_url}/v1/activities", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["status"] == "401"


def test_more_than_ten_requests_a_second_get_429_with_retry_after(http: httpx.Client) -> None:
    statuses = [http.get("/v1/activities").status_code for _ in range(13)]
    assert statuses.count(200) == 10
    assert statuses.count(429) == 3
    limited = http.get("/v1/activities")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["errors"][0]["detail"].startswith("rate limited to 10 requests per 1s (reference ")
    time.sleep(1.05)
    assert http.get("/v1/activities").status_code == 200


def test_faults_5xx_burst_429_storm_and_revoked_key(standin: StandIn, http: httpx.Client) -> None:
    standin.faults.apply("5xx=2")
    standin.faults.apply("429=1")
    assert [http.get("/v1/activities").status_code for _ in range(4)] == [503, 503, 429, 200]
    standin.faults.apply("revoked")
    assert http.get("/v1/activities").status_code == 401
    standin.faults.apply("clear")
    assert http.get("/v1/activities").status_code == 200


def test_storm_answers_carry_the_configured_retry_after(standin: StandIn, http: httpx.Client) -> None:
    standin.faults.apply("429=1")
    standin.faults.apply("retry_after=3")
    assert http.get("/v1/activities").headers["Retry-After"] == "3"


@pytest.mark.parametrize("spec", ["5xx=-1", "drop=1.5", "retry_after=0", "explode=1", "latency=soon"])
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        Faults().apply(spec)


def test_drop_and_fail_shares_are_exact_per_event_name(standin: StandIn) -> None:
    standin.faults.apply("drop=0.25:checkout")
    standin.faults.apply("fail=0.5:signup")
    for i in range(8):
        standin.workspace.event(None, "checkout", {}, event_id=f"c{i}")
        standin.workspace.event(None, "signup", {}, event_id=f"s{i}")
    counts: dict[tuple[str, str], int] = {}
    for a in standin.workspace.log.all():
        counts[(a["type"], a["name"])] = counts.get((a["type"], a["name"]), 0) + 1
    assert counts == {("event", "checkout"): 6, ("event", "signup"): 4, ("failed_event", "signup"): 4}


def test_admin_api_sets_faults_injects_activities_and_reports_stats(info: StandInInfo, http: httpx.Client) -> None:
    admin = f"{info.base_url}/_standin"
    assert httpx.post(f"{admin}/faults", json={"faults": ["429=1"]}).json()["429"] == 1
    assert httpx.post(f"{admin}/faults", json={"faults": ["bogus"]}).status_code == 400
    added = httpx.post(f"{admin}/activities", json={"activities": [
        {"type": "bounced_email", "timestamp": 1_700_000_000}, {"type": "failed_event", "name": "x"}]})
    assert added.json() == {"added": 2}
    assert http.get("/v1/activities").status_code == 429
    stats = httpx.get(f"{admin}/stats").json()
    assert stats["activities"] == 2
    assert stats["counters"]["http_app_429"] == 1


def test_campaign_events_send_messages_and_bounces_follow_the_fault() -> None:
    with StandIn(campaigns={"order_completed": "email"}, faults=["bounce=0.5"]) as standin:
        for i in range(4):
            standin.workspace.event(standin.workspace.person("id", f"c{i}"), "order_completed", {})
        types = [a["type"] for a in standin.workspace.log.all() if a["type"].endswith("_email")]
    assert sorted(types) == ["bounced_email"] * 2 + ["delivered_email"] * 2 + ["sent_email"] * 4


def test_pipelines_oversized_messages_are_accepted_but_dropped(standin: StandIn, info: StandInInfo) -> None:
    auth = (info.credentials.write_key, "")
    big = {"type": "track", "userId": "1", "event": "big", "properties": {"blob": "x" * 40_000}}
    small = {"type": "track", "userId": "1", "event": "small", "properties": {}}
    batch = httpx.post(f"{info.base_url}/v1/batch", json={"batch": [big, small]}, auth=auth)
    single = httpx.post(f"{info.base_url}/v1/track", json=big, auth=auth)
    assert (batch.status_code, batch.json(), single.status_code) == (200, {}, 200)
    assert [a.get("name") for a in standin.workspace.log.all() if a["type"] == "event"] == ["small"]
    assert standin.workspace.stats["pipelines_message_oversize"] == 2


def test_transactional_send_answers_json_like_the_sdk_expects(standin: StandIn, http: httpx.Client) -> None:
    body = http.post("/v1/send/email", json={"transactional_message_id": "3",
                                             "identifiers": {"email": "a@example.com"}}).json()
    assert set(body) == {"delivery_id", "queued_at"}
    assert [a["type"] for a in standin.workspace.log.all()] == ["profile_create", "sent_email"]


def test_chunked_bodies_and_bad_admin_json(standin: StandIn, info: StandInInfo) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"batch": [{"type": "track", "userId": "1", '
        yield b'"event": "chunky"}]}'

    response = httpx.post(f"{info.base_url}/v1/batch", content=chunks(), auth=(info.credentials.write_key, ""),
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert [a.get("name") for a in standin.workspace.log.all() if a["type"] == "event"] == ["chunky"]
    assert httpx.post(f"{info.base_url}/_standin/faults", content=b"{nope").status_code == 400


def test_latency_fault_delays_every_api(standin: StandIn, info: StandInInfo, http: httpx.Client) -> None:
    standin.faults.apply("latency=0.2")
    began = time.perf_counter()
    http.get("/v1/activities")
    httpx.post(f"{info.base_url}/v1/batch", json={"batch": []}, auth=(info.credentials.write_key, ""))
    assert time.perf_counter() - began >= 0.4

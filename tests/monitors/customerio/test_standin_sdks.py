"""The official SDKs, unmodified, against the stand-in over real HTTP (Track over TLS)."""

from __future__ import annotations

from typing import Any

import pytest
from customerio import analytics
from customerio.client_base import CustomerIOException
from customerio.constants import EMAIL, ID
from customerio.track import CustomerIO

from monitors.customerio.standin import StandIn, StandInInfo


def kinds(standin: StandIn) -> list[tuple[str, str | None]]:
    return [(a["type"], a.get("name") or a.get("url")) for a in standin.workspace.log.all()]


@pytest.fixture
def track(info: StandInInfo, monkeypatch: pytest.MonkeyPatch) -> Any:
    assert info.ca_path and info.tls_port
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", info.ca_path)
    cio = CustomerIO(info.credentials.site_id, info.credentials.track_api_key, host=info.host,
                     port=info.tls_port, retries=0)
    yield cio
    cio.close()


def test_track_sdk_identify_and_events_become_activities(standin: StandIn, track: Any) -> None:
    track.identify(id="u1", email="ann@example.com", plan="basic")
    track.identify(id="u1", plan="pro")
    track.track("u1", "purchased", data={"price": 23.45}, id="01HB4HBDKTFWYZCK01DMRSWRFD", timestamp=1561231234)
    track.track("u1", "purchased", data={"price": 23.45}, id="01HB4HBDKTFWYZCK01DMRSWRFD", timestamp=1561231234)
    track.pageview("u1", "https://shop.test/cart", referrer="home")
    track.track_anonymous("anon-1", "viewed_product", data={"sku": "A1"})
    track.add_device("u1", "devtok", "ios")
    track.merge_customers(ID, "u1", EMAIL, "bob@example.com")
    track.delete("u1")
    assert kinds(standin) == [
        ("profile_create", None), ("attribute_change", "plan"), ("event", "purchased"),
        ("page", "https://shop.test/cart"), ("event", "viewed_product"), ("device_change", None),
        ("profile_create", None), ("profile_merge", None), ("profile_delete", None),
    ]
    event = standin.workspace.log.all()[2]
    assert event["data"] == {"properties": {"price": 23.45}, "event_id": "01HB4HBDKTFWYZCK01DMRSWRFD",
                             "event_timestamp": 1561231234}
    assert standin.workspace.log.all()[1]["data"] == {"plan": {"from": "basic", "to": "pro"}}
    assert standin.workspace.stats["events_duplicate"] == 1


def test_track_sdk_v2_batch_reports_invalid_operations_with_207(standin: StandIn, track: Any) -> None:
    response = track.batch([
        {"type": "person", "identifiers": {"id": "u7"}, "action": "identify", "attributes": {"plan": "a"}},
        {"type": "person", "identifiers": {"id": "u7"}, "action": "event", "name": "signup", "id": "ev-1",
         "timestamp": 1700000000, "attributes": {"via": "ads"}},
        {"type": "person", "identifiers": {"id": "u7"}, "action": "event"},
        {"type": "object", "identifiers": {"object_type_id": "1", "object_id": "acme"}, "action": "identify"},
    ])
    assert response.status_code == 207
    assert response.json() == {"errors": [{"batch_index": 2, "reason": "required", "field": "name",
                                           "message": "name cannot be blank"}]}
    assert kinds(standin) == [("profile_create", None), ("event", "signup"), ("_o:1:create", None)]


def test_track_sdk_with_wrong_key_gets_401(info: StandInInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    assert info.ca_path
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", info.ca_path)
    with (CustomerIO(info.credentials.site_id, "wrong", host=info.host, port=info.tls_port, retries=0) as cio,
          pytest.raises(CustomerIOException, match=r"^401: ")):
        cio.track("u1", "purchased")


def test_track_v1_event_without_name_is_a_400_in_the_documented_shape(track: Any) -> None:
    with pytest.raises(CustomerIOException) as info:
        track.track("u1", " ")
    assert str(info.value).startswith("400: ")
    assert '{"meta":{"error":"name cannot be blank"}}' in str(info.value)


def test_pipelines_sdk_batches_gzip_and_stamps_ids(standin: StandIn, info: StandInInfo) -> None:
    client = analytics.Client(info.credentials.write_key, host=info.base_url, gzip=True, upload_size=3,
                              max_retries=0)
    client.identify("42", {"email": "cy@example.com", "plan": "free"}, anonymous_id="anon-9")
    for n in range(4):
        client.track("42", "order_completed", {"n": n}, message_id=f"m{n}")
    client.identify("42", {"plan": "paid"})
    client.page("42", name="Cart", properties={"url": "https://shop.test/cart"})
    client.screen("42", name="Home")
    client.alias("anon-9", "42")
    client.shutdown()
    assert kinds(standin) == [
        ("profile_create", None), *[("event", "order_completed")] * 4, ("attribute_change", "plan"),
        ("page", "https://shop.test/cart"), ("screen", "Home"),
    ]
    events = [a for a in standin.workspace.log.all() if a["type"] == "event"]
    assert [a["data"]["event_id"] for a in events] == ["m0", "m1", "m2", "m3"]
    assert all(isinstance(a["data"]["event_timestamp"], int) for a in events)
    assert standin.workspace.stats["http_pipelines_200"] >= 3  # batched, not one request per call


def test_pipelines_sdk_bearer_keys_and_anonymous_merge(standin: StandIn, info: StandInInfo) -> None:
    standin.credentials = type(standin.credentials)(write_key="pk_us_test")
    client = analytics.Client("pk_us_test", host=info.base_url, sync_mode=True, max_retries=0)
    client.track(anonymous_id="anon-3", event="viewed_product", properties={"sku": "B2"})
    client.identify("77", {"email": "dee@example.com"}, anonymous_id="anon-3")
    assert kinds(standin) == [("event", "viewed_product"), ("profile_create", None), ("anon_merge", None)]


def test_pipelines_sdk_with_wrong_key_fails_without_retry(info: StandInInfo) -> None:
    client = analytics.Client("wrong", host=info.base_url, sync_mode=True, max_retries=0)
    with pytest.raises(analytics.request.APIError) as error:
        client.track("1", "x")
    assert error.value.status == 401

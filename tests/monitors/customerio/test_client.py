from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from monitors.customerio.client import AppAPIClient
from monitors.customerio.config import CustomerIOConfig
from monitors.errors import AuthError, CustomerIOError

PAGE = {"activities": [{"id": "a1", "type": "event", "timestamp": 10}], "next": ""}


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def make(handler: Callable[[httpx.Request], httpx.Response], fake: FakeTime, **kwargs: object) -> AppAPIClient:
    http = httpx.Client(base_url="https://api.customer.io", transport=httpx.MockTransport(handler))
    return AppAPIClient(http, clock=fake.clock, sleep=fake.sleep, jitter=lambda: 0.0, **kwargs)  # type: ignore[arg-type]


def scripted(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def test_page_is_decoded_and_filters_are_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"activities": PAGE["activities"], "next": "tok2"})

    page = make(handler, FakeTime()).list_activities(type="event", name="signup", start="tok1", limit=50)
    assert page.next == "tok2"
    assert [a["id"] for a in page.activities] == ["a1"]
    assert dict(seen[0].url.params) == {"limit": "50", "type": "event", "name": "signup", "start": "tok1"}
    assert seen[0].url.path == "/v1/activities"


def test_empty_next_means_last_page() -> None:
    page = make(scripted(httpx.Response(200, json=PAGE)), FakeTime()).list_activities()
    assert page.next is None


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_raises_auth_error_naming_the_variable_without_retrying(status: int) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json={"errors": [{"detail": "nope", "status": str(status)}]})

    client = make(handler, FakeTime(), key_env="MY_CIO_KEY")
    with pytest.raises(AuthError) as info:
        client.list_activities()
    assert str(info.value) == f"App API key rejected (HTTP {status} from /v1/activities) — check MY_CIO_KEY"
    assert calls == [1]


def test_429_waits_retry_after_then_succeeds() -> None:
    fake = FakeTime()
    client = make(scripted(httpx.Response(429, headers={"Retry-After": "2"}, json={"errors": []}),
                           httpx.Response(200, json=PAGE)), fake)
    assert client.list_activities().activities[0]["id"] == "a1"
    assert fake.sleeps == [2.0]
    assert (client.stats.requests, client.stats.rate_limited) == (2, 1)


def test_429_without_retry_after_stops_instead_of_looping() -> None:
    client = make(scripted(httpx.Response(429, json={"errors": []})), FakeTime())
    with pytest.raises(CustomerIOError, match="without Retry-After"):
        client.list_activities()
    assert client.stats.requests == 1


def test_endless_429s_end_after_the_cap() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "1"}, json={"errors": []})

    client = make(handler, FakeTime(), max_rate_limited=3)
    with pytest.raises(CustomerIOError, match="429 4 times in a row"):
        client.list_activities()
    assert client.stats.requests == 4


def test_5xx_and_transport_errors_are_retried_with_exponential_backoff() -> None:
    fake = FakeTime()
    client = make(scripted(httpx.Response(503), httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                           httpx.Response(200, json=PAGE)), fake, backoff_base=0.5)
    assert client.list_activities().activities
    # equal jitter with jitter()=0: half of 0.5, 1.0, 2.0
    assert fake.sleeps == [0.25, 0.5, 1.0]
    assert client.stats.retries == 3


def test_retries_are_bounded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    client = make(handler, FakeTime(), max_retries=2)
    with pytest.raises(CustomerIOError, match="HTTP 500 from /v1/activities, 3 attempts"):
        client.list_activities()


def test_other_4xx_fail_at_once_with_the_detail() -> None:
    client = make(scripted(httpx.Response(400, json={"errors": [{"detail": "bad id_type", "status": "400"}]})),
                  FakeTime())
    with pytest.raises(CustomerIOError, match="HTTP 400 from /v1/activities: bad id_type"):
        client.list_activities()


def test_error_details_are_redacted() -> None:
    body = {"errors": [{"detail": "no person ann.lee@example.com", "status": "404"}]}
    client = make(scripted(httpx.Response(404, json=body)), FakeTime())
    with pytest.raises(CustomerIOError) as info:
        client.list_activities()
    assert str(info.value) == "customerio: HTTP 404 from /v1/activities: no person a***@example.com"


@pytest.mark.parametrize(("header", "wait"), [("3", 3.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.001)],
                         ids=["seconds", "past-http-date"])
def test_retry_after_accepts_seconds_and_http_dates(header: str, wait: float) -> None:
    fake = FakeTime()
    client = make(scripted(httpx.Response(429, headers={"Retry-After": header}), httpx.Response(200, json=PAGE)),
                  fake)
    client.list_activities()
    assert fake.sleeps == [wait]


def test_unparseable_retry_after_is_treated_as_missing() -> None:
    client = make(scripted(httpx.Response(429, headers={"Retry-After": "soon"})), FakeTime())
    with pytest.raises(CustomerIOError, match="without Retry-After"):
        client.list_activities()


def test_pacing_keeps_ten_requests_per_second() -> None:
    fake = FakeTime()
    client = make(lambda r: httpx.Response(200, json=PAGE), fake)
    for _ in range(25):
        client.list_activities()
    assert fake.sleeps == [1.0, 1.0]
    assert client.stats.waited == 2.0


def test_from_config_reads_the_key_from_the_named_variable_only() -> None:
    config = CustomerIOConfig(workspace="w", region="eu", app_api_key_env="CIO_KEY")
    with pytest.raises(AuthError, match="App API key missing — set CIO_KEY"):
        AppAPIClient.from_config(config, environ={"CUSTOMERIO_APP_API_KEY": "other"})
    client = AppAPIClient.from_config(config, environ={"CIO_KEY": " k123\n"})
    assert client.http.base_url == httpx.URL("https://api-eu.customer.io")
    assert client.http.headers["Authorization"] == "Bearer k123"

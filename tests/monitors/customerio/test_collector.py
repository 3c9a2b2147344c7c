"""The collector end to end: App API client → stand-in over real HTTP → Store (SQLite)."""

from __future__ import annotations

import ssl
import time
from collections import Counter
from pathlib import Path

import pytest

from monitors.customerio.job import collect_once
from monitors.customerio.standin import StandIn, StandInInfo
from monitors.errors import AuthError
from storage import Store
from tests.monitors.customerio.conftest import make_client, make_config

BUCKET = 300


def base_time(hours_ago: int = 2) -> int:
    now = int(time.time())
    return now - now % BUCKET - hours_ago * 3600


def seed(standin: StandIn, n: int, start: int, step: int = 4) -> Counter[tuple[str, int]]:
    """``n`` events named by i % 5, one every ``step`` seconds; returns the expected (name, bucket) counts."""
    expected: Counter[tuple[str, int]] = Counter()
    for i in range(n):
        name, ts = ("purchase" if i % 5 == 0 else "signup"), start + i * step
        standin.inject("event", name=name, customer_id=f"u{i % 10}", timestamp=ts)
        expected[(name, ts - ts % BUCKET)] += 1
    return expected


def counts(store: Store, atype: str = "event") -> Counter[tuple[str, int]]:
    frame = store.read_customerio_metrics(workspace="shop", atype=atype)
    return Counter({(r.name, r.bucket_start): r.count for r in frame.itertuples()})


def collect(store: Store, info: StandInInfo, **overrides: object):  # type: ignore[no-untyped-def]
    config = make_config(info, **overrides)
    client = make_client(config, info)
    try:
        return collect_once(config, store, client, bucket=BUCKET)
    finally:
        client.close()


def test_first_run_pages_to_the_end_and_counts_every_activity(
        standin: StandIn, info: StandInInfo, sqlite_store: Store) -> None:
    expected = seed(standin, 250, base_time())
    run = collect(sqlite_store, info, page_size=50)
    assert (run.pages, run.activities, run.complete, run.status) == (5, 250, True, "ok")
    assert counts(sqlite_store) == expected
    assert run.message == "read 250 activities in 5 pages (*: end)"


def test_restart_resumes_without_recounting(standin: StandIn, info: StandInInfo, sqlite_store: Store,
                                            tmp_path: Path) -> None:
    start = base_time()
    expected = seed(standin, 120, start)
    collect(sqlite_store, info, page_size=50)
    sqlite_store.dispose()
    # a second activity in the resume second, and new ones after it
    last = start + 119 * 4
    standin.inject("event", name="signup", customer_id="late", timestamp=last)
    expected[("signup", last - last % BUCKET)] += 1
    expected += seed(standin, 30, last + 1)
    restarted = Store.from_url(f"sqlite:///{tmp_path / 'cio.sqlite'}")
    run = collect(restarted, info, page_size=50)
    assert (run.activities, run.pages, run.complete) == (31, 1, True)
    assert counts(restarted) == expected
    idle = collect(restarted, info, page_size=50)
    assert (idle.activities, idle.pages) == (0, 1)
    assert counts(restarted) == expected
    restarted.dispose()


def test_429_storm_and_5xx_burst_are_survived_with_complete_counts(
        standin: StandIn, info: StandInInfo, sqlite_store: Store) -> None:
    expected = seed(standin, 200, base_time())
    standin.faults.apply("5xx=3")
    standin.faults.apply("429=2")
    run = collect(sqlite_store, info, page_size=50)
    assert counts(sqlite_store) == expected
    assert (run.complete, run.rate_limited, run.retries, run.requests) == (True, 2, 5, 4 + 5)
    health = sqlite_store.customerio_health()[0]
    assert (health["status"], health["rate_limited"], health["requests"]) == ("ok", 2, 9)


def test_a_hung_request_times_out_and_is_retried(standin: StandIn, info: StandInInfo, sqlite_store: Store) -> None:
    expected = seed(standin, 20, base_time())
    standin.faults.apply("hang=1")
    standin.faults.apply("hang_seconds=1")
    run = collect(sqlite_store, info, timeout=0.3)
    assert counts(sqlite_store) == expected
    assert run.retries == 1


def test_revoked_key_is_reported_clearly_and_not_retried(standin: StandIn, info: StandInInfo,
                                                         sqlite_store: Store) -> None:
    seed(standin, 10, base_time())
    standin.faults.apply("revoked")
    with pytest.raises(AuthError, match=r"App API key rejected \(HTTP 401 from /v1/activities\) — check CUSTOMERIO_APP_API_KEY"):
        collect(sqlite_store, info)
    health = sqlite_store.customerio_health()
    assert [(h["workspace"], h["status"], h["message"], h["requests"]) for h in health] == [
        ("shop", "auth_error",
         "App API key rejected (HTTP 401 from /v1/activities) — check CUSTOMERIO_APP_API_KEY", 1)]
    assert health[0]["last_success_at"] is None and health[0]["last_error_at"] is not None
    assert counts(sqlite_store) == Counter()
    assert sqlite_store.customerio_resume_points("shop") == {}
    standin.faults.apply("revoked=0")
    collect(sqlite_store, info)
    recovered = sqlite_store.customerio_health()[0]
    assert recovered["status"] == "ok" and recovered["last_error_at"] is not None


def test_budget_shortfall_samples_and_marks_estimates(standin: StandIn, info: StandInInfo,
                                                      sqlite_store: Store) -> None:
    start = base_time(3)
    seed(standin, 10, start, step=1)
    collect(sqlite_store, info)
    seed(standin, 500, start + 10, step=1)  # one a second: start+10 … start+509
    run = collect(sqlite_store, info, page_size=50, budget=2)
    # read the newest 100 (start+410 …); the 400 s between the resume point and them are estimated
    assert (run.complete, run.activities, run.sample_rate) == (False, 100, pytest.approx(0.2))
    assert run.message.endswith("budget reached, unread activity estimated (sample rate 0.20)")
    frame = sqlite_store.read_customerio_metrics(workspace="shop", atype="event")
    rows = {(r.name, r.bucket_start): (r.count, r.estimated, round(r.sample_rate, 3)) for r in frame.itertuples()}
    assert rows == {
        ("signup", start): (8 + 232, True, 0.2), ("purchase", start): (2 + 58, True, 0.2),
        ("signup", start + BUCKET): (80 + 88, True, 0.2), ("purchase", start + BUCKET): (20 + 22, True, 0.2),
    }
    runs = sqlite_store.customerio_runs("shop")
    assert [(r["complete"], round(r["sample_rate"], 3)) for r in runs] == [(False, 0.2), (True, 1.0)]


def test_a_stopping_worker_ends_the_read_at_the_next_page_and_keeps_what_it_read(
        standin: StandIn, info: StandInInfo, sqlite_store: Store) -> None:
    start = base_time(3)
    seed(standin, 10, start, step=1)
    collect(sqlite_store, info)
    seed(standin, 500, start + 10, step=1)
    config = make_config(info, page_size=50, budget=100)
    client = make_client(config, info)
    asked: list[int] = []

    def stopping() -> bool:  # the worker's stop flag, set while the second page is read
        asked.append(client.stats.requests)
        return len(asked) > 2

    try:
        run = collect_once(config, sqlite_store, client, bucket=BUCKET, stopping=stopping)
    finally:
        client.close()
    # two pages of 100 wanted: the newest 100 are kept, the rest estimated as a budget cut is
    assert (run.pages, run.activities, run.complete, run.sample_rate) == (2, 100, False, pytest.approx(0.2))
    assert run.message == ("read 100 activities in 2 pages (*: stopped); the worker is stopping, unread activity "
                           "estimated (sample rate 0.20)")  # fmt: skip
    assert sum(r.count for r in sqlite_store.read_customerio_metrics(workspace="shop", atype="event").itertuples()) == 500 + 10


def test_listed_types_are_separate_streams_sharing_the_budget(standin: StandIn, info: StandInInfo,
                                                              sqlite_store: Store) -> None:
    start = base_time()
    seed(standin, 30, start)
    for i in range(7):
        standin.inject("failed_event", name="signup", customer_id="f", timestamp=start + i)
    run = collect(sqlite_store, info, activity_types=["failed_event", "event"], page_size=20)
    assert (run.activities, run.pages) == (37, 3)
    assert sum(counts(sqlite_store, "failed_event").values()) == 7
    assert set(sqlite_store.customerio_resume_points("shop")) == {"event", "failed_event"}


def test_collector_reads_over_https_with_a_custom_ca(standin: StandIn, info: StandInInfo,
                                                    sqlite_store: Store) -> None:
    expected = seed(standin, 15, base_time())
    assert info.tls_url and info.ca_path
    config = make_config(info, base_url=info.tls_url)
    client = make_client(config, info, verify=ssl.create_default_context(cafile=info.ca_path))
    try:
        run = collect_once(config, sqlite_store, client, bucket=BUCKET)
    finally:
        client.close()
    assert (run.activities, counts(sqlite_store)) == (15, expected)

"""Named leases on SQLite and PostgreSQL: one holder at a time, expiry, renewal, release, fencing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from storage import Store
from storage.leases_store import Lease, LeaseLostError, new_holder_id

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def test_first_acquire_grants_token_one_until_ttl(store: Store) -> None:
    lease = store.acquire_lease("job", "a", ttl=60, now=T0)
    assert lease == Lease("job", "a", 1, T0, at(60))
    assert store.current_lease("job", at(59)) == lease
    assert store.current_lease("job", at(60)) is None


def test_second_holder_is_refused_while_the_lease_is_valid(store: Store) -> None:
    store.acquire_lease("job", "a", ttl=60, now=T0)
    assert store.acquire_lease("job", "b", ttl=60, now=at(59.9)) is None
    assert store.current_lease("job", at(30)).holder == "a"  # type: ignore[union-attr]


def test_expired_lease_goes_to_the_next_holder_with_a_higher_token(store: Store) -> None:
    store.acquire_lease("job", "a", ttl=60, now=T0)
    taken = store.acquire_lease("job", "b", ttl=30, now=at(60))
    assert taken == Lease("job", "b", 2, at(60), at(90))


def test_reacquire_by_the_holder_extends_and_keeps_the_token(store: Store) -> None:
    first = store.acquire_lease("job", "a", ttl=60, now=T0)
    again = store.acquire_lease("job", "a", ttl=60, now=at(50))
    assert first is not None and again is not None
    assert (again.token, again.acquired_at, again.expires_at) == (1, T0, at(110))


def test_same_holder_after_expiry_gets_a_new_token(store: Store) -> None:
    store.acquire_lease("job", "a", ttl=60, now=T0)
    again = store.acquire_lease("job", "a", ttl=60, now=at(61))
    assert again is not None and (again.token, again.acquired_at) == (2, at(61))


def test_renew_extends_a_valid_lease(store: Store) -> None:
    lease = store.acquire_lease("job", "a", ttl=60, now=T0)
    assert lease is not None
    renewed = store.renew_lease(lease, ttl=60, now=at(40))
    assert renewed == Lease("job", "a", 1, T0, at(100))
    assert store.acquire_lease("job", "b", ttl=60, now=at(80)) is None


def test_renew_fails_after_expiry_even_if_nobody_took_over(store: Store) -> None:
    lease = store.acquire_lease("job", "a", ttl=60, now=T0)
    assert lease is not None
    assert store.renew_lease(lease, ttl=60, now=at(60)) is None


def test_renew_fails_after_a_takeover_and_leaves_the_new_holder_alone(store: Store) -> None:
    old = store.acquire_lease("job", "a", ttl=60, now=T0)
    assert old is not None
    new = store.acquire_lease("job", "b", ttl=60, now=at(70))
    assert store.renew_lease(old, ttl=600, now=at(71)) is None
    assert store.current_lease("job", at(72)) == new


def test_release_lets_another_holder_in_at_once(store: Store) -> None:
    lease = store.acquire_lease("job", "a", ttl=600, now=T0)
    assert lease is not None
    assert store.release_lease(lease) is True
    assert store.current_lease("job", at(1)) is None
    taken = store.acquire_lease("job", "b", ttl=60, now=at(1))
    assert taken is not None and taken.token == 2


def test_release_of_a_stale_lease_is_refused_and_harmless(store: Store) -> None:
    old = store.acquire_lease("job", "a", ttl=60, now=T0)
    assert old is not None
    new = store.acquire_lease("job", "b", ttl=60, now=at(61))
    assert store.release_lease(old) is False
    assert store.current_lease("job", at(62)) == new


def test_holder_that_released_and_returns_gets_a_new_token(store: Store) -> None:
    lease = store.acquire_lease("job", "a", ttl=600, now=T0)
    assert lease is not None
    store.release_lease(lease)
    again = store.acquire_lease("job", "a", ttl=600, now=at(1))
    assert again is not None and again.token == 2


def test_tokens_only_increase_across_many_grants(store: Store) -> None:
    tokens = []
    for i in range(6):
        lease = store.acquire_lease("job", f"h{i % 2}", ttl=10, now=at(10 * i))
        assert lease is not None
        tokens.append(lease.token)
    assert tokens == [1, 2, 3, 4, 5, 6]


def test_leases_with_different_names_are_independent(store: Store) -> None:
    assert store.acquire_lease("warehouse:a", "w1", ttl=60, now=T0) is not None
    assert store.acquire_lease("warehouse:b", "w2", ttl=60, now=T0) is not None
    store.acquire_lease("worker-leader", "w1", ttl=60, now=T0)
    assert [(x.name, x.holder) for x in store.list_leases("warehouse:")] == [
        ("warehouse:a", "w1"),
        ("warehouse:b", "w2"),
    ]


def test_list_leases_prefix_is_literal(store: Store) -> None:
    store.acquire_lease("a_b", "w", ttl=60, now=T0)
    store.acquire_lease("axb", "w", ttl=60, now=T0)
    assert [x.name for x in store.list_leases("a_")] == ["a_b"]


def test_holds_lease_and_fence_accept_the_current_lease(store: Store) -> None:
    lease = store.acquire_lease("job", "a", ttl=60, now=T0)
    assert lease is not None
    assert store.holds_lease(lease, at(30)) is True
    with store.engine.begin() as conn:
        store.fence_lease(conn, lease, at(30))


def test_fence_refuses_a_stale_holder(store: Store) -> None:
    old = store.acquire_lease("job", "a", ttl=60, now=T0)
    assert old is not None
    store.acquire_lease("job", "b", ttl=60, now=at(61))
    assert store.holds_lease(old, at(62)) is False
    stale = r"lease 'job' \(token 1\) is no longer held by 'a'"
    with pytest.raises(LeaseLostError, match=stale), store.engine.begin() as conn:
        store.fence_lease(conn, old, at(62))


def test_fence_refuses_an_expired_lease(store: Store) -> None:
    lease = store.acquire_lease("job", "a", ttl=60, now=T0)
    assert lease is not None
    with pytest.raises(LeaseLostError), store.engine.begin() as conn:
        store.fence_lease(conn, lease, at(60))


def test_forget_lease_deletes_the_row(store: Store) -> None:
    store.acquire_lease("job", "a", ttl=60, now=T0)
    store.forget_lease("job")
    assert store.list_leases() == []


@pytest.mark.parametrize("ttl", [0, -5, timedelta(0)], ids=["zero", "negative", "zero-delta"])
def test_non_positive_ttl_is_rejected(store: Store, ttl: float | timedelta) -> None:
    with pytest.raises(ValueError, match="lease ttl must be positive"):
        store.acquire_lease("job", "a", ttl=ttl, now=T0)


def test_timedelta_ttl_is_accepted(store: Store) -> None:
    lease = store.acquire_lease("job", "a", ttl=timedelta(minutes=2), now=T0)
    assert lease is not None and lease.expires_at == at(120)


def test_racing_acquirers_get_exactly_one_grant(db_url: str) -> None:
    """Eight threads, each with its own Store (engine, connections), race for the same fresh lease."""
    setup = Store.from_url(db_url)
    setup.migrate()
    setup.dispose()
    stores = [Store.from_url(db_url) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    results: list[Lease | None] = [None] * len(stores)

    def race(i: int) -> None:
        barrier.wait()
        results[i] = stores[i].acquire_lease("contested", f"w{i}", ttl=60, now=T0)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.dispose()
    granted = [r for r in results if r is not None]
    assert len(granted) == 1 and granted[0].token == 1


def test_new_holder_ids_are_unique_and_prefixed() -> None:
    a, b = new_holder_id("worker"), new_holder_id("worker")
    assert a != b and a.startswith("worker:") and len(a) <= 200

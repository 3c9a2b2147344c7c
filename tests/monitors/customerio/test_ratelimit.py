from __future__ import annotations

import pytest

from monitors.customerio.ratelimit import SlidingWindow


def test_window_admits_limit_then_waits_until_the_oldest_leaves() -> None:
    window = SlidingWindow(3, 1.0)
    assert [window.try_acquire(t) for t in (0.0, 0.1, 0.2)] == [0.0, 0.0, 0.0]
    assert window.try_acquire(0.5) == pytest.approx(0.5)
    assert window.try_acquire(1.0) == 0.0  # the event at 0.0 left the half-open window
    assert window.wait_time(1.05) == pytest.approx(0.05)


def test_rejected_attempts_do_not_use_the_window() -> None:
    window = SlidingWindow(1, 1.0)
    assert window.try_acquire(0.0) == 0.0
    for t in (0.2, 0.4, 0.6):
        assert window.try_acquire(t) > 0
    assert window.try_acquire(1.0) == 0.0


@pytest.mark.parametrize(("rate", "limit", "span"), [(10.0, 10, 1.0), (2.5, 2, 0.8), (0.5, 1, 2.0)])
def test_per_second_builds_equivalent_windows(rate: float, limit: int, span: float) -> None:
    window = SlidingWindow.per_second(rate)
    assert (window.limit, window.window) == (limit, pytest.approx(span))


def test_invalid_windows_are_refused() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0)

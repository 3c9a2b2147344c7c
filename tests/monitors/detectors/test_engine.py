"""The numeric core: count-aware scores match Poisson tails; state survives pack/unpack exactly;
running in pieces gives bit-for-bit what one run gives; series never influence each other."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitors.detectors import _volume_judge as judge
from monitors.detectors import volume_engine as engine
from monitors.detectors.countstats import band, z_drop, z_from_neglog, z_signed, z_spike
from tests.monitors.detectors.fixtures import DAY, T0, WIDTH, diurnal, grid


def _poisson_cdf(x: int, m: float) -> float:
    return sum(math.exp(-m + k * math.log(m) - math.lgamma(k + 1)) for k in range(x + 1))


def _z(p: float) -> float:
    lo, hi = -10.0, 40.0  # upper-tail z by bisection on erfc
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(mid / math.sqrt(2)) > p:
            lo = mid
        else:
            hi = mid
    return lo


@pytest.mark.parametrize("x,m", [(3, 0.5), (8, 2.0), (30, 15.0), (1200, 1000.0), (15, 4.0)])
def test_spike_score_matches_the_poisson_tail(x: int, m: float) -> None:
    exact = _z(1.0 - _poisson_cdf(x - 1, m))
    assert z_spike(np.array([float(x)]), np.array([m]))[0] == pytest.approx(exact, abs=0.12)


@pytest.mark.parametrize("x,m", [(0, 10.0), (2, 12.0), (800, 1000.0), (5, 20.0)])
def test_drop_score_matches_the_poisson_tail(x: int, m: float) -> None:
    exact = _z(_poisson_cdf(x, m))
    assert z_drop(np.array([float(x)]), np.array([m]))[0] == pytest.approx(
        exact, abs=0.12 * max(1, exact / 5)
    )


def test_three_events_where_half_is_expected_is_not_a_gaussian_three_and_a_half() -> None:
    z = z_signed(np.array([3.0]), np.array([0.5]), np.array([1.0]))[0]
    assert 2.0 < z < 2.6  # Gaussian (3 - 0.5) / sqrt(0.5) would say 3.5
    assert z_signed(np.array([1.0]), np.array([2.0]), np.array([1.0]))[0] <= 0


def test_silence_score_and_band() -> None:
    assert z_from_neglog(np.array([np.log(2.0)]))[0] == pytest.approx(0.0, abs=1e-3)
    assert z_from_neglog(np.array([-math.log(2.87e-7)]))[0] == pytest.approx(5.0, abs=0.01)
    lower, upper = band(
        np.array([100.0]), np.array([1.0]), np.array([4.0]), np.array([10.0]), np.array([0.15])
    )
    assert lower[0] == pytest.approx(64.0) and upper[0] == pytest.approx(144.0)


def _params(n: int) -> engine.Params:
    def full(value: float) -> np.ndarray:
        return np.full(n, value)

    return engine.Params(
        width=WIDTH, threshold=full(4.5), min_abs=full(10.0), min_rel=full(0.15), resolve_after=full(6.0),
        min_history=full(14 * 288.0), adapt_after=full(3 * 288.0), floor=full(1.0),
    )  # fmt: skip


def _data(n: int = 3, days: int = 18) -> tuple[np.ndarray, np.ndarray]:
    times = grid(days)
    mu = np.stack([diurnal(times, m) for m in (2.0, 80.0, 900.0)[:n]], axis=1)
    mu[(times >= T0 + 15 * DAY) & (times < T0 + 15 * DAY + 3 * 3600)] *= 0.3
    return times, np.random.default_rng(0).poisson(mu).astype(np.float64)


def test_running_in_pieces_equals_one_run_bit_for_bit() -> None:
    times, counts = _data()
    whole = engine.fresh(3)
    res = engine.run(whole, _params(3), times, counts)
    pieces = engine.fresh(3)
    closed = []
    for a, b in [(0, 1000), (1000, 1001), (1001, 3000), (3000, len(times))]:
        packed = engine.pack(pieces)
        pieces = engine.unpack(np.frombuffer(packed.tobytes(), dtype=np.float64).reshape(packed.shape))
        closed += engine.run(pieces, _params(3), times[a:b], counts[a:b]).closed
    assert closed == res.closed and len(closed) >= 2
    for name in engine.LAYOUT:
        np.testing.assert_array_equal(whole[name], pieces[name], err_msg=name)


def test_a_series_is_judged_the_same_alone_or_in_a_batch() -> None:
    times, counts = _data()
    batch = engine.run(engine.fresh(3), _params(3), times, counts).closed
    alone = engine.run(engine.fresh(1), _params(1), times, counts[:, 2:3]).closed
    assert [(e.started_at, e.ended_at, e.peak_score) for e in batch if e.series == 2] == [
        (e.started_at, e.ended_at, e.peak_score) for e in alone
    ]


def test_state_layout_round_trips() -> None:
    state = engine.fresh(2)
    state["prof"][5, 1] = 123.25
    back = engine.unpack(engine.pack(state))
    assert engine.pack(back).shape == (2, engine.STATE_SIZE)
    assert back["prof"][5, 1] == 123.25


def test_exact_z_never_exceeds_the_pearson_bound_that_lets_quiet_windows_skip_it() -> None:
    # the drop tail's worst case is x = 0 with m / v = (8/3)^3; spikes stay at or below Pearson
    v = np.array([1.0, 1.7, 40.0, 1e-9])[:, None, None]
    m = np.geomspace(0.01, 1e6, 400)[None, :, None] * v
    x = np.concatenate([np.zeros(1), np.geomspace(1e-3, 3e6, 500)])[None, None, :] * v
    x, m, v = np.broadcast_arrays(x, m, v)
    z = z_signed(x.ravel(), m.ravel(), v.ravel())
    pearson = (x - m).ravel() / np.sqrt((v * m).ravel())
    assert np.all(np.abs(z) <= 1.2248 * np.abs(pearson) + 1e-12)
    worst = z_signed(np.array([0.0]), np.array([(8 / 3) ** 3]), np.array([1.0]))[0]
    assert abs(worst) / (8 / 3) ** 1.5 == pytest.approx(1.2247, abs=1e-4)
    assert judge.Z_OVER_PEARSON > 1.2248


@pytest.mark.parametrize("threshold", [1.0, 2.0, 3.5, 4.5, 6.0, 17.0])
def test_silence_bounds_agree_with_the_exact_silence_z(threshold: float) -> None:
    lo, hi = (float(b[0]) for b in judge.z_bounds(np.array([threshold])))
    rng = np.random.default_rng(5)
    y = np.concatenate([rng.uniform(0, 3 * hi, 20_000), lo * (1 + np.linspace(-1e-6, 1e-6, 2001)), [3.0]])
    exact = judge.silence_z(y) >= threshold
    assert np.array_equal(exact[y >= hi], np.ones(int((y >= hi).sum()), dtype=bool))
    assert not exact[y < lo].any()
    assert lo <= hi and (hi - lo) <= 1e-6 * hi

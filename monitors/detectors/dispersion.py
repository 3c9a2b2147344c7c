"""How much window totals of a series normally vary, per window length, learned online.

For a window of ``L`` buckets with expected total ``M`` the variance of the observed total is
modelled as ``V · M`` with ``V = a + b · M``: ``a`` is the Poisson-relative over-dispersion
(bursty users, retries) and ``b · M`` the part that grows with volume (model error, day-to-day
level changes, correlated over the window). ``a`` is never below the Poisson floor (1 for counts),
so a quiet series is judged at least as leniently as Poisson noise allows.

``a`` and ``b`` are fitted by exponentially weighted least squares of the squared Pearson
residual ``(X − M)² / M`` on ``M`` (weights ``1 / V²``), with residuals winsorised at 4 σ so a few
heavy-tailed buckets cannot blow the band up, and only on windows free of anomalies.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
_HALF_LIFE_S = 7 * 86400.0
_MIN_HALF_LIFE_BUCKETS = 30.0
_PRIOR_WEIGHT = 2.0
_PRIOR_A = 2.0
_CLIP = 16.0
_SUMS = ("s00", "s01", "s11", "t0", "t1")


class Dispersion:
    """Dispersion state of ``n`` series × ``W`` windows; every array is ``(W, n)``.

    The five sums are worked on in one stacked copy (one update for all five): call :meth:`flush`
    after the last bucket."""

    WIDTHS: ClassVar[dict[str, int]] = {name: 1 for name in ("s00", "s01", "s11", "t0", "t1", "a", "b")}

    def __init__(self, arrays: dict[str, F64], width: int, floor: F64) -> None:
        self._arrays = arrays
        self._sums = np.stack([arrays[name] for name in _SUMS])
        self.s00, self.s01, self.s11, self.t0, self.t1 = self._sums
        self.a, self.b = arrays["a"], arrays["b"]
        self.floor = np.repeat(floor[None, :], self.a.shape[0], axis=0)
        half_life = max(_HALF_LIFE_S / width, _MIN_HALF_LIFE_BUCKETS)
        self._rate = 1.0 - 0.5 ** (1.0 / half_life)
        self._add = np.empty_like(self._sums)
        self._r, self._cap, self._keep = np.empty_like(self.a), np.empty_like(self.a), np.empty_like(self.a)
        # constants as full-shape operands (a Python scalar costs numpy a conversion per call)
        self._clip, self._rates, self._ones = (np.full(self.a.shape, c) for c in (_CLIP, self._rate, 1.0))

    @staticmethod
    def fresh(n: int, windows: int) -> dict[str, F64]:
        """A weak prior: over-dispersion 2, no volume-proportional term."""
        arrays = {name: np.zeros((windows, n)) for name in ("s00", "s01", "s11", "t0", "t1", "a", "b")}
        arrays["s00"][:] = _PRIOR_WEIGHT
        arrays["t0"][:] = _PRIOR_WEIGHT * _PRIOR_A
        arrays["a"][:] = _PRIOR_A
        return arrays

    def flush(self) -> None:
        """Write the working sums back to the state arrays."""
        for name, rows in zip(_SUMS, self._sums, strict=True):
            self._arrays[name][...] = rows

    def variance_factor(self, m: F64, out: F64) -> F64:
        """``V`` for expected totals ``m`` (W, n), into ``out``: variance of the total = V · m."""
        v = np.multiply(self.b, m, out)
        v += self.a
        return np.maximum(v, self.floor, out=v)

    def learn(self, dev: F64, m: F64, v: F64, upd: F64) -> None:
        """Learn from window deviations ``dev = X − M`` where ``upd`` (W, n) is 1."""
        r = np.multiply(dev, dev, self._r)
        r /= m
        np.minimum(r, np.multiply(self._clip, v, self._cap), out=r)
        add = self._add
        w = np.divide(upd, np.multiply(v, v, add[0]), add[0])
        keep = np.subtract(self._ones, np.multiply(upd, self._rates, self._keep), self._keep)
        wm = np.multiply(w, m, add[1])
        np.multiply(wm, m, add[2])
        np.multiply(w, r, add[3])
        np.multiply(wm, r, add[4])
        self._sums *= keep  # s00 += w, s01 += w·m, s11 += w·m², t0 += w·r, t1 += w·m·r
        self._sums += add

    def solve(self) -> None:
        """Refit ``a`` and ``b`` from the sums (cheap; called once an hour)."""
        det = self.s00 * self.s11 - self.s01 * self.s01
        ok = det > 1e-9 * self.s00 * self.s11
        b = np.where(ok, (self.s00 * self.t1 - self.s01 * self.t0) / np.where(ok, det, 1.0), 0.0)
        b = np.maximum(b, 0.0)
        self.b[:] = b
        self.a[:] = np.maximum((self.t0 - b * self.s01) / self.s00, self.floor)

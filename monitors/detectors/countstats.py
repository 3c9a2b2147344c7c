"""Count-aware scores: Poisson tail probabilities expressed as z-scores, vectorised.

Counts are not Gaussian: 3 events where 0.5 are expected is far less surprising than a Gaussian
z of 3.5 suggests. We score a window's observed total ``x`` against its expected total ``m`` with
the Wilson–Hilferty approximation of the Poisson tail (through the Poisson–Gamma identity
``P(X >= x) = P(Gamma(x) <= m)``), accurate to a few hundredths of a z unit while ``m`` is not
far below ``x``. When almost nothing is expected (``m`` ≪ ``x``, a rate rising from a zero
baseline) the approximation saturates at ``3·sqrt(x)``: :func:`z_spike_exact` sums the series of
the incomplete gamma function there instead. Over-dispersion is handled by the quasi-Poisson trick: divide both totals by the
dispersion ``v`` (variance / mean) before scoring.

Nothing here needs SciPy.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
_TINY = 1e-9
_LN2 = np.log(2.0)


def z_spike(x: Array, m: Array) -> Array:
    """z of ``P(X >= x)`` for ``X ~ Poisson(m)`` (large = surprisingly many); <= 0 when x <= m."""
    xs = np.maximum(x, _TINY)
    return 3.0 * np.sqrt(xs) * (1.0 - 1.0 / (9.0 * xs) - np.cbrt(m / xs))


def z_spike_exact(x: Array, m: Array, terms: int = 40) -> Array:
    """:func:`z_spike` without its ceiling: where ``m <= x / 2`` the tail ``P(Gamma(x) <= m)`` is
    summed exactly (``m^x e^-m / Γ(x+1) · Σ m^k / ((x+1)…(x+k))``, terms at most halving), so two
    messages where 0.001 are expected score far above one; elsewhere :func:`z_spike`."""
    z = z_spike(x, m)
    at = np.flatnonzero((m <= x / 2) & (x > 0))
    if at.size:
        xa, ma = x[at], np.maximum(m[at], _TINY)
        term, total = np.ones_like(xa), np.ones_like(xa)
        for k in range(1, terms + 1):
            term = term * ma / (xa + k)
            total += term
        lgam = np.array([math.lgamma(v + 1.0) for v in xa.tolist()])
        neglog = -(xa * np.log(ma) - ma - lgam + np.log(total))
        z[at] = z_from_neglog(neglog)
    return z


def z_drop(x: Array, m: Array) -> Array:
    """z of ``P(X <= x)`` for ``X ~ Poisson(m)`` (large = surprisingly few); <= 0 when x >= m."""
    x1 = x + 1.0
    return 3.0 * np.sqrt(x1) * (np.cbrt(m / x1) - 1.0 + 1.0 / (9.0 * x1))


def z_signed(x: Array, m: Array, v: Array) -> Array:
    """Signed quasi-Poisson z of totals ``x`` against ``m`` with dispersion ``v``: + spike, − drop.

    Both tails share one expression: :func:`z_spike` at ``x`` when ``x > m``, and minus
    :func:`z_drop`, which is the same formula at ``x + 1``, otherwise.
    """
    high = x > m
    y = np.maximum((x + np.where(high, 0.0, v)) / v, _TINY)
    ms = m / v
    z = np.cbrt(ms / y)
    z += 1.0 / (9.0 * y)
    np.subtract(1.0, z, out=z)
    z *= 3.0 * np.sqrt(y)
    return np.where(high, np.maximum(z, 0.0), np.minimum(z, 0.0))


def z_from_neglog(y: Array) -> Array:
    """Upper-tail z of a probability given as ``y = -ln(p)`` (0 when p >= 0.5).

    Abramowitz & Stegun 26.2.23, error below 5e-4.
    """
    t = np.sqrt(2.0 * np.maximum(y, _LN2))
    num = 2.515517 + t * (0.802853 + t * 0.010328)
    den = 1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))
    return np.maximum(t - num / den, 0.0)


def band(mu: Array, v: Array, threshold: Array, min_abs: Array, min_rel: Array) -> tuple[Array, Array]:
    """Lower and upper bound of counts one bucket may take without being flagged on its own.

    On the variance-stabilised scale ``2·sqrt(x / v)`` a (quasi-)Poisson count has unit variance,
    so ``±threshold`` there gives an asymmetric, non-negative band; the change floors widen it.
    """
    root = np.sqrt(mu / v)
    half = threshold / 2.0
    lower = v * np.maximum(root - half, 0.0) ** 2
    upper = v * (root + half) ** 2
    lower = np.maximum(np.minimum(lower, np.minimum(mu - min_abs, mu * (1.0 - min_rel))), 0.0)
    upper = np.maximum(upper, np.maximum(mu + min_abs, mu * (1.0 + min_rel)))
    return lower, upper

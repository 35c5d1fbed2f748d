"""One definition of every summary statistic of the study, used by the metrics, the classical
baseline's calibration, the benchmarks and the figures.

- bias: the mean of the residuals;
- resolution (:func:`spread`): the sample standard deviation, ``ddof=1`` everywhere;
- robust resolution (:func:`robust_spread`): half-width of the central 68.27 % interval;
- containment (:func:`containment`): the value below which a fraction of a sample lies (68 %
  containment of an opening angle or a core distance), with an order-statistics interval;
- energy bins: :func:`bin_edges`, :func:`bin_centers`, :func:`bin_index`, and :func:`binned`
  for any statistic per bin.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

INTERVAL = 0.6827  # central probability of the quoted intervals (one Gaussian sigma)
PERCENTILES = (50.0 * (1.0 - INTERVAL), 50.0 * (1.0 + INTERVAL))  # 15.865, 84.135
DDOF = 1  # the sample standard deviation: unbiased variance, stated in the summary's footnote


def spread(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sample standard deviation (``ddof=1``) along ``axis``; NaN for fewer than two values."""
    values = np.asarray(values)
    if values.shape[axis] < 2:
        return np.full(np.delete(values.shape, axis % values.ndim), np.nan)[()]
    return values.std(axis=axis, ddof=DDOF)


def robust_spread(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Half-width of the central 68.27 % interval along ``axis``; equal to the standard deviation
    for Gaussian values but insensitive to a few outliers."""
    q_lo, q_hi = np.percentile(values, PERCENTILES, axis=axis)
    return 0.5 * (q_hi - q_lo)


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """The central 68.27 % interval of a sample (e.g. of bootstrap replicas)."""
    lo, hi = np.percentile(values, PERCENTILES)
    return float(lo), float(hi)


def containment(values: np.ndarray, fraction: float = 0.68) -> tuple[float, float, float]:
    """Containment value (e.g. the 68 % containment angle) and its ~68 % confidence interval.

    The interval is given by the order statistics at ranks ``n q -+ sqrt(n q (1 - q))``
    (normal approximation of the binomial count of values below the true quantile).

    Returns
    -------
    value, low, high
        NaN for an empty sample.
    """
    values = np.sort(np.asarray(values, dtype=np.float64)[np.isfinite(values)])
    n = values.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    half = np.sqrt(n * fraction * (1.0 - fraction))
    lo = int(np.clip(np.floor(n * fraction - half), 0, n - 1))
    hi = int(np.clip(np.ceil(n * fraction + half), 0, n - 1))
    return float(np.quantile(values, fraction)), float(values[lo]), float(values[hi])


def bin_edges(lo: float, hi: float, n: int, spacing: str = "log") -> np.ndarray:
    """``n + 1`` bin edges from ``lo`` to ``hi``, log- or linearly spaced."""
    if not 0 < lo < hi or n < 1:
        raise ValueError(f"bins need 0 < min < max and n >= 1, got min={lo}, max={hi}, n={n}")
    if spacing == "log":
        return np.logspace(np.log10(lo), np.log10(hi), n + 1)
    if spacing == "linear":
        return np.linspace(lo, hi, n + 1)
    raise ValueError(f"bin spacing must be 'log' or 'linear', got {spacing!r}")


def bin_centers(edges: np.ndarray, spacing: str = "log") -> np.ndarray:
    """Geometric (log spacing) or arithmetic (linear spacing) bin centres."""
    edges = np.asarray(edges, dtype=np.float64)
    if spacing == "log":
        return np.sqrt(edges[:-1] * edges[1:])
    return 0.5 * (edges[:-1] + edges[1:])


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: ``i`` for ``edges[i] <= v < edges[i+1]`` (the last bin includes its
    upper edge), ``-1`` outside the range."""
    values = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[values == edges[-1]] = len(edges) - 2
    idx[(idx < 0) | (idx >= len(edges) - 1)] = -1
    return idx


def binned(
    values: np.ndarray, index: np.ndarray, n_bins: int, statistic: Callable[[np.ndarray], float]
) -> np.ndarray:
    """``statistic`` of ``values`` in each of ``n_bins`` bins (``index`` from :func:`bin_index`);
    NaN for an empty bin."""
    values = np.asarray(values)
    out = np.full(n_bins, np.nan)
    for k in range(n_bins):
        sel = index == k
        if np.any(sel):
            out[k] = statistic(values[sel])
    return out

"""One definition of every summary statistic of the study, used by the metrics, the classical
baseline's calibration, the benchmarks and the figures.

- bias: the mean of the residuals;
- resolution (:func:`spread`): the sample standard deviation, ``ddof=1`` everywhere;
- robust resolution (:func:`robust_spread`): half-width of the central 68.27 % interval;
- containment (:func:`containment`): the value below which a fraction of a sample lies (68 %
  containment of an opening angle or a core distance), with an order-statistics interval;
- energy bins: :func:`bin_edges`, :func:`bin_centers`, :func:`bin_index`, and :func:`binned`
  for any statistic per bin;
- bootstrap of any statistic (:func:`bootstrap_replicas`, :func:`bootstrap_interval`), the
  merit factor of two samples (:func:`merit_factor`) and the ROC area (:func:`auc`).
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


def bootstrap_replicas(
    statistic: Callable[..., float | np.ndarray],
    columns: tuple[np.ndarray, ...],
    n_bootstrap: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``statistic`` of ``n_bootstrap`` resamples of the events, with replacement.

    ``columns`` are per-event arrays (first axis: events, equal lengths) resampled together;
    ``statistic(*columns)`` returns a float or a 1-d array of floats (several quantities of one
    resample). Returns shape ``(n_bootstrap,)`` or ``(n_bootstrap, n_quantities)``. Any
    statistic, at the price of a Python loop over the resamples.
    """
    n = len(columns[0])
    out = []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, n, size=n)
        out.append(np.asarray(statistic(*(c[idx] for c in columns)), dtype=np.float64))
    return np.array(out)


def bootstrap_interval(replicas: np.ndarray) -> tuple[float | None, float | None]:
    """The :func:`percentile_interval` of bootstrap replicas of one quantity; ``(None, None)``
    where a resample left it undefined (a non-finite replica)."""
    replicas = np.asarray(replicas, dtype=np.float64)
    if replicas.size == 0 or not np.all(np.isfinite(replicas)):
        return None, None
    return percentile_interval(replicas)


def merit_factor(a: np.ndarray, b: np.ndarray) -> float:
    """Separation of two samples: ``|mean(a) - mean(b)| / sqrt(spread(a)^2 + spread(b)^2)``
    (:func:`spread`, ``ddof=1``); NaN when either has fewer than two values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return float("nan")
    var = spread(a) ** 2 + spread(b) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(abs(a.mean() - b.mean()) / np.sqrt(var))


def fisher_merit_factor(a: np.ndarray, b: np.ndarray) -> float:
    """The merit factor of the best linear combination of the columns of ``a`` (n_a, k) and ``b``
    (n_b, k): Fisher's discriminant ``w = (S_a + S_b)^-1 (m_b - m_a)`` (``S`` the covariance
    matrices, ``ddof=1``), whose projection has ``merit_factor = sqrt(dm^T (S_a + S_b)^-1 dm)``.
    The weights come from the same samples (an optimism of order k / n). NaN when either sample
    has fewer than k + 1 rows or the summed covariance is singular."""
    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    k = a.shape[1]
    if len(a) <= k or len(b) <= k:
        return float("nan")
    dm = b.mean(axis=0) - a.mean(axis=0)
    cov = np.atleast_2d(np.cov(a, rowvar=False)) + np.atleast_2d(np.cov(b, rowvar=False))
    try:
        return float(np.sqrt(dm @ np.linalg.solve(cov, dm)))
    except np.linalg.LinAlgError:
        return float("nan")


def auc(score_a: np.ndarray, score_b: np.ndarray) -> float:
    """Area under the ROC curve of telling ``b`` from ``a`` by a score: the probability that a
    random ``b`` value exceeds a random ``a`` value, ties counting 1/2 (the Mann-Whitney U
    statistic over ``n_a n_b``, from mid-ranks); NaN when either sample is empty."""
    from scipy.stats import rankdata  # noqa: PLC0415 (scipy loads lazily: one rank statistic needs it)

    a, b = np.asarray(score_a, dtype=np.float64), np.asarray(score_b, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([a, b]))  # mid-ranks: ties share the mean rank
    u = ranks[a.size :].sum() - b.size * (b.size + 1) / 2.0
    return float(u / (a.size * b.size))

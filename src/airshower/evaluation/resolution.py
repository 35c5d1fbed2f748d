"""Bias and resolution of one energy reconstruction (one model and seed) with their bootstrap
intervals, over all events and in bins of true energy: the statistics of the energy's metrics
(:mod:`.energy`) and of its per-event width (:mod:`.uncertainty`).

For events with true energy ``E_true`` and reconstructed energy ``E_rec`` (both in EeV):

- bias ``mean(E_rec - E_true)`` [EeV] and relative bias ``mean((E_rec - E_true) / E_true)``;
- resolution ``std(E_rec - E_true)`` [EeV] (:func:`airshower.statistics.spread`, the sample
  standard deviation, ``ddof=1``);
- robust resolution (:func:`airshower.statistics.robust_spread`): half-width of the central
  68.27 % interval of ``E_rec - E_true`` [EeV]; equal to the standard deviation for Gaussian
  residuals, but insensitive to a few wild reconstructions;
- relative resolution ``std((E_rec - E_true) / E_true)`` (sigma_E / E, dimensionless).

Each is computed over all events and in bins of the *true* energy (log-spaced by default). The
68 % intervals are percentile-bootstrap intervals: the events are resampled with replacement
``bootstrap`` times and the central 68.27 % interval of the resampled metric is quoted
(:func:`airshower.statistics.percentile_interval`). A bin without events (or with too few for a
spread) yields ``None``, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from airshower import contract, statistics
from airshower.evaluation.settings import EvaluationSettings
from airshower.evaluation.target_base import by_quantity

QUANTITIES: dict[str, str] = {
    "bias_eev": "mean(E_rec - E_true) in EeV",
    "resolution_eev": "std(E_rec - E_true) in EeV (ddof=1)",
    "resolution68_eev": "half-width of the central 68.27 % interval of E_rec - E_true in EeV",
    "relative_bias": "mean((E_rec - E_true) / E_true)",
    "relative_resolution": "std((E_rec - E_true) / E_true) (ddof=1)",
}
# quantities that need at least two events (a spread)
_SPREADS = ("resolution_eev", "resolution68_eev", "relative_resolution")
_MAX_BOOTSTRAP_CELLS = 4_000_000  # resampled values held in memory at once


def _statistics(residual: np.ndarray, relative: np.ndarray) -> dict[str, np.ndarray]:
    """Every quantity along the last axis (events); works on one sample or a stack of them."""
    out = {"bias_eev": residual.mean(axis=-1), "relative_bias": relative.mean(axis=-1)}
    if residual.shape[-1] < 2:
        nan = np.full(residual.shape[:-1], np.nan)
        out.update({q: nan for q in _SPREADS})
        return out
    out["resolution_eev"] = statistics.spread(residual)
    out["resolution68_eev"] = statistics.robust_spread(residual)
    out["relative_resolution"] = statistics.spread(relative)
    return out


def check_energies(energy_true: np.ndarray, energy_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both energies as flat float64 arrays, after checking equal lengths, positive finite true
    energies and finite predictions (ValueError naming the dataset and the first bad event)."""
    e_true = np.asarray(energy_true, dtype=np.float64).ravel()
    e_pred = np.asarray(energy_pred, dtype=np.float64).ravel()
    if e_true.shape != e_pred.shape:
        raise ValueError(f"energy_true has {e_true.size} events, energy_pred {e_pred.size}")
    for name, values, good, why in (
        ("energy_true", e_true, np.isfinite(e_true) & (e_true > 0), "must be positive and finite"),
        ("energy_pred", e_pred, np.isfinite(e_pred), "must be finite (NaN: the network diverged)"),
    ):
        failed = contract.failures(good, lambda i, v=values: f"{v[i]:.6g} EeV")
        if failed:
            raise ValueError(f"'{name}' {why}: {failed}")
    return e_true, e_pred


def _value(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def point_estimates(energy_true: np.ndarray, energy_pred: np.ndarray) -> dict[str, float | None]:
    """Every quantity of :data:`QUANTITIES` for one sample; ``None`` where undefined."""
    e_true, e_pred = check_energies(energy_true, energy_pred)
    if e_true.size == 0:
        return dict.fromkeys(QUANTITIES)
    residual = e_pred - e_true
    stats = _statistics(residual, residual / e_true)
    return {q: _value(stats[q]) for q in QUANTITIES}


def bootstrap_replicas(
    columns: tuple[np.ndarray, ...],
    statistic: Callable[..., dict[str, np.ndarray]],
    n_bootstrap: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """``statistic`` of ``n_bootstrap`` resamples with replacement of the events.

    ``columns`` are per-event arrays of equal length, resampled together; ``statistic`` takes
    them stacked as ``(resamples, events)`` and returns named arrays of shape ``(resamples,)``.
    The resamples are drawn in chunks so that memory stays bounded for large samples.
    """
    n = columns[0].size
    chunk = max(1, _MAX_BOOTSTRAP_CELLS // n)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, n_bootstrap, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))
        for q, values in statistic(*(c[idx] for c in columns)).items():
            parts.setdefault(q, []).append(values)
    return {q: np.concatenate(v) for q, v in parts.items()}


def replica_intervals(replicas: dict[str, np.ndarray]) -> dict[str, tuple[float | None, float | None]]:
    """Percentile 68.27 % interval of each quantity's replicas (:func:`statistics.percentile_interval`);
    ``(None, None)`` where a resample leaves it undefined."""
    return {
        q: statistics.percentile_interval(v) if np.all(np.isfinite(v)) else (None, None)
        for q, v in replicas.items()
    }


def bootstrap_intervals(
    energy_true: np.ndarray, energy_pred: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> dict[str, tuple[float | None, float | None]]:
    """Percentile-bootstrap 68.27 % interval ``(lo, hi)`` of every quantity; ``(None, None)``
    where a resample leaves it undefined."""
    e_true, e_pred = check_energies(energy_true, energy_pred)
    if e_true.size == 0:
        return {q: (None, None) for q in QUANTITIES}
    residual = e_pred - e_true
    replicas = bootstrap_replicas((residual, residual / e_true), _statistics, n_bootstrap, rng)
    return replica_intervals({q: replicas[q] for q in QUANTITIES})


def summarize(
    energy_true: np.ndarray, energy_pred: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> dict:
    """``{"n": events, quantity: {"value", "lo", "hi"}}`` for one sample."""
    values = point_estimates(energy_true, energy_pred)
    intervals = bootstrap_intervals(energy_true, energy_pred, n_bootstrap, rng)
    out: dict = {"n": int(np.size(energy_true))}
    for q in QUANTITIES:
        lo, hi = intervals[q]
        out[q] = {"value": values[q], "lo": lo, "hi": hi}
    return out


def _binned_metrics(
    e_true: np.ndarray, e_pred: np.ndarray, settings: EvaluationSettings, rng: np.random.Generator
) -> dict:
    """The ``bins`` entry of :func:`compute_metrics`: a :func:`summarize` per bin of true energy."""
    bins_eev = settings.energy_bins_eev
    edges = bins_eev.edges()
    n_bins = len(edges) - 1
    idx = statistics.bin_index(e_true, edges)
    bins: dict = {
        "edges_eev": edges.tolist(),
        "center_eev": statistics.bin_centers(edges, bins_eev.spacing).tolist(),
        "spacing": bins_eev.spacing,
        "n": [int(np.count_nonzero(idx == i)) for i in range(n_bins)],
        "n_outside": int(np.count_nonzero(idx < 0)),
    }
    cells = [summarize(e_true[idx == i], e_pred[idx == i], settings.bootstrap, rng) for i in range(n_bins)]
    return {**bins, **by_quantity(cells, QUANTITIES)}


def compute_metrics(
    energy_true: np.ndarray,
    energy_pred: np.ndarray,
    settings: EvaluationSettings,
    rng: np.random.Generator,
) -> dict:
    """All metrics of one model and seed, as a JSON-ready dict.

    Layout::

        {"n_events", "n_bootstrap", "interval", "definitions",
         "overall": {"n", <quantity>: {"value", "lo", "hi"}, ...},
         "bins": {"edges_eev", "center_eev", "spacing", "n", "n_outside",
                  <quantity>: {"value": [...], "lo": [...], "hi": [...]}, ...}}

    Bins are in true energy; events outside the bin range count in ``overall`` and in
    ``bins.n_outside`` only. Undefined entries (empty bins, spreads of single events) are None.
    The bootstrap draws of ``rng`` go to the overall sample first, then to the bins in order.
    """
    e_true, e_pred = check_energies(energy_true, energy_pred)
    overall = summarize(e_true, e_pred, settings.bootstrap, rng)
    bins = _binned_metrics(e_true, e_pred, settings, rng)
    return {
        "n_events": int(e_true.size),
        "n_bootstrap": settings.bootstrap,
        "interval": statistics.INTERVAL,
        "definitions": dict(QUANTITIES),
        "overall": overall,
        "bins": bins,
    }

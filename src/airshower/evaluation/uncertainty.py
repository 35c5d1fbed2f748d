"""Metrics of a per-event uncertainty: how well a model's predicted ``energy_sigma`` describes
its actual errors (only for models whose ``predictions.h5`` has it).

For an event with true energy ``E_true``, reconstructed energy ``E_rec`` (``energy_pred``) and
predicted 1-sigma uncertainty ``sigma`` (``energy_sigma``), all in EeV:

- pull ``p = (E_rec - E_true) / sigma``; a calibrated Gaussian uncertainty gives ``p ~ N(0, 1)``;
- ``pull_mean = mean(p)``, ``pull_width = std(p)`` (:func:`airshower.statistics.spread`,
  ``ddof=1``) and the robust ``pull_width68`` (:func:`airshower.statistics.robust_spread`,
  half-width of the central 68.27 % of ``p``), 1 when calibrated;
- coverage ``coverage68`` = fraction of events with ``|p| <= 1`` and ``coverage95`` = fraction
  with ``|p| <= 1.96``: how often the interval ``E_rec -+ z sigma`` holds the true energy, nominal
  ``erf(z / sqrt(2))`` = 0.6827 and 0.9500 (:data:`NOMINAL`);
- calibration curve: the events in :data:`CALIBRATION_BINS` quantile (equal-population) bins of
  the predicted ``sigma``; per bin the predicted ``sqrt(mean(sigma^2))`` (and ``mean(sigma)``)
  against the observed spread ``std(E_rec - E_true)`` and robust spread of the residuals, which
  agree for a calibrated uncertainty (the residuals of a bin are a mixture of Gaussians of widths
  ``sigma_i``, whose variance is ``mean(sigma_i^2)``). The relative version does the same with
  ``sigma / E_rec`` against ``(E_rec - E_true) / E_rec`` in bins of ``sigma / E_rec``: per event
  the ratio of the two is the pull again, so it is calibrated exactly when the pulls are;
- cut: the :data:`KEEP_FRACTION` (90 %) of the events with the smallest predicted relative
  uncertainty ``sigma / E_rec`` and their bias and resolution
  (:func:`airshower.evaluation.resolution.summarize`), to compare with all events'.

Why quantile bins of the predicted uncertainty: every bin holds the same number of events (equal
statistical precision) over the factor-of-ten range of ``sigma``, and the bins are chosen on a
quantity the model predicts (a function of its inputs), never on ``E_true``, which would select on
the residual. The 68 % intervals are percentile-bootstrap intervals like those of
:mod:`.resolution` (the events resampled ``bootstrap`` times).
"""

from __future__ import annotations

import math

import numpy as np

from airshower import statistics, widths
from airshower.evaluation.resolution import bootstrap_replicas, check_energies, replica_intervals, summarize
from airshower.evaluation.settings import EvaluationSettings
from airshower.evaluation.target_base import binned_entries, by_quantity, energy_binning

COVERAGE_Z = {"coverage68": 1.0, "coverage95": 1.96}  # |pull| bound of each coverage
NOMINAL = {q: math.erf(z / math.sqrt(2.0)) for q, z in COVERAGE_Z.items()}  # Gaussian coverage
UNCERTAINTY_QUANTITIES: dict[str, str] = {
    "coverage68": "fraction of events with |E_rec - E_true| <= sigma",
    "coverage95": "fraction of events with |E_rec - E_true| <= 1.96 sigma",
    "pull_mean": "mean((E_rec - E_true) / sigma)",
    "pull_width": "std((E_rec - E_true) / sigma) (ddof=1)",
    "pull_width68": "half-width of the central 68.27 % interval of (E_rec - E_true) / sigma",
}
CALIBRATION_BINS = 8  # quantile bins of the predicted uncertainty
KEEP_FRACTION = 0.9  # events kept by the cut on the predicted relative uncertainty
_OBSERVED = ("observed_spread", "observed_robust_spread")


def check_sigma(energy_pred: np.ndarray, energy_sigma: np.ndarray) -> np.ndarray:
    """``energy_sigma`` as float64, after checking one positive finite value per prediction.

    Raises ValueError naming the dataset, how many events fail and the first of them.
    """
    sigma = np.asarray(energy_sigma, dtype=np.float64).ravel()
    if sigma.size != np.size(energy_pred):
        raise ValueError(f"energy_sigma has {sigma.size} events, energy_pred {np.size(energy_pred)}")
    return widths.check_width(sigma, "energy_sigma", "EeV")


def pulls(energy_true: np.ndarray, energy_pred: np.ndarray, energy_sigma: np.ndarray) -> np.ndarray:
    """The pull ``(E_rec - E_true) / sigma`` of every event (dimensionless)."""
    e_pred = np.asarray(energy_pred, dtype=np.float64)
    return (e_pred - np.asarray(energy_true, dtype=np.float64)) / check_sigma(e_pred, energy_sigma)


def relative_sigma(energy_pred: np.ndarray, energy_sigma: np.ndarray) -> np.ndarray:
    """The predicted relative uncertainty ``sigma / E_rec``; infinite where ``E_rec <= 0`` (no
    relative uncertainty: such events are cut first and stay out of the relative calibration)."""
    e_pred = np.asarray(energy_pred, dtype=np.float64)
    sigma = check_sigma(e_pred, energy_sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(e_pred > 0, sigma / e_pred, np.inf)


def coverage(pull: np.ndarray, z: float) -> np.ndarray:
    """Fraction of the pulls with ``|pull| <= z`` along the last axis."""
    return np.mean(np.abs(pull) <= z, axis=-1)


def _pull_statistics(pull: np.ndarray) -> dict[str, np.ndarray]:
    """Every quantity of :data:`UNCERTAINTY_QUANTITIES` along the last axis (events)."""
    out = {q: coverage(pull, z) for q, z in COVERAGE_Z.items()}
    out["pull_mean"] = pull.mean(axis=-1)
    out["pull_width"] = statistics.spread(pull)
    out["pull_width68"] = statistics.robust_spread(pull)
    return out


def _entry(value, interval: tuple[float | None, float | None]) -> dict:
    value = float(value)
    return {"value": value if math.isfinite(value) else None, "lo": interval[0], "hi": interval[1]}


def pull_metrics(pull: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> dict:
    """``{quantity: {"value", "lo", "hi"}}`` of :data:`UNCERTAINTY_QUANTITIES` for the pulls,
    with percentile-bootstrap 68 % intervals; None where undefined (fewer than two events)."""
    pull = np.asarray(pull, dtype=np.float64)
    if pull.size < 2:
        return {q: {"value": None, "lo": None, "hi": None} for q in UNCERTAINTY_QUANTITIES}
    values = _pull_statistics(pull)
    intervals = replica_intervals(bootstrap_replicas((pull,), _pull_statistics, n_bootstrap, rng))
    return {q: _entry(values[q], intervals[q]) for q in UNCERTAINTY_QUANTITIES}


def quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges of up to ``n_bins`` equal-population bins of ``values`` (their quantiles; repeated
    quantiles merged, so ties can leave fewer bins)."""
    edges = np.unique(np.quantile(np.asarray(values, dtype=np.float64), np.linspace(0.0, 1.0, n_bins + 1)))
    return edges if edges.size >= 2 else np.repeat(edges, 2)


def _observed(residual: np.ndarray) -> dict[str, np.ndarray]:
    """Spread (ddof=1) and robust spread of the residuals along the last axis."""
    return {
        "observed_spread": statistics.spread(residual),
        "observed_robust_spread": statistics.robust_spread(residual),
    }


def _calibration_cell(predicted: np.ndarray, residual: np.ndarray, n_bootstrap: int, rng) -> dict:
    """Predicted and observed widths of one bin; observed ones with bootstrap intervals. None
    where undefined: everything in an empty bin, the spreads of a single event."""
    none = {"value": None, "lo": None, "hi": None}
    if residual.size == 0:
        return {
            "n": 0,
            **dict.fromkeys(("predicted_mean", "predicted_rms", "observed_bias")),
            **dict.fromkeys(_OBSERVED, none),
        }
    cell = {
        "n": int(residual.size),
        "predicted_mean": float(np.mean(predicted)),
        "predicted_rms": float(np.sqrt(np.mean(predicted**2))),
        "observed_bias": float(np.mean(residual)),
    }
    if residual.size < 2:
        return {**cell, **dict.fromkeys(_OBSERVED, none)}
    values = _observed(residual)
    intervals = replica_intervals(bootstrap_replicas((residual,), _observed, n_bootstrap, rng))
    return {**cell, **{q: _entry(values[q], intervals[q]) for q in _OBSERVED}}


def calibration_curve(
    predicted: np.ndarray, residual: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> dict:
    """Predicted width against observed spread of the residuals in quantile bins of ``predicted``.

    Parameters
    ----------
    predicted
        per-event predicted 1-sigma width (``sigma`` in EeV, or ``sigma / E_rec``).
    residual
        per-event residual in the same unit (``E_rec - E_true``, or ``(E_rec - E_true) / E_rec``).
        Events with a non-finite ``predicted`` are left out and counted in ``n_outside``.

    Returns
    -------
    dict
        ``{"edges": [...], "n_outside", "n": [...], "predicted_mean": [...], "predicted_rms": [...],
        "observed_bias": [...], "observed_spread": {"value", "lo", "hi"},
        "observed_robust_spread": {...}}``, one entry per bin (:func:`quantile_edges`,
        :data:`CALIBRATION_BINS`; bin ``i`` holds ``edges[i] <= predicted < edges[i+1]``, the
        last one its upper edge too). Calibrated: ``observed_spread`` = ``predicted_rms``.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    residual = np.asarray(residual, dtype=np.float64)
    finite = np.isfinite(predicted)
    if not finite.any():
        return {"edges": [], "n": [], "n_outside": int(predicted.size)}
    edges = quantile_edges(predicted[finite], CALIBRATION_BINS)
    idx = statistics.bin_index(predicted, edges)
    cells = [
        _calibration_cell(predicted[idx == k], residual[idx == k], n_bootstrap, rng)
        for k in range(len(edges) - 1)
    ]
    out: dict = {"edges": edges.tolist(), "n_outside": int(np.count_nonzero(idx < 0))}
    for key in ("n", "predicted_mean", "predicted_rms", "observed_bias"):
        out[key] = [cell[key] for cell in cells]
    return {**out, **by_quantity(cells, _OBSERVED)}


def cut_metrics(
    energy_true: np.ndarray,
    energy_pred: np.ndarray,
    energy_sigma: np.ndarray,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> dict:
    """Bias and resolution of the events kept by a cut on the predicted relative uncertainty.

    The cut keeps the ``round(0.9 n)`` of the ``n`` events (:data:`KEEP_FRACTION`) with the
    smallest ``sigma / E_rec`` (:func:`relative_sigma`: events with ``E_rec <= 0`` go first; equal
    widths in event order).

    Returns
    -------
    dict
        ``{"keep_fraction", "max_relative_sigma", "n", quantity: {"value", "lo", "hi"}}``: the
        largest relative uncertainty kept, the events kept and the quantities of
        :func:`airshower.evaluation.resolution.summarize` for them.
    """
    e_true = np.asarray(energy_true, dtype=np.float64)
    e_pred = np.asarray(energy_pred, dtype=np.float64)
    rel = relative_sigma(e_pred, energy_sigma)
    keep = np.sort(np.argsort(rel, kind="stable")[: round(KEEP_FRACTION * rel.size)])
    threshold = float(rel[keep].max()) if keep.size else None
    kept = summarize(e_true[keep], e_pred[keep], n_bootstrap, rng)
    return {"keep_fraction": KEEP_FRACTION, "max_relative_sigma": threshold, **kept}


# the pull statistics of every bin of true energy (the calibration's test per bin)
BIN_QUANTITIES = {
    "coverage68": lambda p: coverage(p, COVERAGE_Z["coverage68"]),
    "coverage95": lambda p: coverage(p, COVERAGE_Z["coverage95"]),
    "pull_mean": np.mean,
    "pull_width": statistics.spread,
}


def binned_pulls(energy_true: np.ndarray, pull: np.ndarray, settings: EvaluationSettings, rng) -> dict:
    """Coverage of the 68 % and 95 % intervals, mean and width of the pulls in every bin of true
    energy (``settings.energy_bins_eev``), with bootstrap intervals: the edges' header of
    :func:`airshower.evaluation.target_base.energy_binning` and one list per quantity. Binned on
    the true energy, as the resolution is: a calibration that holds overall but not at the ends of
    the energy range shows here (a bias at an edge is a pull mean away from 0)."""
    index, header = energy_binning(energy_true, settings)
    return binned_entries(index, header, (pull,), BIN_QUANTITIES, settings.bootstrap, rng)


def uncertainty_metrics(
    energy_true: np.ndarray,
    energy_pred: np.ndarray,
    energy_sigma: np.ndarray,
    settings: EvaluationSettings,
    rng: np.random.Generator,
) -> dict:
    """Every metric of a per-event uncertainty, as a JSON-ready dict (``metrics/energy.json``'s
    ``uncertainty``).

    Layout::

        {"n_events", "definitions", "nominal": {"coverage68", "coverage95"},
         "overall": {<quantity>: {"value", "lo", "hi"}, ...},
         "calibration": {"absolute": <calibration_curve in EeV>,
                         "relative": <calibration_curve in units of E_rec>},
         "cut": <cut_metrics>, "bins": <binned_pulls>}

    The bootstrap draws of ``rng`` go to the pulls, then the calibration bins (absolute,
    relative), then the cut, then the bins of true energy.
    """
    e_true, e_pred = check_energies(energy_true, energy_pred)
    sigma = check_sigma(e_pred, energy_sigma)
    residual = e_pred - e_true
    n_boot = settings.bootstrap
    overall = pull_metrics(residual / sigma, n_boot, rng)
    absolute = calibration_curve(sigma, residual, n_boot, rng)
    relative_residual = np.divide(residual, e_pred, out=np.full_like(residual, np.nan), where=e_pred > 0)
    relative = calibration_curve(relative_sigma(e_pred, sigma), relative_residual, n_boot, rng)
    return {
        "n_events": int(e_true.size),
        "definitions": dict(UNCERTAINTY_QUANTITIES),
        "nominal": dict(NOMINAL),
        "overall": overall,
        "calibration": {
            "absolute": {"unit": "EeV", **absolute},
            "relative": {"unit": "1 (fraction of E_rec)", **relative},
        },
        "cut": cut_metrics(e_true, e_pred, sigma, n_boot, rng),
        "bins": binned_pulls(e_true, residual / sigma, settings, rng),
    }

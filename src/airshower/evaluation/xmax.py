"""Metrics of the reconstructed depth of shower maximum Xmax of one model and seed.

Per event the residual ``xmax_pred - xmax`` (g/cm^2). Quoted, over all events and in bins of
true energy, each with its 68.27 % percentile-bootstrap interval:

- bias: ``mean(xmax_pred - xmax)``;
- resolution: ``spread(xmax_pred - xmax)`` (sample standard deviation, ``ddof=1``);
- resolved fraction: in one energy bin ``1 - resolution^2 / spread(xmax)^2``, the fraction of
  the intrinsic (true, shower-to-shower plus composition) Xmax variance of that bin that the
  reconstruction resolves: 1 for a perfect reconstruction, 0 when the residuals scatter as much
  as the true Xmax itself (no better than quoting the bin's mean), negative when worse. The
  energy bin keeps the elongation rate (the rise of the mean Xmax with energy) out of the
  intrinsic spread. The overall value is the mean over the energy bins weighted by their events
  (bins with fewer than two events and events outside the bins left out), not the fraction of the
  whole sample, whose spread the elongation rate would inflate.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from airshower import statistics
from airshower.evaluation import target_base as base
from airshower.evaluation import width_metrics

DEFINITIONS = {
    "bias_gcm2": "mean of xmax_pred - xmax (g/cm^2)",
    "resolution_gcm2": "std of xmax_pred - xmax (g/cm^2, ddof=1)",
    "resolved_fraction": (
        "1 - resolution^2 / std(xmax)^2 per bin of true energy (ddof=1); overall: the mean over "
        "the energy bins weighted by their events"
    ),
}
DATASETS = ("energy_true", "xmax", "xmax_pred")


def resolved_fraction(residual: np.ndarray, xmax_true: np.ndarray) -> float:
    """``1 - spread(residual)^2 / spread(xmax_true)^2`` of one sample (NaN below two events or
    for a sample without true spread)."""
    if len(residual) < 2:
        return float("nan")
    true_var = statistics.spread(xmax_true) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(1.0 - statistics.spread(residual) ** 2 / true_var)


def weighted_resolved_fraction(residual: np.ndarray, xmax_true: np.ndarray, index: np.ndarray) -> float:
    """The mean over bins (``index`` from :func:`airshower.statistics.bin_index`) of
    :func:`resolved_fraction`, weighted by the bins' events; bins where it is undefined and
    events outside (index -1) left out; NaN when no bin has it."""
    fractions, weights = [], []
    for k in np.unique(index[index >= 0]):
        sel = index == k
        f = resolved_fraction(residual[sel], xmax_true[sel])
        if np.isfinite(f):
            fractions.append(f)
            weights.append(np.count_nonzero(sel))
    if not weights:
        return float("nan")
    return float(np.average(fractions, weights=weights))


BIN_QUANTITIES: base.Quantities = {
    "bias_gcm2": lambda res, _true: res.mean(),
    "resolution_gcm2": lambda res, _true: statistics.spread(res) if len(res) > 1 else np.nan,
    "resolved_fraction": resolved_fraction,
}
OVERALL_QUANTITIES: base.Quantities = {
    "bias_gcm2": lambda res, _true, _idx: res.mean(),
    "resolution_gcm2": lambda res, _true, _idx: statistics.spread(res) if len(res) > 1 else np.nan,
    "resolved_fraction": weighted_resolved_fraction,
}


def xmax_metrics(
    pred: Mapping[str, np.ndarray],
    settings,
    target_settings: Mapping,  # noqa: ARG001 (the registry's signature; targets.xmax has no keys)
    rng: np.random.Generator,
    *,
    substream=None,
    **_extra,
) -> dict:
    """Xmax metrics of one run, JSON-ready.

    Layout::

        {"target": "xmax", "n_events", "n_bootstrap", "interval", "definitions",
         "overall": {"n", "bias_gcm2": {"value", "lo", "hi"}, "resolution_gcm2": {...},
                     "resolved_fraction": {...}},
         "bins": {"edges_eev", "center_eev", "spacing", "n", "n_outside",
                  "true_spread_gcm2": [...], <quantity>: {"value": [...], "lo": [...], "hi": [...]}}}

    ``true_spread_gcm2`` is the spread of the true Xmax per bin (the denominator of the
    resolved fraction). The overall resolved fraction is bootstrapped by resampling all events
    and rebinning them.
    """
    data = base.require(pred, DATASETS, "xmax")
    residual, xmax_true = data["xmax_pred"] - data["xmax"], data["xmax"]
    idx, header = base.energy_binning(data["energy_true"], settings)
    overall = base.entries((residual, xmax_true, idx), OVERALL_QUANTITIES, settings.bootstrap, rng)
    bins = base.binned_entries(idx, header, (residual, xmax_true), BIN_QUANTITIES, settings.bootstrap, rng)
    true_spread = statistics.binned(xmax_true, idx, len(header["n"]), _spread_or_nan)
    bins["true_spread_gcm2"] = [base.finite(v) for v in true_spread]
    widths = width_metrics.uncertainty_parts(
        "xmax", pred, settings, substream, _spread_or_nan, "resolution_gcm2"
    )
    return base.record("xmax", DEFINITIONS, residual.size, settings, overall=overall, bins=bins, **widths)


def _spread_or_nan(values: np.ndarray) -> float:
    return float(statistics.spread(values)) if len(values) > 1 else float("nan")


def shift_columns(pred: Mapping[str, np.ndarray], _classes=()) -> dict:
    """The per-event residual ``xmax_pred - xmax`` (g/cm^2) the shifts resample."""
    d = base.require(pred, ("xmax", "xmax_pred"), "xmax")
    return {"residual": d["xmax_pred"] - d["xmax"], **width_metrics.shift_width("xmax", pred)}


SPEC = base.TargetEvaluation(
    metrics=xmax_metrics,
    stream=(4,),
    headlines=(
        base.Headline("bias_gcm2", ("overall", "bias_gcm2"), "bias [g/cm²]"),
        base.Headline("resolution_gcm2", ("overall", "resolution_gcm2"), "resolution [g/cm²]"),
        base.Headline("resolved_fraction", ("overall", "resolved_fraction"), "resolved fraction [%]", 100.0),
        *width_metrics.headlines("xmax", ("resolution_gcm2", "resolution, 90 % kept [g/cm²]")),
    ),
    groups={width_metrics.UNCERTAINTIES: width_metrics.group_note("xmax")},
    front="resolution_gcm2",
    note="bias = mean(X_max,rec − X_max), resolution = std(X_max,rec − X_max) (ddof = 1); resolved "
    "fraction = 1 − resolution² / std(X_max)² in each bin of true energy, averaged over the bins "
    "weighted by their events.",
    shifts=(
        base.Shift(
            "bias_gcm2",
            "xmax_bias_shift_gcm2",
            "X_max bias shift [g/cm²]",
            r"shift of the $X_\mathrm{max}$ bias [g cm$^{-2}$]",
            lambda s: BIN_QUANTITIES["bias_gcm2"](s["residual"], None),
            value_label=r"$X_\mathrm{max}$ bias [g cm$^{-2}$]",
        ),
        base.Shift(
            "resolution_gcm2",
            "xmax_resolution_shift_gcm2",
            "X_max resolution shift [g/cm²]",
            r"shift of the $X_\mathrm{max}$ resolution [g cm$^{-2}$]",
            lambda s: BIN_QUANTITIES["resolution_gcm2"](s["residual"], None),
            value_label=r"$X_\mathrm{max}$ resolution [g cm$^{-2}$]",
        ),
        width_metrics.coverage_shift("xmax", lambda s: s["residual"]),
    ),
    shift_columns=shift_columns,
)

"""Metrics of the reconstructed relative muon content R_mu of one model and seed.

R_mu (``showers.h5:muon``, :func:`airshower.simulation.shower.relative_muon_content`) is the
muon signal at 1000 m from the axis relative to a proton shower's of the same energy before
attenuation: about 0.9 for protons and 1.3 for iron in the toy. Per event the residual
``muon_pred - muon`` (in units of that proton reference, so x 100 a per cent of it). Quoted, over
all events and in bins of true energy, each with its 68.27 % percentile-bootstrap interval:

- bias: ``mean(muon_pred - muon)``;
- resolution: ``spread(muon_pred - muon)`` (``ddof=1``);
- resolved fraction: ``1 - resolution^2 / spread(muon)^2`` per energy bin, the fraction of the
  true shower-to-shower (and composition) variance of R_mu that the reconstruction resolves,
  averaged over the bins weighted by their events (as Xmax's, :mod:`.xmax`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from airshower import statistics
from airshower.evaluation import target_base as base
from airshower.evaluation import width_metrics
from airshower.evaluation.xmax import resolved_fraction, weighted_resolved_fraction

DEFINITIONS = {
    "bias_pct": "100 mean(muon_pred - muon) (per cent of the proton reference R_mu = 1)",
    "resolution_pct": "100 std(muon_pred - muon) (ddof=1)",
    "resolved_fraction": (
        "1 - resolution^2 / std(muon)^2 per bin of true energy (ddof=1); overall: the mean over "
        "the energy bins weighted by their events"
    ),
}
DATASETS = ("energy_true", "muon", "muon_pred")


def _spread_or_nan(values: np.ndarray) -> float:
    return float(statistics.spread(values)) if len(values) > 1 else float("nan")


BIN_QUANTITIES: base.Quantities = {
    "bias_pct": lambda res, _true: 100.0 * res.mean(),
    "resolution_pct": lambda res, _true: 100.0 * _spread_or_nan(res),
    "resolved_fraction": resolved_fraction,
}
OVERALL_QUANTITIES: base.Quantities = {
    "bias_pct": lambda res, _true, _idx: 100.0 * res.mean(),
    "resolution_pct": lambda res, _true, _idx: 100.0 * _spread_or_nan(res),
    "resolved_fraction": weighted_resolved_fraction,
}


def muon_metrics(
    pred: Mapping[str, np.ndarray],
    settings,
    target_settings: Mapping,  # noqa: ARG001 (the registry's signature; targets.muon has no keys)
    rng: np.random.Generator,
    *,
    substream=None,
    **_extra,
) -> dict:
    """R_mu metrics of one run, JSON-ready: the layout of :func:`.xmax.xmax_metrics` with
    ``bias_pct``, ``resolution_pct``, ``resolved_fraction`` and ``bins.true_spread_pct``."""
    data = base.require(pred, DATASETS, "muon")
    residual, muon_true = data["muon_pred"] - data["muon"], data["muon"]
    idx, header = base.energy_binning(data["energy_true"], settings)
    overall = base.entries((residual, muon_true, idx), OVERALL_QUANTITIES, settings.bootstrap, rng)
    bins = base.binned_entries(idx, header, (residual, muon_true), BIN_QUANTITIES, settings.bootstrap, rng)
    true_spread = statistics.binned(muon_true, idx, len(header["n"]), _spread_or_nan)
    bins["true_spread_pct"] = [base.finite(100.0 * v) for v in true_spread]
    widths = width_metrics.uncertainty_parts(
        "muon", pred, settings, substream, lambda r: 100.0 * _spread_or_nan(r), "resolution_pct"
    )
    return base.record("muon", DEFINITIONS, residual.size, settings, overall=overall, bins=bins, **widths)


def shift_columns(pred: Mapping[str, np.ndarray], _classes=()) -> dict:
    """The per-event residual ``muon_pred - muon`` the shifts resample."""
    d = base.require(pred, ("muon", "muon_pred"), "muon")
    return {"residual": d["muon_pred"] - d["muon"], **width_metrics.shift_width("muon", pred)}


SPEC = base.TargetEvaluation(
    metrics=muon_metrics,
    stream=(6,),
    headlines=(
        base.Headline("bias_pct", ("overall", "bias_pct"), "bias [%]"),
        base.Headline("resolution_pct", ("overall", "resolution_pct"), "resolution [%]"),
        base.Headline("resolved_fraction", ("overall", "resolved_fraction"), "resolved fraction [%]", 100.0),
        *width_metrics.headlines("muon", ("resolution_pct", "resolution, 90 % kept [%]")),
    ),
    groups={width_metrics.UNCERTAINTIES: width_metrics.group_note("muon")},
    front="resolution_pct",
    note="R_μ = muon signal at 1000 m relative to a proton shower's of the same energy before "
    "attenuation (≈ 0.9 for protons, 1.3 for iron); bias = 100 mean(R_μ,rec − R_μ), resolution = 100 "
    "std(R_μ,rec − R_μ) (ddof = 1), in per cent of the proton reference; resolved fraction = 1 − "
    "resolution² / std(R_μ)² in each bin of true energy, averaged over the bins weighted by their events.",
    shifts=(
        base.Shift(
            "bias_pct",
            "muon_bias_shift_pct",
            "R_μ bias shift [%]",
            r"shift of the $R_\mu$ bias [%]",
            lambda s: BIN_QUANTITIES["bias_pct"](s["residual"], None),
            value_label=r"$R_\mu$ bias [%]",
        ),
        base.Shift(
            "resolution_pct",
            "muon_resolution_shift_pct",
            "R_μ resolution shift [%]",
            r"shift of the $R_\mu$ resolution [%]",
            lambda s: BIN_QUANTITIES["resolution_pct"](s["residual"], None),
            value_label=r"$R_\mu$ resolution [%]",
        ),
        width_metrics.coverage_shift("muon", lambda s: s["residual"]),
    ),
    shift_columns=shift_columns,
)

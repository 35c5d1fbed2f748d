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

from airshower.evaluation.scalar import resolved_fraction, scalar_spec, weighted_resolved_fraction

DEFINITIONS = {
    "bias_gcm2": "mean of xmax_pred - xmax (g/cm^2)",
    "resolution_gcm2": "std of xmax_pred - xmax (g/cm^2, ddof=1)",
    "resolved_fraction": (
        "1 - resolution^2 / std(xmax)^2 per bin of true energy (ddof=1); overall: the mean over "
        "the energy bins weighted by their events"
    ),
}

SPEC = scalar_spec(
    "xmax",
    "gcm2",
    1.0,
    DEFINITIONS,
    stream=(4,),
    labels={
        "unit": "g/cm²",
        "tex_unit": r"g cm$^{-2}$",
        "symbol": "X_max",
        "tex_symbol": r"$X_\mathrm{max}$",
    },
    note="bias = mean(X_max,rec − X_max), resolution = std(X_max,rec − X_max) (ddof = 1); resolved "
    "fraction = 1 − resolution² / std(X_max)² in each bin of true energy, averaged over the bins "
    "weighted by their events.",
)
xmax_metrics = SPEC.metrics
__all__ = ["DEFINITIONS", "SPEC", "resolved_fraction", "weighted_resolved_fraction", "xmax_metrics"]

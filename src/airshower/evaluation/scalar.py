"""Metrics of a real-valued target of one model and seed (Xmax, :mod:`.xmax`; the relative muon
content, :mod:`.muon`), declared once: :func:`scalar_spec`.

Per event the residual ``predicted - truth``, times the target's ``scale`` (1 for Xmax in
g/cm^2; 100 for R_mu, in per cent of its proton reference). Quoted, over all events and in bins of
true energy, each with its 68.27 % percentile-bootstrap interval:

- bias: ``mean(residual)``;
- resolution: ``spread(residual)`` (sample standard deviation, ``ddof=1``);
- resolved fraction: in one energy bin ``1 - resolution^2 / spread(truth)^2``, the fraction of
  the intrinsic (true, shower-to-shower plus composition) variance of that bin that the
  reconstruction resolves: 1 for a perfect reconstruction, 0 when the residuals scatter as much
  as the truth itself (no better than quoting the bin's mean), negative when worse. The energy
  bin keeps the rise of the mean with energy (Xmax's elongation rate) out of the intrinsic
  spread. The overall value is the mean over the energy bins weighted by their events (bins with
  fewer than two events and events outside the bins left out), not the fraction of the whole
  sample, whose spread that rise would inflate.

The record's layout::

    {"target", "n_events", "n_bootstrap", "interval", "definitions",
     "overall": {"n", "bias_<unit>": {"value", "lo", "hi"}, "resolution_<unit>": {...},
                 "resolved_fraction": {...}},
     "bins": {"edges_eev", "center_eev", "spacing", "n", "n_outside",
              "true_spread_<unit>": [...], <quantity>: {"value": [...], "lo": [...], "hi": [...]}}}

``true_spread_<unit>`` is the spread of the truth per bin (the denominator of the resolved
fraction). The overall resolved fraction is bootstrapped by resampling all events and rebinning
them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from airshower import statistics
from airshower.evaluation import target_base as base
from airshower.evaluation import width_metrics
from airshower.targets import TARGETS


def resolved_fraction(residual: np.ndarray, true: np.ndarray) -> float:
    """``1 - spread(residual)^2 / spread(true)^2`` of one sample (NaN below two events or for a
    sample without true spread)."""
    if len(residual) < 2:
        return float("nan")
    true_var = statistics.spread(true) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(1.0 - statistics.spread(residual) ** 2 / true_var)


def weighted_resolved_fraction(residual: np.ndarray, true: np.ndarray, index: np.ndarray) -> float:
    """The mean over bins (``index`` from :func:`airshower.statistics.bin_index`) of
    :func:`resolved_fraction`, weighted by the bins' events; bins where it is undefined and
    events outside (index -1) left out; NaN when no bin has it."""
    fractions, weights = [], []
    for k in np.unique(index[index >= 0]):
        sel = index == k
        f = resolved_fraction(residual[sel], true[sel])
        if np.isfinite(f):
            fractions.append(f)
            weights.append(np.count_nonzero(sel))
    if not weights:
        return float("nan")
    return float(np.average(fractions, weights=weights))


def spread_or_nan(values: np.ndarray) -> float:
    return float(statistics.spread(values)) if len(values) > 1 else float("nan")


def quantities(unit: str, scale: float) -> tuple[base.Quantities, base.Quantities]:
    """The per-bin and the overall quantities of the residuals, ``bias_<unit>`` and
    ``resolution_<unit>`` times ``scale``, and the resolved fraction."""
    per_bin = {
        f"bias_{unit}": lambda res, _true: scale * res.mean(),
        f"resolution_{unit}": lambda res, _true: scale * spread_or_nan(res),
        "resolved_fraction": resolved_fraction,
    }
    overall = {
        f"bias_{unit}": lambda res, _true, _idx: scale * res.mean(),
        f"resolution_{unit}": lambda res, _true, _idx: scale * spread_or_nan(res),
        "resolved_fraction": weighted_resolved_fraction,
    }
    return per_bin, overall


def scalar_spec(
    target: str,
    unit: str,
    scale: float,
    definitions: Mapping[str, str],
    stream: tuple[int, ...],
    labels: Mapping[str, str],
    note: str,
) -> base.TargetEvaluation:
    """The evaluation of the scalar ``target`` (:data:`airshower.targets.TARGETS`): residuals
    ``predicted - truth`` times ``scale``, quantities named ``*_<unit>`` (module docstring), its
    width's metrics where it has one, its shifts. ``labels``: ``unit`` (tables), ``tex_unit``,
    ``symbol`` (tables) and ``tex_symbol`` (figures)."""
    spec = TARGETS[target]
    truth, predicted = spec.truth, spec.predicted
    per_bin, overall_quantities = quantities(unit, scale)
    bias, resolution = f"bias_{unit}", f"resolution_{unit}"

    def metrics(pred, settings, target_settings, rng, *, substream=None, **_extra) -> dict:  # noqa: ARG001
        data = base.require(pred, ("energy_true", truth, predicted), target)
        residual, true = data[predicted] - data[truth], data[truth]
        idx, header = base.energy_binning(data["energy_true"], settings)
        overall = base.entries((residual, true, idx), overall_quantities, settings.bootstrap, rng)
        bins = base.binned_entries(idx, header, (residual, true), per_bin, settings.bootstrap, rng)
        true_spread = statistics.binned(true, idx, len(header["n"]), spread_or_nan)
        bins[f"true_spread_{unit}"] = [base.finite(scale * v) for v in true_spread]
        widths = width_metrics.uncertainty_parts(
            target, pred, settings, substream, lambda r: scale * spread_or_nan(r), resolution
        )
        return base.record(target, definitions, residual.size, settings, overall=overall, bins=bins, **widths)

    def shift_columns(pred: Mapping[str, np.ndarray], _classes=()) -> dict:
        d = base.require(pred, (truth, predicted), target)
        return {"residual": d[predicted] - d[truth], **width_metrics.shift_width(target, pred)}

    def shift(quantity: str, what: str) -> base.Shift:
        name = f"{target}_{quantity.split('_')[0]}_shift_{unit}"
        tex = f"{labels['tex_symbol']} {what} [{labels['tex_unit']}]"
        return base.Shift(
            quantity,
            name,
            f"{labels['symbol']} {what} shift [{labels['unit']}]",
            f"shift of the {labels['tex_symbol']} {what} [{labels['tex_unit']}]",
            lambda s: per_bin[quantity](s["residual"], None),
            value_label=tex,
        )

    return base.TargetEvaluation(
        metrics=metrics,
        stream=stream,
        headlines=(
            base.Headline(bias, ("overall", bias), f"bias [{labels['unit']}]"),
            base.Headline(resolution, ("overall", resolution), f"resolution [{labels['unit']}]"),
            base.Headline(
                "resolved_fraction", ("overall", "resolved_fraction"), "resolved fraction [%]", 100.0
            ),
            *width_metrics.headlines(target, (resolution, f"resolution, 90 % kept [{labels['unit']}]")),
        ),
        groups={width_metrics.UNCERTAINTIES: width_metrics.group_note(target)},
        front=resolution,
        note=note,
        shifts=(
            shift(bias, "bias"),
            shift(resolution, "resolution"),
            width_metrics.coverage_shift(target, lambda s: s["residual"]),
        ),
        shift_columns=shift_columns,
    )

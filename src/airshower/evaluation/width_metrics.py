"""Metrics of the per-event width of the direction, the core and Xmax (a network with ``widths``;
the energy's width has its own, older module :mod:`.uncertainty`), one definition for the three.

For a target whose width describes a ``d``-dimensional Gaussian error
(:attr:`airshower.targets.Target.width_dims`; :mod:`airshower.widths`), per event the error
``e`` (:meth:`~airshower.targets.Target.errors`: the opening angle in deg, the core distance in
m, the Xmax residual in g/cm^2) and the width ``sigma`` in the same unit, ``z = e / sigma``:

- ``coverage68``, ``coverage95``: the fraction of events inside the 68.27 % (95 %) region of their
  width, ``|z| <= k_d(p)`` (:func:`airshower.widths.region`: 1 and 1.96 in one dimension, 1.515
  and 2.448 in two); 0.6827 and 0.95 when the widths are right;
- ``pull_rms``: ``sqrt(mean(z^2) / d)``, 1 when the widths are right;
- per bin of true energy: ``coverage68``, ``coverage95`` and ``pull_rms`` (a calibration that
  holds overall but not at one end of the energy range shows here);
- calibration curve: in :data:`CALIBRATION_BINS` equal-population bins of the predicted sigma, the
  predicted ``sqrt(mean(sigma^2))`` against the observed ``sqrt(mean(e^2) / d)`` (equal for right
  widths: the mean square error per dimension of a mixture of Gaussians);
- cut: the target's headline resolution (psi68, r68, the Xmax resolution) of the
  :data:`KEEP_FRACTION` of the events with the smallest predicted sigma, to compare with all
  events': what a cut on the predicted width buys.

Every value with its percentile-bootstrap 68 % interval, as the other metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from airshower import statistics, widths
from airshower.evaluation import target_base as base
from airshower.evaluation.uncertainty import CALIBRATION_BINS, KEEP_FRACTION, quantile_edges
from airshower.targets import TARGETS

UNCERTAINTIES = "Per-event uncertainties"  # the Markdown table of a width's headlines


def evaluated_width(target: str, pred: Mapping[str, np.ndarray]) -> str | None:
    """The width the headline metrics of ``target`` evaluate: the calibrated one where the
    predictions have it, else the raw one, else None."""
    raw = TARGETS[target].width
    if raw is None:
        return None
    return next((w for w in (widths.calibrated_name(raw), raw) if w in pred), None)


def _quantities(dims: int) -> dict[str, Callable]:
    k68, k95 = widths.region(dims), widths.region(dims, 0.95)
    return {
        "coverage68": lambda e, s: float(np.mean(np.abs(e) <= k68 * s)),
        "coverage95": lambda e, s: float(np.mean(np.abs(e) <= k95 * s)),
        "pull_rms": lambda e, s: float(np.sqrt(np.mean((e / s) ** 2) / dims)),
    }


def _calibration_curve(error, sigma, dims: int, n_bootstrap: int, rng) -> dict:
    quantities = {
        "observed_rms": lambda e: float(np.sqrt(np.mean(e**2) / dims)),
    }
    edges = quantile_edges(sigma, CALIBRATION_BINS)
    index = statistics.bin_index(sigma, edges)
    cells = [base.entries((error[index == k],), quantities, n_bootstrap, rng) for k in range(len(edges) - 1)]
    predicted = [
        float(np.sqrt(np.mean(sigma[index == k] ** 2))) if np.any(index == k) else None
        for k in range(len(edges) - 1)
    ]
    return {
        "edges": edges.tolist(),
        "n": [c["n"] for c in cells],
        "predicted_rms": predicted,
        **base.by_quantity(cells, quantities),
    }


def width_metrics(
    target: str,
    pred: Mapping[str, np.ndarray],
    width: str,
    settings,
    rng: np.random.Generator,
    resolution: Callable[[np.ndarray], float],
    resolution_name: str,
) -> dict:
    """The metrics (module docstring) of the width dataset ``width`` of ``target``:
    ``{"width", "dims", "definitions", "overall", "bins", "calibration", "cut"}``.
    ``resolution`` is the target's headline statistic of the errors ``e`` (named
    ``resolution_name``), for the cut. The bootstrap draws of ``rng`` go to the overall sample,
    the energy bins, the calibration bins and the cut, in order."""
    spec = TARGETS[target]
    data = base.require(pred, ("energy_true", spec.truth, spec.predicted, width), target)
    sigma = widths.check_width(data[width], width)
    error = spec.errors(data)
    dims = spec.width_dims
    quantities = _quantities(dims)
    n_boot = settings.bootstrap
    overall = base.entries((error, sigma), quantities, n_boot, rng)
    idx, header = base.energy_binning(data["energy_true"], settings)
    binned = {q: quantities[q] for q in ("coverage68", "coverage95", "pull_rms")}
    bins = base.binned_entries(idx, header, (error, sigma), binned, n_boot, rng)
    curve = _calibration_curve(error, sigma, dims, n_boot, rng)
    keep = np.sort(np.argsort(sigma, kind="stable")[: round(KEEP_FRACTION * sigma.size)])
    kept = base.entries((error[keep],), {resolution_name: resolution}, n_boot, rng)
    return {
        "width": width,
        "dims": dims,
        "definitions": {
            "coverage68": f"fraction of events with |error| <= {widths.region(dims):.4g} sigma",
            "coverage95": f"fraction of events with |error| <= {widths.region(dims, 0.95):.4g} sigma",
            "pull_rms": f"sqrt(mean((error / sigma)^2) / {dims})",
        },
        "overall": overall,
        "bins": bins,
        "calibration": curve,
        "cut": {
            "keep_fraction": KEEP_FRACTION,
            "max_width": float(sigma[keep].max()) if keep.size else None,
            "n": int(keep.size),
            resolution_name: kept[resolution_name],
        },
    }


def uncertainty_parts(
    target: str,
    pred: Mapping[str, np.ndarray],
    settings,
    substream: Callable[..., np.random.Generator],
    resolution: Callable[[np.ndarray], float],
    resolution_name: str,
) -> dict:
    """``{"uncertainty": ...}`` of the evaluated width (:func:`evaluated_width`) and, beside a
    calibrated width, ``{"uncertainty_raw": ...}`` of the raw one; empty without a width. Both
    from ``substream(1)`` (the same resamples), so the target's other metrics are the same with
    or without a width."""
    width = evaluated_width(target, pred)
    if width is None:
        return {}
    parts = {
        "uncertainty": width_metrics(target, pred, width, settings, substream(1), resolution, resolution_name)
    }
    raw = TARGETS[target].width
    if width != raw:
        parts["uncertainty_raw"] = width_metrics(
            target, pred, raw, settings, substream(1), resolution, resolution_name
        )
    return parts


def headlines(target: str, cut_header: str) -> tuple[base.Headline, ...]:
    """The headline columns of a target's width (its Markdown table :data:`UNCERTAINTIES`):
    coverage of the 68 % region with the calibrated and the raw widths, the pull rms, and the
    resolution of the 90 % most certain events (``cut_header``)."""
    cut = f"{target}_cut90"
    return (
        base.Headline(
            f"{target}_coverage68",
            ("uncertainty", "overall", "coverage68"),
            "coverage 68 % [%]",
            100.0,
            group=UNCERTAINTIES,
        ),
        base.Headline(
            f"{target}_coverage95",
            ("uncertainty", "overall", "coverage95"),
            "coverage 95 % [%]",
            100.0,
            group=UNCERTAINTIES,
        ),
        base.Headline(
            f"{target}_pull_rms", ("uncertainty", "overall", "pull_rms"), "pull rms", group=UNCERTAINTIES
        ),
        base.Headline(
            f"{target}_coverage68_raw",
            ("uncertainty_raw", "overall", "coverage68"),
            "coverage 68 %, raw σ [%]",
            100.0,
            group=UNCERTAINTIES,
        ),
        base.Headline(cut, ("uncertainty", "cut", cut_header[0]), cut_header[1], group=UNCERTAINTIES),
    )


def group_note(target: str) -> str:
    """The note under a target's table of its width's headlines."""
    spec = TARGETS[target]
    region = (
        "E_rec ± σ"
        if spec.width_dims == 1
        else f"the circle of radius {widths.region(2):.3f} σ around the reconstruction"
    )
    return (
        f"For the models that predict a per-event width σ of the {spec.title} ({spec.width}; "
        "calibrated on the validation split, config calibration; raw σ: as the model gave it): "
        f"coverage 68 % (95 %) = fraction of the test events whose truth lies within {region} "
        "(its 95 % counterpart), 68.27 % (95.00 %) when σ is right; pull rms = sqrt(mean((error / "
        f"σ)²) / {spec.width_dims}), 1 when right; 90 % kept = the resolution of the 90 % of the "
        "events with the smallest σ, to compare with all events' above."
    )


def shift_width(target: str, pred: Mapping[str, np.ndarray]) -> dict:
    """The evaluated width of ``target`` as the shift column ``sigma``, checked (none without a
    width)."""
    width = evaluated_width(target, pred)
    return {} if width is None else {"sigma": widths.check_width(pred[width], width)}


def coverage_shift(
    target: str,
    error: Callable[[Mapping], np.ndarray],
    name: str | None = None,
    region: str = "the 68 % region",
) -> base.Shift:
    """The systematic shift of the coverage of the 68 % region of ``target``'s width (percentage
    points; NaN without a width): whether the calibration holds on a variant. ``error`` gives
    the per-event errors of a shift sample (its width: the column ``sigma``, :func:`shift_width`);
    ``name`` heads the table column (default: the target's), ``region`` names the region in the
    figure labels."""
    k68 = widths.region(TARGETS[target].width_dims)

    def statistic(sample):
        if "sigma" not in sample:
            return float("nan")
        return float(np.mean(np.abs(error(sample)) <= k68 * sample["sigma"]))

    return base.Shift(
        "coverage68",
        f"{target}_coverage68_shift_pp",
        f"{name or TARGETS[target].name} coverage 68 % shift [pp]",
        f"shift of the coverage of {region} [percentage points]",
        statistic,
        scale=100.0,
        value_label=f"coverage of {region} [%]",
    )

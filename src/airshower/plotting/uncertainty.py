"""The calibration figure of a per-event uncertainty (a model whose predictions have
``energy_sigma``, and beside it ``energy_sigma_calibrated``): predicted against observed width of
the residuals in bins of the predicted uncertainty, absolute and relative, the coverage per bin
of true energy with the calibrated and the raw widths, and the pull distribution against a unit
Gaussian (the metrics of :mod:`airshower.evaluation.uncertainty`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from airshower.evaluation.uncertainty import NOMINAL
from airshower.plotting.style import as_array, plain_log_labels, run_label, seed_colors, styled

PULL_RANGE = 5.0  # the pull histogram spans -5..5; pulls beyond are drawn in the outermost bins
PULL_BINS = 50
_LABEL = {
    "predicted": r"predicted $\sqrt{\langle\sigma^2\rangle}$ [EeV]",
    "observed": r"observed std of $E_\mathrm{rec} - E_\mathrm{true}$ [EeV]",
    "predicted_relative": r"predicted $\sqrt{\langle(\sigma / E_\mathrm{rec})^2\rangle}$ [%]",
    "observed_relative": r"observed std of $(E_\mathrm{rec} - E_\mathrm{true}) / E_\mathrm{rec}$ [%]",
    "pull": r"pull $(E_\mathrm{rec} - E_\mathrm{true}) / \sigma$ [1]",
}


def _errorbars(entry: Mapping, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Values and the asymmetric bootstrap error bars of a ``{"value", "lo", "hi"}`` list entry."""
    v = as_array(entry["value"], scale)
    lo, hi = as_array(entry["lo"], scale), as_array(entry["hi"], scale)
    yerr = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
    return v, np.where(np.isfinite(yerr), yerr, 0.0)


def _calibration_panel(ax, curves: Mapping[int, Mapping], scale: float, colors: Mapping, model: str) -> None:
    """Observed spread (filled) and robust spread (open) against the predicted RMS width, per
    seed, and the diagonal of a calibrated uncertainty."""
    reach = []
    for seed, curve in curves.items():
        x = as_array(curve["predicted_rms"], scale)
        for key, marker, ls, what in (
            ("observed_spread", "o", "-", "std"),
            ("observed_robust_spread", "s", ":", "68 % half-width"),
        ):
            y, yerr = _errorbars(curve[key], scale)
            face = colors[seed] if marker == "o" else "white"
            label = f"{run_label(model, seed)}: {what}"
            ax.errorbar(x, y, yerr=yerr, fmt=marker, ls=ls, lw=1.0, color=colors[seed], mfc=face, label=label)
            reach += [np.nanmin(x), np.nanmax(x), np.nanmin(y), np.nanmax(y)]
    lo, hi = min(reach) / 1.15, max(reach) * 1.15
    ax.plot([lo, hi], [lo, hi], color="0.3", ls="--", lw=1.2, label="calibrated: observed = predicted")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.legend(fontsize=8, loc="upper left")


def _pull_panel(ax, pulls: Mapping[int, np.ndarray], summaries: Mapping[int, Mapping], colors, model) -> None:
    """Pull histograms per seed (overflow in the outermost bins) and the unit Gaussian scaled to
    the mean number of events."""
    edges = np.linspace(-PULL_RANGE, PULL_RANGE, PULL_BINS + 1)
    peak = 0.0
    for seed, pull in pulls.items():
        o = summaries[seed]
        label = (
            f"{run_label(model, seed)}: coverage 68 % = {100 * o['coverage68']['value']:.1f} %, "
            f"95 % = {100 * o['coverage95']['value']:.1f} %; "
            f"mean {o['pull_mean']['value']:+.2f}, width {o['pull_width']['value']:.2f}"
        )
        shown = np.clip(pull, edges[0], edges[-1])
        counts, *_ = ax.hist(shown, bins=edges, histtype="step", lw=1.8, color=colors[seed], label=label)
        peak = max(peak, float(np.max(counts)))
    n = np.mean([np.size(p) for p in pulls.values()])
    x = np.linspace(-PULL_RANGE, PULL_RANGE, 400)
    gauss = n * (edges[1] - edges[0]) * np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi)
    ax.plot(
        x,
        gauss,
        color="0.2",
        ls="--",
        lw=1.2,
        label=(
            f"unit Gaussian: coverage {100 * NOMINAL['coverage68']:.1f} %, "
            f"{100 * NOMINAL['coverage95']:.1f} %; width 1"
        ),
    )
    ax.set_xlim(edges[0], edges[-1])
    legend_share = min(0.6, 0.07 * (len(pulls) + 1))  # of the axes height, one line per seed
    ax.set_ylim(0, max(peak, float(gauss.max())) / (0.95 - legend_share))
    ax.legend(fontsize=7.5, loc="upper left")


def _coverage_panel(
    ax, records: Sequence[Mapping], seeds: Sequence[int], colors: Mapping, model: str
) -> None:
    """Coverage of ``E_rec -+ sigma`` per bin of true energy, calibrated (filled, solid) and raw
    (open, dotted) where the record has both, with the nominal 68.27 % and a -+ 3 point band."""
    edges = None
    for seed, rec in zip(seeds, records, strict=True):
        for key, ls, filled, what in (
            ("uncertainty", "-", True, "calibrated"),
            ("uncertainty_raw", ":", False, "raw"),
        ):
            bins = rec.get(key, {}).get("bins")
            if not bins:
                continue
            edges = np.asarray(bins["edges_eev"], dtype=np.float64)
            x = np.asarray(bins["center_eev"], dtype=np.float64)
            y, yerr = _errorbars(bins["coverage68"], 100.0)
            name = what if "uncertainty_raw" in rec else "as predicted"
            ax.errorbar(
                x,
                y,
                yerr=yerr,
                fmt="o",
                ls=ls,
                lw=1.2,
                color=colors[seed],
                mfc=colors[seed] if filled else "white",
                label=f"{run_label(model, seed)}: {name} σ",
            )
    nominal = 100.0 * NOMINAL["coverage68"]
    if edges is not None:
        ax.set_xscale("log")
        ax.set_xlim(edges[0], edges[-1])
        plain_log_labels(ax.xaxis)
    ax.axhspan(nominal - 3.0, nominal + 3.0, color="0.85", zorder=0, label="68.27 % ± 3 points")
    ax.axhline(nominal, color="0.3", ls="--", lw=1.2)
    ax.set_xlabel(r"true energy $E_\mathrm{true}$ [EeV]")
    ax.set_ylabel(r"coverage of $E_\mathrm{rec} \pm \sigma$ [%]")
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, nominal - 12.0), max(high, nominal + 12.0))
    ax.legend(fontsize=7.5, loc="best")


@styled
def uncertainty_calibration(
    records: Sequence[Mapping], pulls: Mapping[int, np.ndarray], model: str, color: str | None = None
) -> Figure:
    """Calibration of a predicted per-event uncertainty, one series per seed, for the width the
    metrics evaluate (``uncertainty.width``: the calibrated one where there is one).

    - **top left**: observed std (filled) and robust 68 % half-width (open) of ``E_rec - E_true``
      against the predicted ``sqrt(mean(sigma^2))`` in quantile bins of ``sigma`` [EeV], log axes,
      with the diagonal of a calibrated uncertainty; error bars: bootstrap 68 % intervals;
    - **top right**: the same relative to ``E_rec``, in bins of ``sigma / E_rec`` [%];
    - **bottom left**: the coverage of ``E_rec -+ sigma`` per bin of true energy, calibrated and
      raw widths, against the nominal 68.27 %;
    - **bottom right**: the pull ``(E_rec - E_true) / sigma`` histogram with a unit Gaussian, the
      coverage of the 68 % and 95 % intervals, pull mean and width in the legend.

    Parameters
    ----------
    records
        metrics dicts of the seeds (``seed``, ``uncertainty`` and, beside a calibrated width,
        ``uncertainty_raw`` of :func:`airshower.evaluation.energy_metrics`).
    pulls
        seed -> the events' pulls with the evaluated width (:func:`airshower.evaluation.pulls`).
    color
        the model's colour (seeds are shades of it).
    """
    fig = Figure(figsize=(13, 11), layout="constrained")
    (a_abs, a_rel), (a_cov, a_pull) = fig.subplots(2, 2)
    seeds = [rec.get("seed", k) for k, rec in enumerate(records)]
    colors = seed_colors(seeds, color)
    unc = {seed: rec["uncertainty"] for seed, rec in zip(seeds, records, strict=True)}
    _calibration_panel(a_abs, {s: u["calibration"]["absolute"] for s, u in unc.items()}, 1.0, colors, model)
    _calibration_panel(a_rel, {s: u["calibration"]["relative"] for s, u in unc.items()}, 100.0, colors, model)
    for ax in (a_abs, a_rel):
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_labels(ax.xaxis)
        plain_log_labels(ax.yaxis)
        ax.set_aspect("equal")
    a_abs.set_xlabel(_LABEL["predicted"])
    a_abs.set_ylabel(_LABEL["observed"])
    a_rel.set_xlabel(_LABEL["predicted_relative"])
    a_rel.set_ylabel(_LABEL["observed_relative"])
    _coverage_panel(a_cov, records, seeds, colors, model)
    _pull_panel(a_pull, pulls, {s: u["overall"] for s, u in unc.items()}, colors, model)
    a_pull.set_xlabel(_LABEL["pull"])
    a_pull.set_ylabel("events / bin")
    n_bins = len(next(iter(unc.values()))["calibration"]["absolute"]["n"])
    width = next(iter(unc.values())).get("width", "energy_sigma")
    which = "calibrated on the validation split" if width.endswith("_calibrated") else "as predicted"
    fig.suptitle(
        f"{model}: predicted uncertainty σ ({which}) against the observed spread\n({n_bins} "
        "equal-population bins of the predicted σ), the coverage per energy bin and the pulls; "
        "error bars: bootstrap 68 % intervals"
    )
    return fig

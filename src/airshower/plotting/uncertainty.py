"""The calibration figure of a per-event uncertainty (a model whose predictions have
``energy_sigma``): predicted against observed width of the residuals in bins of the predicted
uncertainty, absolute and relative, and the pull distribution against a unit Gaussian (the
metrics of :mod:`airshower.evaluation.uncertainty`)."""

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
    "pull": r"pull $(E_\mathrm{rec} - E_\mathrm{true}) / \sigma$",
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


@styled
def uncertainty_calibration(
    records: Sequence[Mapping], pulls: Mapping[int, np.ndarray], model: str, color: str | None = None
) -> Figure:
    """Calibration of a predicted per-event uncertainty, one series per seed.

    - **left**: observed std (filled) and robust 68 % half-width (open) of ``E_rec - E_true``
      against the predicted ``sqrt(mean(sigma^2))`` in quantile bins of ``sigma`` [EeV], log axes,
      with the diagonal of a calibrated uncertainty; error bars: bootstrap 68 % intervals;
    - **middle**: the same relative to ``E_rec``, in bins of ``sigma / E_rec`` [%];
    - **right**: the pull ``(E_rec - E_true) / sigma`` histogram with a unit Gaussian, the
      coverage of the 68 % and 95 % intervals, pull mean and width in the legend.

    Parameters
    ----------
    records
        metrics dicts of the seeds (``seed`` and ``uncertainty`` of
        :func:`airshower.evaluation.uncertainty_metrics`).
    pulls
        seed -> the events' pulls (:func:`airshower.evaluation.pulls`).
    color
        the model's colour (seeds are shades of it).
    """
    fig = Figure(figsize=(16, 5.2), layout="constrained")
    a_abs, a_rel, a_pull = fig.subplots(1, 3)
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
    _pull_panel(a_pull, pulls, {s: u["overall"] for s, u in unc.items()}, colors, model)
    a_pull.set_xlabel(_LABEL["pull"])
    a_pull.set_ylabel("events / bin")
    n_bins = len(next(iter(unc.values()))["calibration"]["absolute"]["n"])
    fig.suptitle(
        f"{model}: predicted uncertainty σ against the observed spread ({n_bins} equal-population bins of "
        "the predicted σ; error bars: bootstrap 68 % intervals) and the pulls"
    )
    return fig

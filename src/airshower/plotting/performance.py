"""Figures of one model on the test set: residual histograms per seed, reconstructed vs true
energy, and bias and resolution in bins of true energy (from the metrics records)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from airshower import statistics
from airshower.plotting.style import (
    LABEL,
    PALETTE,
    as_array,
    dodge,
    log_energy_axis,
    run_label,
    seed_colors,
    styled,
)

# --- residuals -------------------------------------------------------------------------------


def _percentile_range(values: Sequence[np.ndarray], q: float = 0.5) -> tuple[float, float]:
    """Symmetric axis range holding all but the outer ``q`` per cent on either side."""
    pooled = np.concatenate([np.asarray(v, dtype=np.float64) for v in values])
    lo, hi = np.percentile(pooled, [q, 100 - q])
    half = max(abs(lo), abs(hi))
    return (-half, half) if half > 0 else (-1.0, 1.0)


def _residual_panel(ax, data: Mapping[int, np.ndarray], model: str, unit: str, colors: Mapping) -> None:
    """Step histograms of one residual per seed, mean and standard deviation in the legend."""
    lo, hi = _percentile_range(list(data.values()))
    n_min = min(len(r) for r in data.values())
    bins = np.linspace(lo, hi, int(np.clip(np.sqrt(n_min), 15, 60)) + 1)  # fewer bins for small samples
    for seed, r in data.items():
        mu, sigma = float(np.mean(r)), float(statistics.spread(r))
        ax.hist(
            np.clip(r, lo, hi),
            bins=bins,
            histtype="step",
            lw=1.8,
            color=colors[seed],
            label=f"{run_label(model, seed)}: μ = {mu:.2f} {unit}, σ = {sigma:.2f} {unit}",
        )


@styled
def residuals(
    runs: Mapping[int, tuple[np.ndarray, np.ndarray]], model: str, color: str | None = None
) -> Figure:
    """Histograms of ``E_rec - E_true`` [EeV] and of the relative residual [%] per seed, with
    mean (mu) and sample standard deviation (sigma) in the legend.

    ``runs`` maps seed -> (energy_true, energy_pred) in EeV; ``color`` is the model's colour.
    """
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    a_abs, a_rel = fig.subplots(1, 2)
    colors = seed_colors(list(runs), color)
    res = {s: np.asarray(p, float) - np.asarray(t, float) for s, (t, p) in runs.items()}
    rel = {s: 100 * res[s] / np.asarray(runs[s][0], float) for s in runs}
    for ax, data, unit, key in ((a_abs, res, "EeV", "residual"), (a_rel, rel, "%", "relative_residual")):
        _residual_panel(ax, data, model, unit, colors)
        ax.axvline(0.0, color="0.3", lw=1, ls=":")
        ax.set_xlabel(LABEL[key])
        ax.set_ylabel(LABEL["events"])
        ax.legend(loc="upper left", fontsize=8)
    n = len(next(iter(runs.values()))[0])
    fig.suptitle(
        f"{model}: residuals on the test set ({n:,} events per seed; outermost bins include overflow)"
    )
    return fig


# --- reconstructed vs true energy ------------------------------------------------------------


def _profile(ax, e_true: np.ndarray, e_pred: np.ndarray, range_eev: tuple[float, float]) -> None:
    """Mean reconstructed energy ± its standard deviation in ten log bins of true energy."""
    edges = statistics.bin_edges(range_eev[0], range_eev[1], 10)
    idx = statistics.bin_index(e_true, edges)
    means = statistics.binned(e_pred, idx, 10, np.mean)
    stds = statistics.binned(e_pred, idx, 10, statistics.spread)
    ax.errorbar(
        statistics.bin_centers(edges),
        means,
        yerr=stds,
        fmt="o",
        color="white",
        mec="black",
        ecolor="black",
        label=r"mean $E_\mathrm{rec}$ ± std per bin",
    )


@styled
def energy_scatter(
    energy_true: np.ndarray,
    energy_pred: np.ndarray,
    model: str,
    range_eev: tuple[float, float],
    n_seeds: int = 1,
    color: str | None = None,
) -> Figure:
    """Reconstructed vs true energy: 2-D histogram (points for < 2000 events) on log axes, the
    diagonal, and the mean reconstructed energy per true-energy bin (error bar: standard
    deviation). ``range_eev`` is the range of the energy bins (``evaluation.energy_bins_eev``)."""
    e_true = np.asarray(energy_true, dtype=np.float64)
    e_pred = np.asarray(energy_pred, dtype=np.float64)
    lo, hi = range_eev[0] / 1.3, range_eev[1] * 1.3
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.subplots()
    edges = np.logspace(np.log10(lo), np.log10(hi), 61)
    if e_true.size >= 2000:
        shown = np.clip(e_pred, lo, hi)
        *_, image = ax.hist2d(e_true, shown, bins=[edges, edges], cmin=1, cmap="viridis", norm=LogNorm())
        fig.colorbar(image, ax=ax, label=LABEL["events"])
    else:
        ax.scatter(e_true, np.clip(e_pred, lo, hi), s=6, alpha=0.5, color=color or PALETTE[0], label="events")
    ax.plot([lo, hi], [lo, hi], color="red", lw=1.5, ls="--", label=r"$E_\mathrm{rec} = E_\mathrm{true}$")
    _profile(ax, e_true, e_pred, range_eev)
    log_energy_axis(ax, [lo * 1.08, hi / 1.08], "x")
    log_energy_axis(ax, [lo * 1.08, hi / 1.08], "y")
    ax.set_aspect("equal")
    ax.set_xlabel(LABEL["energy_true"])
    ax.set_ylabel(LABEL["energy_rec"])
    n_low = int(np.count_nonzero(e_pred < lo))
    note = f"{e_true.size:,} events" + (f" ({n_seeds} seeds pooled)" if n_seeds > 1 else "")
    if n_low:
        note += f"; {n_low} with $E_\\mathrm{{rec}}$ < {lo:.1f} EeV drawn at the lower edge"
    ax.set_title(f"{model}: {note}", fontsize=10)
    ax.legend(loc="upper left")
    return fig


# --- bias and resolution vs energy -----------------------------------------------------------


def _errorbar_series(ax, x, entries: Mapping, key: str, scale: float, **style) -> None:
    """Points with their bootstrap interval (from per-seed metrics lists value/lo/hi)."""
    v = as_array(entries[key]["value"], scale)
    lo = as_array(entries[key]["lo"], scale)
    hi = as_array(entries[key]["hi"], scale)
    yerr = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
    yerr = np.where(np.isfinite(yerr), yerr, 0.0)
    ax.errorbar(x, v, yerr=yerr, **style)


def _seed_series(axes, x: np.ndarray, bins: Mapping, label: str, col: str) -> None:
    """Bias, both resolutions and the relative resolution of one seed on the three panels."""
    a_bias, a_res, a_rel = axes
    common = {"color": col, "ls": "-", "lw": 1.0}
    _errorbar_series(a_bias, x, bins, "bias_eev", 1.0, fmt="o", label=label, **common)
    _errorbar_series(a_res, x, bins, "resolution_eev", 1.0, fmt="o", label=f"{label}: std", **common)
    _errorbar_series(
        a_res,
        dodge(x, 1, 2, 0.01),
        bins,
        "resolution68_eev",
        1.0,
        fmt="s",
        mfc="white",
        label=f"{label}: 68 % half-width",
        color=col,
        ls=":",
        lw=1.0,
    )
    _errorbar_series(a_rel, x, bins, "relative_resolution", 100.0, fmt="o", label=label, **common)


@styled
def bias_resolution_vs_energy(records: Sequence[Mapping], model: str, color: str | None = None) -> Figure:
    """Bias, resolution (std and robust 68 % half-width) and relative resolution vs true energy,
    one series per seed, error bars the bootstrap 68 % intervals. ``records`` are metrics dicts
    (:func:`airshower.evaluation.compute_metrics` plus ``seed``); ``color`` is the model's colour."""
    fig = Figure(figsize=(15, 4.8), layout="constrained")
    a_bias, a_res, a_rel = axes = fig.subplots(1, 3)
    seeds = [rec.get("seed", k) for k, rec in enumerate(records)]
    colors = seed_colors(seeds, color)
    edges = records[0]["bins"]["edges_eev"]
    for k, (seed, rec) in enumerate(zip(seeds, records, strict=True)):
        b = rec["bins"]
        _seed_series(axes, dodge(b["center_eev"], k, len(records)), b, run_label(model, seed), colors[seed])
    a_bias.axhline(0.0, color="0.3", lw=1, ls=":")
    for ax, key in ((a_bias, "bias"), (a_res, "resolution"), (a_rel, "relative_resolution")):
        log_energy_axis(ax, edges)
        ax.grid(axis="x", visible=False)
        for e in edges:
            ax.axvline(e, color="0.85", lw=0.8, zorder=0)
        ax.set_xlabel(LABEL["energy_true"])
        ax.set_ylabel(LABEL[key])
        ax.legend(fontsize=8)
    a_res.set_ylim(bottom=0)
    a_rel.set_ylim(bottom=0)
    fig.suptitle(
        f"{model}: performance in bins of true energy (grey lines: bin edges; "
        "error bars: bootstrap 68 % intervals)"
    )
    return fig

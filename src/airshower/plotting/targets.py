"""Figures of the reconstructed targets, every model of a target on one figure (the energy's
from :mod:`.comparison`). They take the per-model seed aggregates of
:func:`airshower.evaluation.aggregate_seeds` (``results/targets/{target}/summary.json``'s
``models``) and compute nothing but their layout. Error bars: the spread over seeds, or the
bootstrap 68 % half-width for a model with one seed, as in :mod:`.comparison`.

:data:`TARGET_FIGURES` names the PNGs each target writes (``results/figures/targets/{target}/``);
:data:`FIGURE_FUNCTIONS` maps each to its function ``(summary, models) -> Figure``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from airshower.plotting.comparison import bias_vs_energy, relative_resolution_vs_energy, resolution_overall
from airshower.plotting.mass import mass_confusion, mass_merit, mass_roc
from airshower.plotting.style import (
    LABEL,
    as_array,
    dodge_in_bins,
    error_capsize,
    log_energy_axis,
    model_styles,
    present_models,
    seed_errors,
    series_label,
    styled,
    target_title,
)
from airshower.schema import BASELINE

UNITS = {
    "psi68": r"68 % containment angle $\psi_{68}$ [deg]",
    "r68": r"68 % containment distance $r_{68}$ [m]",
    "bias_x": r"core bias $\langle x_\mathrm{rec} - x_\mathrm{true}\rangle$ [m]",
    "bias_y": r"core bias $\langle y_\mathrm{rec} - y_\mathrm{true}\rangle$ [m]",
    "muon_bias": r"$R_\mu$ bias $\langle R_{\mu,\mathrm{rec}} - R_\mu\rangle$ [% of a proton's]",
    "muon_resolution": r"$R_\mu$ resolution $\sigma(R_{\mu,\mathrm{rec}} - R_\mu)$ [% of a proton's]",
    "xmax_bias": r"$X_\mathrm{max}$ bias $\langle X_\mathrm{rec} - X_\mathrm{true}\rangle$ [g cm$^{-2}$]",
    "xmax_resolution": r"$X_\mathrm{max}$ resolution $\sigma(X_\mathrm{rec} - X_\mathrm{true})$"
    r" [g cm$^{-2}$]",
    "resolved": r"resolved fraction $1 - \sigma_\mathrm{rec}^2 / \sigma(X_\mathrm{true})^2$ [%]",
    "muon_resolved": r"resolved fraction $1 - \sigma_\mathrm{rec}^2 / \sigma(R_{\mu,\mathrm{true}})^2$ [%]",
}


def _binned(ax, summary: Mapping, models: Sequence[str], block: str, key: str, scale: float = 1.0) -> None:
    """One series per model of the binned quantity ``summary[model][block][key]`` against the
    bin centres (energy: log axis; zenith: linear), error bars as in :mod:`.comparison`."""
    styles = model_styles(models)
    present = present_models(summary, models)
    for k, model in enumerate(present):
        b = summary[model][block]
        energy = "center_eev" in b
        centers = np.asarray(b["center_eev"] if energy else b["center_deg"], dtype=np.float64)
        x = (
            dodge_in_bins(centers, b["edges_eev"], k, len(present))
            if energy
            else centers + 0.6 * (k - (len(present) - 1) / 2)
        )
        err, statistical = seed_errors(b[key], scale)
        st = styles[model]
        ax.errorbar(
            x,
            as_array(b[key]["mean"], scale),
            yerr=err,
            capsize=error_capsize(statistical),
            color=st["color"],
            marker=st["marker"],
            ls=st["linestyle"],
            mfc=st.get("markerfacecolor", st["color"]),
            lw=1.4,
            ms=10 if model == BASELINE else 6,
            label=series_label(model, summary[model], statistical),
        )
    first = summary[present[0]][block]
    if "edges_eev" in first:
        log_energy_axis(ax, first["edges_eev"])
        ax.set_xlabel(LABEL["energy_true"])
    else:
        ax.set_xlim(first["edges_deg"][0], first["edges_deg"][-1])
        ax.set_xlabel(r"true zenith angle $\theta$ [deg]")


def _psi68_figure(summary: Mapping[str, Mapping], models: Sequence[str], bins: str, title: str) -> Figure:
    """ψ68 of every model in the summary's ``bins`` (``bins``: energy, ``zenith_bins``)."""
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.subplots()
    _binned(ax, summary, models, bins, "psi68_deg")
    ax.set_ylabel(UNITS["psi68"])
    ax.set_ylim(bottom=0)
    target_title(fig, title)
    fig.legend(loc="outside right center")
    return fig


@styled
def psi68_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """68 % containment angle of the direction against true energy, every model."""
    return _psi68_figure(summary, models, "bins", "Direction resolution vs energy")


@styled
def psi68_vs_zenith(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """68 % containment angle of the direction in bins of true zenith angle, every model."""
    return _psi68_figure(summary, models, "zenith_bins", "Direction resolution vs zenith angle")


def _zero_line(ax) -> None:
    ax.axhline(0.0, color="0.3", lw=1, ls=":")


@styled
def core_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """Core: 68 % containment distance and the biases in x and y against true energy."""
    fig = Figure(figsize=(17, 5), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, key, label in zip(
        axes, ("r68_m", "bias_x_m", "bias_y_m"), ("r68", "bias_x", "bias_y"), strict=True
    ):
        _binned(ax, summary, models, "bins", key)
        ax.set_ylabel(UNITS[label])
    axes[0].set_ylim(bottom=0)
    for ax in axes[1:]:
        _zero_line(ax)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center")
    target_title(fig, "Core reconstruction vs energy")
    return fig


def _scalar_vs_energy(summary, models, keys, labels, title: str) -> Figure:
    """Bias, resolution and the resolved fraction of the true spread of a scalar target against
    true energy (``keys``: the three metrics, ``labels`` their axis labels of :data:`UNITS`)."""
    fig = Figure(figsize=(17, 5), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, key, label, scale in zip(axes, keys, labels, (1.0, 1.0, 100.0), strict=True):
        _binned(ax, summary, models, "bins", key, scale)
        ax.set_ylabel(UNITS[label])
    _zero_line(axes[0])
    axes[1].set_ylim(bottom=0)
    axes[2].set_ylim(top=100)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center")
    target_title(fig, title)
    return fig


@styled
def xmax_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """Xmax: bias, resolution and the resolved fraction of the true spread against true energy."""
    return _scalar_vs_energy(
        summary,
        models,
        ("bias_gcm2", "resolution_gcm2", "resolved_fraction"),
        ("xmax_bias", "xmax_resolution", "resolved"),
        r"$X_\mathrm{max}$ reconstruction vs energy",
    )


@styled
def muon_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """R_mu: bias, resolution and the resolved fraction of the true spread against true energy."""
    return _scalar_vs_energy(
        summary,
        models,
        ("bias_pct", "resolution_pct", "resolved_fraction"),
        ("muon_bias", "muon_resolution", "muon_resolved"),
        r"Relative muon content $R_\mu$ vs energy",
    )


def _width_models(summary: Mapping, models: Sequence[str]) -> list[str]:
    return [m for m in models if m in summary and (summary[m].get("uncertainty") or {}).get("bins")]


@styled
def coverage_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """The coverage of the 68 % (left) and 95 % (right) region of every model's per-event width
    in bins of true energy: calibrated on the validation split (filled, solid) and raw (open,
    dotted), the nominal value dashed in a band of -+ 3 percentage points. Only the models that
    predict a width of the target (``uncertainty`` in their aggregate); ValueError for none."""
    present = _width_models(summary, models)
    if not present:
        raise ValueError(f"none of the models {', '.join(models)} predicts a per-event width")
    styles = model_styles(models)
    fig = Figure(figsize=(13, 5.2), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    for ax, key, nominal in zip(axes, ("coverage68", "coverage95"), (68.27, 95.0), strict=True):
        ax.axhspan(nominal - 3.0, nominal + 3.0, color="0.88", zorder=0)
        ax.axhline(nominal, color="0.3", ls="--", lw=1.2, zorder=1)
        for k, model in enumerate(present):
            st = styles[model]
            for block, filled, ls, what in (
                ("uncertainty", True, "-", "calibrated"),
                ("uncertainty_raw", False, ":", "raw"),
            ):
                bins = (summary[model].get(block) or {}).get("bins")
                if not bins or key not in bins:
                    continue
                x = dodge_in_bins(bins["center_eev"], bins["edges_eev"], k, len(present))
                err, statistical = seed_errors(bins[key], 100.0)
                label = series_label(model, summary[model], statistical)
                ax.errorbar(
                    x,
                    as_array(bins[key]["mean"], 100.0),
                    yerr=err,
                    capsize=error_capsize(statistical),
                    color=st["color"],
                    marker=st["marker"],
                    ls=ls,
                    mfc=st["color"] if filled else "white",
                    lw=1.4,
                    ms=9 if model == BASELINE else 6,
                    label=f"{label}: {what} σ" if "uncertainty_raw" in summary[model] else f"{label}: σ",
                )
        log_energy_axis(ax, summary[present[0]]["uncertainty"]["bins"]["edges_eev"])
        ax.set_xlabel(LABEL["energy_true"])
        ax.set_ylabel(f"coverage of the {key[-2:]} % region [%]")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8)
    target_title(fig, "Per-event widths: coverage per energy bin (dashed: nominal, band: ± 3 points)")
    return fig


# the targets whose table can have a width's coverage (airshower.targets: a ``width``)
WIDTH_FIGURE = "coverage_vs_energy"

TARGET_FIGURES: dict[str, tuple[str, ...]] = {
    "energy": ("relative_resolution_vs_energy", "bias_vs_energy", "resolution_overall"),
    "direction": ("psi68_vs_energy", "psi68_vs_zenith"),
    "core": ("core_vs_energy",),
    "xmax": ("xmax_vs_energy",),
    "muon": ("muon_vs_energy",),
    "mass": ("roc", "confusion", "merit"),
}
FIGURE_FUNCTIONS: dict[str, Callable[[Mapping, Sequence[str]], Figure]] = {
    "relative_resolution_vs_energy": relative_resolution_vs_energy,
    "bias_vs_energy": bias_vs_energy,
    "resolution_overall": resolution_overall,
    "psi68_vs_energy": psi68_vs_energy,
    "psi68_vs_zenith": psi68_vs_zenith,
    "core_vs_energy": core_vs_energy,
    "xmax_vs_energy": xmax_vs_energy,
    "muon_vs_energy": muon_vs_energy,
    "roc": mass_roc,
    "confusion": mass_confusion,
    "merit": mass_merit,
    WIDTH_FIGURE: coverage_vs_energy,
}


def target_figure(target: str, stem: str, summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """The figure ``stem`` of ``target`` (one of its :data:`TARGET_FIGURES`); ValueError for a
    figure the target does not have."""
    if stem not in (*TARGET_FIGURES.get(target, ()), WIDTH_FIGURE):
        known = ", ".join(TARGET_FIGURES.get(target, ()))
        raise ValueError(f"target {target!r} has no figure {stem!r} (has {known or 'none'})")
    return FIGURE_FUNCTIONS[stem](summary, models)


def target_figures(target: str, summary: Mapping[str, Mapping], models: Sequence[str]) -> dict[str, Figure]:
    """Every figure of ``target`` (:data:`TARGET_FIGURES`), by file stem."""
    return {stem: target_figure(target, stem, summary, models) for stem in TARGET_FIGURES[target]}

"""Figures comparing every model: relative resolution and bias vs true energy, and the overall
resolution per model. They take the per-model aggregates of
:func:`airshower.evaluation.aggregate_seeds` (``summary.json``'s ``models``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from airshower.plotting.style import (
    LABEL,
    as_array,
    bin_bands,
    dodge_in_bins,
    error_capsize,
    error_kind_handles,
    log_energy_axis,
    model_styles,
    seed_errors,
    series_label,
    styled,
)
from airshower.schema import BASELINE

ERRORS = "error bars: std over the training seeds (no caps), or one result's 68 % bootstrap interval (caps)"


def _compare_binned(ax, summary: Mapping, models: Sequence[str], key: str, scale: float) -> set[str]:
    """One series per model of the binned quantity ``key`` (times ``scale``) vs true energy, the
    models of one bin within ± :data:`~.style.BIN_DODGE` of its log width, every other bin
    shaded; error bars without caps a spread over seeds, with caps a bootstrap interval.
    Returns the error bar kinds drawn (``"spread"``, ``"bootstrap"``)."""
    styles = model_styles(models)
    present = [m for m in models if m in summary]
    kinds = set()
    for k, model in enumerate(present):
        agg = summary[model]
        b = agg["bins"]
        err, statistical = seed_errors(b[key], scale)
        kinds.add("bootstrap" if statistical else "spread")
        st = styles[model]
        ax.errorbar(
            dodge_in_bins(b["center_eev"], b["edges_eev"], k, len(present)),
            as_array(b[key]["mean"], scale),
            yerr=err,
            capsize=error_capsize(statistical),
            color=st["color"],
            marker=st["marker"],
            mfc=st.get("markerfacecolor", st["color"]),
            ls=st["linestyle"],
            lw=1.4,
            ms=10 if model == BASELINE else 6,
            label=series_label(model, agg, statistical),
        )
    edges = summary[present[0]]["bins"]["edges_eev"]
    bin_bands(ax, edges)
    log_energy_axis(ax, edges)
    ax.set_xlabel(LABEL["energy_true"])
    return kinds


def _legend(fig: Figure, ax, kinds: Collection[str]) -> None:
    """The models of ``ax`` and, below them, what the two kinds of error bar are."""
    handles, labels = ax.get_legend_handles_labels()
    extra, extra_labels = error_kind_handles(kinds)
    fig.legend([*handles, *extra], [*labels, *extra_labels], loc="outside right center", fontsize=9)


@styled
def relative_resolution_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """sigma_E / E vs true energy of every model, error bars the spread over seeds.

    ``summary`` maps model -> :func:`airshower.evaluation.aggregate_seeds` output.
    """
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    ax = fig.subplots()
    kinds = _compare_binned(ax, summary, models, "relative_resolution", 100.0)
    ax.set_ylabel(LABEL["relative_resolution"])
    ax.set_ylim(bottom=0)
    fig.suptitle(f"Energy resolution of all models (test set)\n{ERRORS}")
    _legend(fig, ax, kinds)
    return fig


@styled
def bias_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """Absolute [EeV] and relative [%] bias vs true energy of every model."""
    fig = Figure(figsize=(15, 5.2), layout="constrained")
    a_abs, a_rel = fig.subplots(1, 2)
    kinds = _compare_binned(a_abs, summary, models, "bias_eev", 1.0)
    _compare_binned(a_rel, summary, models, "relative_bias", 100.0)
    for ax, key in ((a_abs, "bias"), (a_rel, "relative_bias")):
        ax.axhline(0.0, color="0.3", lw=1, ls=":")
        ax.set_ylabel(LABEL[key])
    _legend(fig, a_abs, kinds)
    fig.suptitle(f"Energy bias of all models (test set)\n{ERRORS}")
    return fig


def _overall_point(ax, q: Mapping, y: float, scale: float, style: Mapping, ms: float, filled: bool) -> str:
    """One model's overall value: mean over seeds with the seed spread (or the bootstrap
    half-width for one seed, with caps) as error bar, and the single seeds as small open dots.
    Returns the error bar's kind (``"spread"``, ``"bootstrap"``)."""
    statistical = q["std"] is None
    err = q["stat"] if statistical else q["std"]
    ax.errorbar(
        q["mean"] * scale,
        y,
        xerr=None if err is None else err * scale,
        color=style["color"],
        marker=style["marker"],
        ms=ms,
        mfc=style["color"] if filled else "white",
        ls="none",
        capsize=error_capsize(statistical),
        lw=2,
    )
    vals = as_array(q["values"], scale)
    if len(vals) > 1:
        ax.plot(
            vals, np.full(len(vals), y), ls="none", marker="o", ms=4, mfc="white", mec=style["color"], mew=1.2
        )
    return "bootstrap" if statistical else "spread"


def _overall_legend_and_limits(fig: Figure, a_abs, a_rel, n_rows: int, kinds: Collection[str]) -> None:
    a_abs.set_xlabel(LABEL["resolution"])
    a_rel.set_xlabel(LABEL["relative_resolution"])
    a_abs.plot([], [], ls="none", marker="o", ms=9, color="0.4", label="std(E_rec − E_true), mean over seeds")
    a_abs.plot([], [], ls="none", marker="o", ms=9, color="0.4", mfc="white", label="robust: 68 % half-width")
    a_abs.plot([], [], ls="none", marker="o", ms=4, mfc="white", mec="0.4", label="single seeds")
    handles, labels = a_abs.get_legend_handles_labels()
    extra, extra_labels = error_kind_handles(kinds)
    fig.legend([*handles, *extra], [*labels, *extra_labels], loc="outside lower center", ncols=2, fontsize=9)
    for ax in (a_abs, a_rel):
        ax.grid(axis="y", visible=False)
        ax.set_ylim(-0.6, n_rows - 0.4)
        ax.set_xlim(0, ax.get_xlim()[1] * 1.05)


@styled
def resolution_overall(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """Dot chart of the overall resolution per model: std and robust 68 % half-width [EeV], and
    sigma_E / E [%]; mean over seeds with the seed spread as error bar, single seeds as dots."""
    present = [m for m in models if m in summary]
    styles = model_styles(models)
    fig = Figure(figsize=(12, max(3.6, 2.4 + 0.65 * len(present))), layout="constrained")
    a_abs, a_rel = fig.subplots(1, 2, sharey=True)
    ypos = np.arange(len(present))[::-1]
    kinds = set()
    for y, model in zip(ypos, present, strict=True):
        o = summary[model]["overall"]
        ms = 12 if model == BASELINE else 9
        for ax, key, scale, dy, filled in (
            (a_abs, "resolution_eev", 1.0, 0.13, True),
            (a_abs, "resolution68_eev", 1.0, -0.13, False),
            (a_rel, "relative_resolution", 100.0, 0.0, True),
        ):
            if o[key]["mean"] is not None:
                kinds.add(_overall_point(ax, o[key], y + dy, scale, styles[model], ms, filled))
    a_abs.set_yticks(ypos, labels=present)
    _overall_legend_and_limits(fig, a_abs, a_rel, len(present), kinds)
    fig.suptitle(f"Overall resolution per model (test set)\n{ERRORS}")
    return fig

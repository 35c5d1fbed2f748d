"""Figures comparing every model: relative resolution and bias vs true energy, and the overall
resolution per model. They take the per-model aggregates of
:func:`airshower.evaluation.aggregate_seeds` (``summary.json``'s ``models``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from airshower.plotting.style import LABEL, as_array, dodge, log_energy_axis, model_styles, styled
from airshower.schema import BASELINE


def _seed_errors(entry: Mapping, scale: float) -> tuple[np.ndarray, bool]:
    """Error bars of an aggregated binned quantity: spread over seeds, or the bootstrap
    half-width for a model with one seed. Returns (errors, is_statistical)."""
    std = as_array(entry["std"], scale)
    if np.isfinite(std).any():
        return np.where(np.isfinite(std), std, 0.0), False
    stat = as_array(entry["stat"], scale)
    return np.where(np.isfinite(stat), stat, 0.0), True


def _series_label(model: str, agg: Mapping, statistical: bool) -> str:
    n = agg["n_seeds"]
    return f"{model} (1 seed; bootstrap 68 %)" if statistical or n == 1 else f"{model} ({n} seeds)"


def _compare_binned(ax, summary: Mapping, models: Sequence[str], key: str, scale: float) -> None:
    """One series per model of the binned quantity ``key`` (times ``scale``) vs true energy."""
    styles = model_styles(models)
    present = [m for m in models if m in summary]
    for k, model in enumerate(present):
        agg = summary[model]
        b = agg["bins"]
        x = dodge(b["center_eev"], k, len(present), 0.012)
        y = as_array(b[key]["mean"], scale)
        err, statistical = _seed_errors(b[key], scale)
        st = styles[model]
        ax.errorbar(
            x,
            y,
            yerr=err,
            color=st["color"],
            marker=st["marker"],
            ls=st["linestyle"],
            lw=1.4,
            ms=10 if model == BASELINE else 6,
            label=_series_label(model, agg, statistical),
        )
    edges = summary[present[0]]["bins"]["edges_eev"]
    log_energy_axis(ax, edges)
    ax.set_xlabel(LABEL["energy_true"])


@styled
def relative_resolution_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """sigma_E / E vs true energy of every model, error bars the spread over seeds.

    ``summary`` maps model -> :func:`airshower.evaluation.aggregate_seeds` output.
    """
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    ax = fig.subplots()
    _compare_binned(ax, summary, models, "relative_resolution", 100.0)
    ax.set_ylabel(LABEL["relative_resolution"])
    ax.set_ylim(bottom=0)
    ax.set_title("Energy resolution of all models (test set; error bars: spread over seeds)")
    fig.legend(loc="outside right center", fontsize=9)
    return fig


@styled
def bias_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """Absolute [EeV] and relative [%] bias vs true energy of every model."""
    fig = Figure(figsize=(15, 5.2), layout="constrained")
    a_abs, a_rel = fig.subplots(1, 2)
    _compare_binned(a_abs, summary, models, "bias_eev", 1.0)
    _compare_binned(a_rel, summary, models, "relative_bias", 100.0)
    for ax, key in ((a_abs, "bias"), (a_rel, "relative_bias")):
        ax.axhline(0.0, color="0.3", lw=1, ls=":")
        ax.set_ylabel(LABEL[key])
    fig.legend(*a_abs.get_legend_handles_labels(), loc="outside right center", fontsize=9)
    fig.suptitle("Energy bias of all models (test set; error bars: spread over seeds)")
    return fig


def _overall_point(ax, q: Mapping, y: float, scale: float, style: Mapping, ms: float, filled: bool) -> None:
    """One model's overall value: mean over seeds with the seed spread (or the bootstrap
    half-width for one seed) as error bar, and the single seeds as small open dots."""
    err = q["std"] if q["std"] is not None else q["stat"]
    ax.errorbar(
        q["mean"] * scale,
        y,
        xerr=None if err is None else err * scale,
        color=style["color"],
        marker=style["marker"],
        ms=ms,
        mfc=style["color"] if filled else "white",
        ls="none",
        capsize=0,
        lw=2,
    )
    vals = as_array(q["values"], scale)
    if len(vals) > 1:
        ax.plot(
            vals, np.full(len(vals), y), ls="none", marker="o", ms=4, mfc="white", mec=style["color"], mew=1.2
        )


def _overall_legend_and_limits(fig: Figure, a_abs, a_rel, n_rows: int) -> None:
    a_abs.set_xlabel(LABEL["resolution"])
    a_rel.set_xlabel(LABEL["relative_resolution"])
    a_abs.plot([], [], ls="none", marker="o", ms=9, color="0.4", label="std(E_rec − E_true), mean over seeds")
    a_abs.plot([], [], ls="none", marker="o", ms=9, color="0.4", mfc="white", label="robust: 68 % half-width")
    a_abs.plot([], [], ls="none", marker="o", ms=4, mfc="white", mec="0.4", label="single seeds")
    fig.legend(loc="outside lower center", ncols=3, fontsize=9)
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
    fig = Figure(figsize=(12, 1.8 + 0.65 * len(present)), layout="constrained")
    a_abs, a_rel = fig.subplots(1, 2, sharey=True)
    ypos = np.arange(len(present))[::-1]
    for y, model in zip(ypos, present, strict=True):
        o = summary[model]["overall"]
        ms = 12 if model == BASELINE else 9
        for ax, key, scale, dy, filled in (
            (a_abs, "resolution_eev", 1.0, 0.13, True),
            (a_abs, "resolution68_eev", 1.0, -0.13, False),
            (a_rel, "relative_resolution", 100.0, 0.0, True),
        ):
            if o[key]["mean"] is not None:
                _overall_point(ax, o[key], y + dy, scale, styles[model], ms, filled)
    a_abs.set_yticks(ypos, labels=present)
    _overall_legend_and_limits(fig, a_abs, a_rel, len(present))
    fig.suptitle(
        "Overall resolution per model (test set; error bars: spread over seeds, or bootstrap "
        "68 % for one seed)"
    )
    return fig

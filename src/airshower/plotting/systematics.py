"""The systematics figures: per reconstructed target, the shift of its headline metrics
(:data:`airshower.evaluation.systematics.SHIFTS`, one panel each) from the nominal test set to
each variant (x axis), every model that reconstructs the target a coloured marker (dodged) with
its combined 68 % interval. They take ``results/systematics.json`` and compute nothing but their
layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from airshower.evaluation.systematics import SHIFTS
from airshower.plotting.style import (
    error_capsize,
    error_kind_handles,
    model_styles,
    styled,
    symlog_axis,
    symlog_threshold,
)
from airshower.schema import BASELINE
from airshower.targets import TARGETS

ERRORS = "error bars: combined 68 % interval (bootstrap of both test sets, seed spread)"
ERROR_KINDS = {
    "spread": "no caps: bootstrap + seed spread",
    "bootstrap": "caps: bootstrap (one result)",
}


def _series(
    shifts: Mapping, variants: Sequence[str], model: str, target: str, shift
) -> tuple[np.ndarray, ...]:
    """Mean, lower and upper error of one model's shift per variant (NaN where absent)."""
    mean, low, high = (np.full(len(variants), np.nan) for _ in range(3))
    for i, variant in enumerate(variants):
        e = shifts.get(variant, {}).get(model, {}).get("targets", {}).get(target, {}).get(shift.name)
        if not e or e["mean"] is None:
            continue
        mean[i] = e["mean"] * shift.scale
        if e["lo"] is not None and e["hi"] is not None:
            low[i] = max(mean[i] - e["lo"] * shift.scale, 0.0)
            high[i] = max(e["hi"] * shift.scale - mean[i], 0.0)
    return mean, np.nan_to_num(low), np.nan_to_num(high)


def _models_of(shifts: Mapping, variants: Sequence[str], models: Sequence[str], target: str) -> list[str]:
    return [
        m for m in models if any(target in shifts.get(v, {}).get(m, {}).get("targets", {}) for v in variants)
    ]


def _panels(shifts: Mapping, variants: Sequence[str], models: Sequence[str], target: str) -> list:
    """The shifts of ``target`` that some model has a value of (the energy's coverage shift only
    where a model predicts a width)."""

    def has(shift) -> bool:
        for v in variants:
            for m in models:
                e = shifts.get(v, {}).get(m, {}).get("targets", {}).get(target, {}).get(shift.name) or {}
                if e.get("mean") is not None or e.get("variant") is not None:
                    return True
        return False

    return [shift for shift in SHIFTS[target] if has(shift)]


def _n_seeds(shifts: Mapping, variants: Sequence[str], model: str) -> int:
    """The most seeds ``model`` has shifts of in any variant."""
    return max((shifts.get(v, {}).get(model, {}).get("n_seeds", 1) for v in variants), default=1)


def _panel(ax, shift, target: str, data: Mapping, present: Sequence[str], styles: Mapping) -> set[str]:
    """One shift's panel: per model (dodged) its mean shift per variant with the interval, caps
    for a single seed's bootstrap interval, none where the seed spread is in; symmetric-log when
    the largest shift is more than :data:`~.style.SYMLOG_SPAN` times the typical one. Returns
    the error bar kinds drawn."""
    variants = data["variants"]
    ax.axhline(0.0, color="0.3", lw=1.0, zorder=1)
    x = np.arange(len(variants), dtype=np.float64)
    width = min(0.8 / len(present), 0.18)
    kinds, means = set(), []
    for k, model in enumerate(present):
        mean, low, high = _series(data["shifts"], variants, model, target, shift)
        means.append(mean)
        single = _n_seeds(data["shifts"], variants, model) == 1
        kinds.add("bootstrap" if single else "spread")
        st = styles.get(model) or model_styles([model])[model]
        ax.errorbar(
            x + width * (k - (len(present) - 1) / 2),
            mean,
            yerr=np.vstack([low, high]),
            capsize=error_capsize(single),
            color=st["color"],
            marker=st["marker"],
            mfc=st.get("markerfacecolor", st["color"]),
            ls="none",
            ms=10 if model == BASELINE else 6,
            label=model,
            zorder=3,
        )
    linthresh = symlog_threshold(np.concatenate(means))
    if linthresh is not None:
        symlog_axis(ax, linthresh)
    ax.set_xticks(x, labels=list(variants))
    ax.set_xlim(-0.6, len(variants) - 0.4)
    ax.set_xlabel("systematic variant")
    ax.set_ylabel(shift.label)
    ax.grid(axis="x", visible=False)
    return kinds


@styled
def shift_figure(
    target: str,
    shifts: Mapping[str, Mapping[str, Mapping]],
    variants: Sequence[str],
    models: Sequence[str],
    colour_order: Sequence[str] | None = None,
) -> Figure:
    """One panel per shift of ``target``: x the variants, per model (``models`` order, the colours
    by ``colour_order``, the comparison's order) a marker with its interval, a zero line; the
    legend, models and error bar kinds, right of the panels (below the title).

    ``shifts``: ``{variant: {model: aggregate}}`` (:func:`airshower.evaluation.systematics.aggregate_shifts`).
    """
    present = _models_of(shifts, variants, models, target)
    if not present:
        raise ValueError(f"no model has {target} shifts for the variants {', '.join(variants)}")
    styles = model_styles(list(colour_order or models))
    panels = _panels(shifts, variants, present, target)
    fig = Figure(figsize=(max(6.0, 1.1 * len(variants) + 3) * len(panels) + 3.0, 5.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)[0])
    data = {"variants": list(variants), "shifts": shifts}
    kinds = set()
    for ax, shift in zip(axes, panels, strict=True):
        kinds |= _panel(ax, shift, target, data, present, styles)
    handles, labels = axes[0].get_legend_handles_labels()
    extra, extra_labels = error_kind_handles(kinds, ERROR_KINDS)
    fig.legend(
        [*handles, *extra],
        [*labels, *extra_labels],
        loc="outside right center",
        ncols=1 + (len(handles) + len(extra)) // 16,
    )
    fig.suptitle(f"{TARGETS[target].title}: shift from the nominal test set\n{ERRORS}", fontsize=10)
    return fig


def systematics_figures(summary: Mapping, targets: Sequence[str] | None = None) -> dict[str, Figure]:
    """``{target: Figure}`` of ``results/systematics.json`` (``variants``, ``models``, the row
    order, ``model_order``, the comparison's order, and ``shifts``), for ``targets`` (default:
    every target some model has shifts of)."""
    variants, shifts = list(summary["variants"]), summary["shifts"]
    models = list(summary["models"])
    if targets is None:
        targets = [t for t in SHIFTS if _models_of(shifts, variants, models, t)]
    return {
        t: shift_figure(t, shifts, variants, models, summary.get("model_order") or models) for t in targets
    }


ROBUSTNESS_ERRORS = "error bars: the shift's combined 68 % interval from the nominal value"


def _robustness_series(shifts: Mapping, fractions: Mapping[str, float], model: str, target: str, shift):
    """x (dead fraction, 0 first: the nominal test set), the value and its lower and upper error
    of one model's statistic ``shift`` on the nominal set and each dead-station variant."""
    x, value, low, high = [0.0], [np.nan], [0.0], [0.0]
    for variant, fraction in sorted(fractions.items(), key=lambda kv: kv[1]):
        e = shifts.get(variant, {}).get(model, {}).get("targets", {}).get(target, {}).get(shift.name)
        if not e or e.get("variant") is None:
            continue
        nominal = e["nominal"]
        value[0] = nominal * shift.scale
        x.append(fraction)
        value.append(e["variant"] * shift.scale)
        if e["lo"] is None or e["hi"] is None:
            low.append(0.0)
            high.append(0.0)
            continue
        lo, hi = (nominal * (1 + b) if shift.relative else nominal + b for b in (e["lo"], e["hi"]))
        low.append(max(value[-1] - lo * shift.scale, 0.0))
        high.append(max(hi * shift.scale - value[-1], 0.0))
    return (np.array(a, dtype=np.float64) for a in (x, value, low, high))


@styled
def robustness_figure(
    target: str,
    shifts: Mapping[str, Mapping[str, Mapping]],
    fractions: Mapping[str, float],
    models: Sequence[str],
    colour_order: Sequence[str] | None = None,
) -> Figure:
    """One panel per shift of ``target``: its statistic (not its shift) against the fraction of
    dead stations, 0 for the nominal test set and ``fractions`` (``{variant: dead_fraction}``,
    the variants that only switch stations off) for the others; every model that reconstructs
    the target a line with its intervals. ``shifts`` as in :func:`shift_figure`."""
    variants = list(fractions)
    present = _models_of(shifts, variants, models, target)
    if not present:
        raise ValueError(f"no model has {target} shifts for the dead-station variants {', '.join(variants)}")
    styles = model_styles(list(colour_order or models))
    panels = _panels(shifts, variants, present, target)
    fig = Figure(figsize=(5.5 * len(panels) + 3.0, 4.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)[0])
    for ax, shift in zip(axes, panels, strict=True):
        for model in present:
            x, value, low, high = _robustness_series(shifts, fractions, model, target, shift)
            st = styles.get(model) or model_styles([model])[model]
            ax.errorbar(
                100.0 * x,
                value,
                yerr=np.vstack([low, high]),
                capsize=2,
                color=st["color"],
                marker=st["marker"],
                mfc=st.get("markerfacecolor", st["color"]),
                ls=st.get("linestyle", "-"),
                ms=9 if model == BASELINE else 5,
                label=model,
                zorder=3,
            )
        ax.set_xlabel("dead stations [% of the array]")
        ax.set_ylabel(shift.value_label or shift.label)
        ax.set_xlim(left=-1.0)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", ncols=1 + len(handles) // 16)
    fig.suptitle(
        f"{TARGETS[target].title}: against the fraction of dead stations "
        f"(0: the nominal test set)\n{ROBUSTNESS_ERRORS}",
        fontsize=10,
    )
    return fig

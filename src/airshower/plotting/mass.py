"""Figures of the mass composition, every model of the target on one figure: the ROC curves of
every pair of mass classes, the confusion matrices and the merit factors (of the classifier's
score, of the reconstructed and of the true Xmax, and with the muon content where the showers
have it). They take the per-model seed aggregates of ``results/targets/mass/summary.json``, as
:mod:`.targets`, whose registry names them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from airshower.plotting.style import (
    model_styles,
    present_models,
    styled,
    target_title,
)


def _pairs(summary: Mapping, present: Sequence[str]) -> list[str]:
    return list(summary[present[0]]["pairs"])


@styled
def mass_roc(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """ROC curves of every pair of mass classes (one panel per pair), every model, AUC in the
    legend."""
    present = present_models(summary, models)
    styles = model_styles(models)
    pairs = _pairs(summary, present)
    fig = Figure(figsize=(6.2 * len(pairs) + 0.5, 5.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(pairs)))
    for ax, key in zip(axes, pairs, strict=True):
        light, heavy = summary[present[0]]["pairs"][key]["names"]
        ax.plot([0, 1], [0, 1], color="0.5", lw=1, ls=":", label="no separation (AUC 0.5)")
        for model in present:
            pair = summary[model]["pairs"][key]
            st = styles[model]
            auc = pair["auc"]
            text = "–" if auc["mean"] is None else f"{auc['mean']:.3f}"
            ax.plot(
                pair["roc"]["fpr"],
                pair["roc"]["tpr"],
                color=st["color"],
                ls=st["linestyle"],
                label=f"{model} (AUC {text})",
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel(f"false positive rate ({light} taken for {heavy})")
        ax.set_ylabel(f"true positive rate ({heavy} identified)")
        ax.set_title(f"{light} vs {heavy}")
        ax.legend(loc="lower right")
    fig.suptitle("Mass classification: ROC curves\n(test set; score p_heavy / (p_light + p_heavy))")
    return fig


def _confusion_axes(ax, matrix: Mapping, names: Sequence[str], title: str):
    fractions = np.array([[np.nan if f is None else 100 * f for f in row] for row in matrix["fractions"]])
    image = ax.imshow(fractions, vmin=0, vmax=100, cmap="Blues")
    for (i, j), value in np.ndenumerate(fractions):
        count = matrix["counts"][i][j]
        ax.text(
            j,
            i,
            f"{value:.1f} %\n({count})",
            ha="center",
            va="center",
            fontsize=9,
            color="white" if value > 60 else "black",
        )
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, labels=names)
    ax.set_yticks(ticks, labels=names)
    ax.grid(False)
    ax.set_xlabel("predicted class (argmax)")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return image


@styled
def mass_confusion(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """Confusion matrix of every model: per cent of each true class (row) predicted as each class,
    the counts (summed over seeds) below."""
    present = present_models(summary, models)
    ncols = min(4, len(present))
    nrows = -(-len(present) // ncols)
    fig = Figure(figsize=(max(3.6 * ncols + 1.2, 6.5), 3.5 * nrows + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    image = None
    for ax, model in zip(axes, present, strict=False):
        names = summary[model]["names"]
        image = _confusion_axes(ax, summary[model]["confusion"], names, model)
    for ax in axes[len(present) :]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axes.tolist(), label="events of the true class [%]", shrink=0.8)
    fig.suptitle("Mass classification: confusion matrices (test set, all seeds)")
    return fig


# (merit, legend label, filled: True / False (open) in the model's colour, None grey (ideal),
# marker: None the model's); the Xmax + R_mu pair only where the showers have the muon target
MERIT_KEYS = (
    ("merit", "classifier score", True, None),
    ("merit_xmax_reco", r"reconstructed $X_\mathrm{max}$", False, None),
    ("merit_xmax_true", r"true $X_\mathrm{max}$ (ideal)", None, "D"),
    ("merit_combined_reco", r"reconstructed $X_\mathrm{max}$ + $R_\mu$ (Fisher)", False, "h"),
    ("merit_combined_true", r"true $X_\mathrm{max}$ + $R_\mu$ (ideal)", None, "h"),
)
# a merit factor beyond this many times the largest of the others (a saturated classifier score,
# whose two classes sit at 0 and 1) is drawn at the axis' edge with its value written
MERIT_OVERFLOW = 2.0


def _merit_point(
    ax, entry: Mapping, y: float, style: Mapping, filled: bool | None, marker: str | None, limit: float
) -> None:
    if entry is None or entry["mean"] is None:
        return
    err = entry["std"] if entry["std"] is not None else entry["stat"]
    color = "0.45" if filled is None else style["color"]
    if entry["mean"] > limit:  # off the scale of the others: at the edge, with its value
        ax.plot(limit, y, marker=">", color=color, ms=9, ls="none", clip_on=False)
        ax.annotate(
            f"{entry['mean']:.3g} →",
            (limit, y),
            xytext=(-12, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=9,
            color=color,
        )
        return
    ax.errorbar(
        entry["mean"],
        y,
        xerr=err,
        color=color,
        marker=marker or style["marker"],
        mfc="white" if filled is False else color,
        ms=8,
        ls="none",
        capsize=0,
        lw=2,
    )


def _merit_limit(summary: Mapping, models: Sequence[str], keys: Sequence[str]) -> float:
    """The right edge of the merit axis: the largest merit factor with its error bar, the
    classifier's left out where it is beyond :data:`MERIT_OVERFLOW` times the others' largest."""

    def tops(names):
        out = []
        for m in models:
            for pair in summary[m]["pairs"].values():
                for k in names:
                    e = pair.get(k) or {}
                    if e.get("mean") is not None:
                        err = e["std"] if e.get("std") is not None else e.get("stat")
                        out.append(e["mean"] + (float(np.max(err)) if err is not None else 0.0))
        return out

    others = tops([k for k in keys if k != "merit"])
    if not others:
        return float("inf")
    cap = MERIT_OVERFLOW * max(others)
    return 1.08 * max([*others, *[v for v in tops(["merit"]) if v <= cap]])


def _has_merit(model_summary: Mapping, key: str) -> bool:
    """Whether a model's aggregate has merit factor ``key`` for some pair of classes."""
    return any((pair.get(key) or {}).get("mean") is not None for pair in model_summary["pairs"].values())


@styled
def mass_merit(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """Merit factor per model and pair of classes: the classifier's score, the reconstructed
    Xmax (models that predict it) and the true Xmax of the same events (the ideal Xmax), and
    where the showers have the muon target Xmax and R_mu combined, reconstructed and true."""
    present = present_models(summary, models)
    styles = model_styles(models)
    pairs = _pairs(summary, present)
    fig = Figure(figsize=(6.5 * len(pairs) + 1, max(1.9 + 0.6 * len(present), 3.6)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(pairs), sharey=True))
    ypos = np.arange(len(present))[::-1]
    shown = [k for k in MERIT_KEYS if any(_has_merit(summary[m], k[0]) for m in present)]
    offsets = np.linspace(0.3, -0.3, len(shown)) if len(shown) > 1 else [0.0]
    limit = _merit_limit(summary, present, [k[0] for k in shown])
    for ax, key in zip(axes, pairs, strict=True):
        for y, model in zip(ypos, present, strict=True):
            pair = summary[model]["pairs"][key]
            for (q, _, filled, marker), dy in zip(shown, offsets, strict=True):
                _merit_point(ax, pair.get(q), y + dy, styles[model], filled, marker, limit)
        light, heavy = summary[present[0]]["pairs"][key]["names"]
        ax.set_title(f"{light} vs {heavy}")
        ax.set_xlabel(
            r"merit factor $|\langle x\rangle_a - \langle x\rangle_b| / \sqrt{\sigma_a^2 + \sigma_b^2}$"
        )
        ax.set_xlim(0, min(ax.get_xlim()[1] * 1.05, limit))
        ax.set_ylim(-0.6, len(present) - 0.4)
        ax.grid(axis="y", visible=False)
    axes[0].set_yticks(ypos, labels=present)
    axes[0].set_ylabel("model")
    for _, label, filled, marker in shown:
        color = "0.45"
        axes[0].plot(
            [],
            [],
            ls="none",
            marker=marker or "o",
            ms=8,
            color=color,
            mfc=color if filled is not False else "white",
            label=label,
        )
    fig.legend(loc="outside lower center", ncols=3)
    target_title(fig, "Mass separation: merit factors")
    return fig

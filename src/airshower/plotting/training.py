"""Training curves of one model: loss per seed and the learning rate, vs epoch."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from airshower.plotting.style import LABEL, plain_log_labels, seed_colors, styled


def _seed_curves(
    a_loss, a_lr, seed: int, h: Mapping[str, np.ndarray], col: str, lr_width: float, verdict: str | None
) -> None:
    """Training and validation loss (best epoch circled; the convergence verdict, if given, in the
    validation line's label) and the learning rate of one seed."""
    epoch = np.asarray(h["epoch"]) + 1
    dots = {"marker": "o", "ms": 4} if len(epoch) <= 3 else {}  # a line needs points to be seen
    a_loss.plot(epoch, h["loss"], color=col, ls="-", label=f"seed {seed}: training", **dots)
    if "val_loss" in h:
        val = np.asarray(h["val_loss"], dtype=np.float64)
        label = f"seed {seed}: validation" + (f", {verdict}" if verdict else "")
        a_loss.plot(epoch, val, color=col, ls="--", label=label, **dots)
        if np.isfinite(val).any():
            best = int(np.nanargmin(val))
            a_loss.plot(epoch[best], val[best], marker="o", mfc="none", mec=col, ms=10, ls="none")
    if "learning_rate" in h:
        a_lr.step(
            epoch, h["learning_rate"], where="post", color=col, label=f"seed {seed}", lw=lr_width, **dots
        )


def _resumed_mark(a_loss, a_lr, seed: int, epochs_done: int, col: str) -> None:
    """A dotted vertical line between the last epoch before the interruption and the first after
    it (epochs are drawn from 1), on both panels, labelled in the loss legend."""
    label = f"seed {seed}: resumed after epoch {epochs_done}"
    for ax in (a_loss, a_lr):
        ax.axvline(epochs_done + 0.5, color=col, ls=":", lw=1.8, label=label if ax is a_loss else None)


def _verdicts(convergence: Mapping[int, str]) -> str:
    """A second title line with the seeds grouped by verdict ("not converged (too few epochs):
    seed 1; ..."); empty without verdicts."""
    groups: dict[str, list[int]] = {}
    for seed, verdict in convergence.items():
        groups.setdefault(verdict, []).append(seed)
    parts = [
        f"{verdict}: seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in sorted(seeds))}"
        for verdict, seeds in groups.items()
    ]
    return "\n" + "; ".join(parts) if parts else ""


@styled
def training_curves(
    histories: Mapping[int, Mapping[str, np.ndarray]],
    model: str,
    color: str | None = None,
    resumed: Mapping[int, int] | None = None,
    convergence: Mapping[int, str] | None = None,
) -> Figure:
    """Training and validation loss per seed (log scale) and the learning rate, vs epoch.

    ``histories`` maps seed -> columns of the Keras CSV log (``epoch`` counted from 0,
    ``loss``, ``val_loss``, ``learning_rate``); ``color`` is the model's colour (seeds are
    drawn in shades of it); ``resumed`` maps a seed whose training was resumed from a
    checkpoint to the epochs it had finished before (``resumed_from_epoch`` of
    ``training.json``), marked by a dotted vertical line; ``convergence`` maps a seed to its
    verdict (:attr:`airshower.evaluation.Convergence.label`, "converged (early stopping)", "not
    converged (too few epochs)", ...), written after its validation line in the legend and, with
    the seeds grouped by verdict, in the title.
    """
    fig = Figure(figsize=(8, 7.5), layout="constrained")
    a_loss, a_lr = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
    colors = seed_colors(list(histories), color)
    convergence = convergence or {}
    for k, (seed, h) in enumerate(histories.items()):
        # identical learning-rate schedules would hide each other: earlier seeds drawn wider underneath
        width = 1.6 + 2.0 * (len(histories) - 1 - k)
        _seed_curves(a_loss, a_lr, seed, h, colors[seed], width, convergence.get(seed))
        if resumed and resumed.get(seed) is not None:
            _resumed_mark(a_loss, a_lr, seed, int(resumed[seed]), colors[seed])
    a_loss.plot([], [], marker="o", mfc="none", mec="0.3", ms=10, ls="none", label="lowest validation loss")
    losses = [h[c] for h in histories.values() for c in ("loss", "val_loss") if c in h]
    if all(np.nanmin(v) > 0 for v in losses if np.any(np.isfinite(v))):
        a_loss.set_yscale("log")
        plain_log_labels(a_loss.yaxis)
    # else: a negative log-likelihood (loss gaussian_nll) can be negative: linear axis
    a_loss.set_ylabel(LABEL["loss"])
    a_loss.set_title(f"{model}: training history (loss on the standardized energy)" + _verdicts(convergence))
    a_loss.legend(ncols=2 if len(histories) > 2 else 1)
    if not any("learning_rate" in h for h in histories.values()):
        a_lr.text(0.5, 0.5, "learning rate not logged", transform=a_lr.transAxes, ha="center")
    elif len(histories) > 1:
        a_lr.legend()
    a_lr.set_yscale("log")
    plain_log_labels(a_lr.yaxis)
    a_lr.set_ylabel(LABEL["learning_rate"])
    a_lr.set_xlabel(LABEL["epoch"])
    a_lr.xaxis.get_major_locator().set_params(integer=True)
    return fig

"""Whether a training converged, judged from its validation loss per epoch: early stopping, a
flat validation loss, or not converged.

The rule (:data:`RULE` words it for the summary's footnote and the report captions; the numbers
are the constants below), checked in this order, epochs counted as run:

1. **not converged (no validation loss)**: no finite validation loss at all;
2. **converged (early stopping)**: the last ``patience`` epochs (``training.early_stopping_patience``)
   brought no validation loss below the lowest one before them: the criterion of Keras'
   ``EarlyStopping`` (``min_delta`` 0), met before or at the configured last epoch;
3. **not converged (stopped early)**: a run with fewer epochs than configured
   (``training.epochs``) that stopped for another reason;
4. **not converged (too few epochs)**: a run shorter than :data:`MIN_EPOCHS` (10) epochs, too
   short to tell a plateau from a pause (a 5-epoch run of a large network lands here);
5. **converged (flat)**: the lowest validation loss so far went down by less than
   :data:`FLAT_TOLERANCE` (1 %, relative) over the last :data:`FLAT_WINDOW_EPOCHS` (5) epochs,
   as at the end of a cosine schedule whose learning rate has gone to almost zero;
6. **not converged (still improving)**: otherwise.

The window does not depend on the early-stopping patience, so a run without early stopping is
judged by the same test. The lowest loss so far, not the last value, is compared, so an epoch's
noise upwards does not hide a plateau.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

FLAT_WINDOW_EPOCHS = 5  # epochs over which the lowest validation loss must have levelled off
FLAT_TOLERANCE = 0.01  # relative decrease of the lowest validation loss that still counts as flat
MIN_EPOCHS = 2 * FLAT_WINDOW_EPOCHS  # the window is at most the second half of the training

EARLY_STOPPING = "early stopping"
FLAT = "flat"
STOPPED_EARLY = "stopped early"
TOO_FEW_EPOCHS = "too few epochs"
STILL_IMPROVING = "still improving"
NO_VALIDATION_LOSS = "no validation loss"


def _percent(fraction: float, decimals: int = 0) -> str:
    """``0.0123`` -> ``"1.2 %"`` (a space before the sign, as in the rest of the study's text)."""
    return f"{100 * fraction:.{decimals}f} %"


RULE = (
    "converged (early stopping): the last P epochs brought no lower validation loss, P the "
    "early-stopping patience (early stopping's own criterion, met before or at the last configured "
    f"epoch); converged (flat): the run has all its configured epochs, at least {MIN_EPOCHS}, "
    f"and its lowest validation loss so far went down by less than {_percent(FLAT_TOLERANCE)} "
    f"(relative) over the last {FLAT_WINDOW_EPOCHS} epochs; otherwise not converged (stopped early, "
    "too few epochs, or still improving)"
)


@dataclass(frozen=True)
class Convergence:
    """The verdict on one run: ``reason`` is one of the module's reason strings, ``detail`` a
    sentence with the numbers (epochs counted from 1), ``improvement`` the relative decrease of
    the lowest validation loss over the last :data:`FLAT_WINDOW_EPOCHS` epochs (None where not
    computed)."""

    converged: bool
    reason: str
    detail: str
    epochs_run: int
    best_epoch: int | None
    improvement: float | None = None

    @property
    def label(self) -> str:
        """``"converged (early stopping)"``, ``"not converged (too few epochs)"``, ..."""
        return f"{'converged' if self.converged else 'not converged'} ({self.reason})"

    def record(self) -> dict:
        """The verdict as a JSON-ready dict (``summary.json``)."""
        return {
            "converged": self.converged,
            "reason": self.reason,
            "label": self.label,
            "detail": self.detail,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "improvement": self.improvement if np.isfinite(self.improvement or 0.0) else None,
        }


def _improvement(lowest: np.ndarray) -> float:
    """Decrease of the running minimum over the last :data:`FLAT_WINDOW_EPOCHS` epochs, relative
    to its magnitude before them (a negative log-likelihood can be negative: ``|before|``)."""
    before, now = lowest[-1 - FLAT_WINDOW_EPOCHS], lowest[-1]
    if not np.isfinite(before):  # no finite loss before the window: all of it is improvement
        return float("inf")
    return float((before - now) / abs(before)) if before != 0 else float(before - now)


def _plateau(n: int, best: int, epochs_max: int, patience: int | None) -> Convergence | None:
    """Early stopping's criterion met, or a run that stopped before its last epoch without it."""
    since = n - 1 - best  # epochs after the lowest validation loss
    if patience is not None and since >= patience:
        when = f"after epoch {n} of {epochs_max}" if n < epochs_max else f"at the last epoch ({n})"
        detail = (
            f"stopped {when}: no lower validation loss in the {since} epochs after epoch {best + 1} "
            f"(patience {patience})"
        )
        return Convergence(True, EARLY_STOPPING, detail, n, best + 1)
    if n < epochs_max:
        detail = f"stopped after epoch {n} of {epochs_max} before early stopping's patience ran out"
        return Convergence(False, STOPPED_EARLY, detail, n, best + 1)
    return None


def judge_convergence(
    history: Mapping[str, np.ndarray], epochs_max: int, patience: int | None
) -> Convergence:
    """Whether a run converged, and why (the rule is in the module docstring and :data:`RULE`).

    Parameters
    ----------
    history
        columns of the run's ``history.csv`` (:func:`airshower.io.read_history`); only
        ``val_loss`` is used, one value per epoch run.
    epochs_max
        the configured number of epochs (``training.epochs`` of the model).
    patience
        the early-stopping patience (``training.early_stopping_patience``); None: no early
        stopping.

    Returns
    -------
    Convergence
    """
    val = np.asarray(history["val_loss"], dtype=np.float64)
    n = len(val)
    if not np.isfinite(val).any():
        return Convergence(False, NO_VALIDATION_LOSS, f"no finite validation loss in {n} epochs", n, None)
    best = int(np.nanargmin(val))  # the first lowest value, as early stopping counts improvements
    verdict = _plateau(n, best, epochs_max, patience)
    if verdict is not None:
        return verdict
    if n < MIN_EPOCHS:
        detail = f"only {n} epochs, fewer than the {MIN_EPOCHS} needed to judge"
        return Convergence(False, TOO_FEW_EPOCHS, detail, n, best + 1)
    improvement = _improvement(np.fmin.accumulate(val))
    flat = improvement < FLAT_TOLERANCE
    detail = (
        f"lowest validation loss down {_percent(improvement, 1)} over the last {FLAT_WINDOW_EPOCHS} "
        f"epochs, {'less than' if flat else 'not less than'} {_percent(FLAT_TOLERANCE)}"
    )
    return Convergence(flat, FLAT if flat else STILL_IMPROVING, detail, n, best + 1, improvement)


def convergence_of_run(history: Mapping[str, np.ndarray], training: Mapping) -> Convergence:
    """:func:`judge_convergence` with the limits of a model's merged training settings
    (:func:`airshower.study.training_settings`: ``epochs``, ``early_stopping_patience``)."""
    return judge_convergence(history, int(training["epochs"]), training.get("early_stopping_patience"))

"""The resumable state of a training run, owned by one Keras callback.

:class:`Resume` has the shape of ``keras.callbacks.BackupAndRestore``: it restores the run at
train begin and saves it at every epoch end, into one checkpoint file
(:mod:`airshower.training.checkpoint`). The state is everything a restarted job needs to go on
as the killed one would have: weights, optimizer variables and learning rate, the state of the
run's ``EarlyStopping`` (best value, epoch and weights, epochs waited) and
``ReduceLROnPlateau`` (best value, epochs waited, cooldown), the history rows and the elapsed
training time. Dropout masks and the shuffling order after a restart are not those of an
uninterrupted run, so a resumed model is equivalent to, not bit-identical with, it.

This module imports Keras: the training package imports it only when a fit starts (after
``configure_runtime``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping

import keras
import numpy as np

from airshower.training.checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)


class Resume(keras.callbacks.Callback):
    """Checkpoint at every epoch end, restore at train begin; record history and time.

    Place it after the run's ``early_stopping`` and ``reduce_lr`` in the callbacks of
    ``model.fit``: their ``on_train_begin`` resets them, then this one restores them, and at
    an epoch end it saves what they decided. A run that had finished (stopped early, or all
    epochs done) is restored and runs no further epoch.

    Parameters
    ----------
    path
        the checkpoint file; None: no checkpoint and no resume (history and time are recorded).
    fingerprint
        what determines the run (``fit.fingerprint``); a checkpoint with another is ignored.
    early_stopping, reduce_lr
        the run's ``keras.callbacks.EarlyStopping`` and ``ReduceLROnPlateau``.
    n_samples
        training samples per epoch (for the throughput in the log).
    record
        JSON-serializable identification stored with the state (model name, seed).

    Attributes
    ----------
    history
        one row per epoch since epoch 0 (``epoch``, ``loss``, ``val_loss``, ``learning_rate``
        at the start of the epoch), the restored ones included.
    train_s
        wall time of the training part of every epoch (validation excluded), s.
    training_time_s
        accumulated wall time of the epochs, s.
    resumed_from_epoch
        the epochs the restored checkpoint had finished, None when the run started afresh.
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        fingerprint: str,
        early_stopping: keras.callbacks.EarlyStopping,
        reduce_lr: keras.callbacks.ReduceLROnPlateau,
        n_samples: int,
        record: Mapping | None = None,
    ):
        super().__init__()
        self.path = path
        self.fingerprint = fingerprint
        self.early_stopping = early_stopping
        self.reduce_lr = reduce_lr
        self.n_samples = n_samples
        self.record = dict(record or {})
        self.history: list[dict] = []
        self.train_s: list[float] = []
        self.training_time_s = 0.0
        self.resumed_from_epoch: int | None = None

    # --- restore ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):  # noqa: ARG002 - Keras' callback signature
        self.history, self.train_s, self.training_time_s, self.resumed_from_epoch = [], [], 0.0, None
        checkpoint = self._load()
        if checkpoint is None:
            return
        state = checkpoint["state"]
        model = self.model
        model.set_weights(checkpoint["weights"])
        for var, value in zip(model.optimizer.variables, checkpoint["optimizer"], strict=True):
            var.assign(value)
        model.optimizer.learning_rate = state["learning_rate"]
        early, reduce = self.early_stopping, self.reduce_lr
        s = state["early_stopping"]
        early.wait, early.best, early.best_epoch = s["wait"], s["best"], s["best_epoch"]
        early.best_weights = checkpoint["best_weights"] or None
        s = state["reduce_lr"]
        reduce.wait, reduce.cooldown_counter, reduce.best = s["wait"], s["cooldown_counter"], s["best"]
        self.history = list(state["history"])
        self.train_s = list(state["train_s"])
        self.training_time_s = state["training_time_s"]
        self.resumed_from_epoch = done = state["epochs_done"]
        finished = state["stopped"] or done >= self.params["epochs"]
        model._initial_epoch = self.params["epochs"] if finished else done  # as BackupAndRestore does
        log.info(
            "%s: %s after epoch %d of %d (best val_loss %s at epoch %s)",
            self.path,
            "finished run, restoring its best weights" if finished else "resuming",
            done - 1,
            self.params["epochs"],
            state["early_stopping"]["best"],
            state["early_stopping"]["best_epoch"],
        )

    def _load(self) -> dict | None:
        if self.path is None:
            return None
        checkpoint = load_checkpoint(self.path)
        if checkpoint is not None and checkpoint["state"].get("fingerprint") != self.fingerprint:
            log.info(
                "%s: checkpoint from a different configuration or data (%s != %s), starting over",
                self.path,
                checkpoint["state"].get("fingerprint"),
                self.fingerprint,
            )
            return None
        return checkpoint

    def on_train_end(self, logs=None):  # noqa: ARG002
        self.model._initial_epoch = None  # a later fit of the same model starts at its own epoch

    # --- record and save -------------------------------------------------------------------

    def on_epoch_begin(self, epoch, logs=None):  # noqa: ARG002
        self._t0 = time.perf_counter()
        self._epoch_train_s = None
        self._learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_test_begin(self, logs=None):  # noqa: ARG002 - validation starts: the training part is over
        if self._epoch_train_s is None:
            self._epoch_train_s = time.perf_counter() - self._t0

    def on_epoch_end(self, epoch, logs=None):
        self.training_time_s += time.perf_counter() - self._t0
        logs = logs or {}
        row = {
            "epoch": int(epoch),
            "loss": float(logs["loss"]),
            "val_loss": float(logs["val_loss"]),
            "learning_rate": self._learning_rate,
        }
        self.history.append(row)
        self.train_s.append(self._epoch_train_s if self._epoch_train_s is not None else np.nan)
        log.info(
            "epoch %d: loss %.5g, val_loss %.5g, lr %.3g, %.0f samples/s",
            epoch,
            row["loss"],
            row["val_loss"],
            row["learning_rate"],
            self.n_samples / self.train_s[-1] if self.train_s[-1] else np.nan,
        )
        if self.path is not None:
            save_checkpoint(
                self.path,
                self.model.get_weights(),
                [np.array(keras.ops.convert_to_numpy(v)) for v in self.model.optimizer.variables],
                self.early_stopping.best_weights,
                self._state(epoch),
            )

    def _state(self, epoch: int) -> dict:
        early, reduce = self.early_stopping, self.reduce_lr
        return {
            "fingerprint": self.fingerprint,
            **self.record,
            "train_s": self.train_s,
            "training_time_s": self.training_time_s,
            "epochs_done": epoch + 1,
            "stopped": bool(self.model.stop_training),
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "early_stopping": {
                "wait": early.wait,
                "best": _plain(early.best),
                "best_epoch": early.best_epoch,
            },
            "reduce_lr": {
                "wait": reduce.wait,
                "cooldown_counter": reduce.cooldown_counter,
                "best": _plain(reduce.best),
            },
            "history": self.history,
        }


def _plain(value) -> float | None:
    return None if value is None else float(value)

"""The resumable state of a training run, owned by one Keras callback.

:class:`Resume` has the shape of ``keras.callbacks.BackupAndRestore``: it restores the run at
train begin and saves it at every epoch end, into one checkpoint file
(:mod:`airshower.training.checkpoint`). The state is everything a restarted job needs to go on
as the killed one would have: weights, optimizer variables (its step count among them, so a
learning-rate schedule of the steps goes on where it was) and learning rate, the state of the
run's ``EarlyStopping`` (best value, epoch and weights, epochs waited) and, with the ``plateau``
schedule, ``ReduceLROnPlateau`` (best value, epochs waited, cooldown), the history rows and the
elapsed training time. A checkpoint whose state lacks a key or whose arrays do not fit the model is
treated as damaged (moved aside, the run starts over). Dropout masks and the shuffling order
after a restart are not those of an uninterrupted run, so a resumed model is equivalent to,
not bit-identical with, it.

:class:`StopWhenOrphaned` ends the fit at an epoch end, after the checkpoint, when the process
that started the job is gone (:mod:`airshower.jobs`).

This module imports Keras: the training package imports it only when a fit starts (after
``configure_runtime``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import keras
import numpy as np

from airshower import io
from airshower.training.checkpoint import discard_checkpoint, load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from airshower.jobs import Job

log = logging.getLogger(__name__)


class Resume(keras.callbacks.Callback):
    """Checkpoint at every epoch end, restore at train begin; record history and time.

    Place it after the run's ``early_stopping`` and ``reduce_lr`` (if any) in the callbacks of
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
        the run's ``keras.callbacks.EarlyStopping`` and ``ReduceLROnPlateau``; ``reduce_lr``
        None for a learning rate that is a schedule of the optimizer's steps (``cosine``): it
        is restored with the step count, not set.
    n_samples
        training samples per epoch (for the throughput in the log).
    record
        JSON-serializable identification stored with the state (model name, seed).
    dataset
        the augmented training data (``airshower.augmentation.augmented_dataset``), if any: its
        epoch is set to the first epoch to run, so a resumed run draws the augmentations an
        uninterrupted one would.

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
        reduce_lr: keras.callbacks.ReduceLROnPlateau | None,
        n_samples: int,
        record: Mapping | None = None,
        dataset=None,
    ):
        super().__init__()
        self.dataset = dataset
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
            if self.dataset is not None:
                self.dataset.epoch = 0
            return
        state = checkpoint["state"]
        model = self.model
        model.set_weights(checkpoint["weights"])
        for var, value in zip(model.optimizer.variables, checkpoint["optimizer"], strict=True):
            var.assign(value)
        early, reduce = self.early_stopping, self.reduce_lr
        s = state["early_stopping"]
        early.wait, early.best, early.best_epoch = s["wait"], s["best"], s["best_epoch"]
        early.best_weights = checkpoint["best_weights"] or None
        if reduce is not None:  # else a schedule of the steps: the restored step count sets the rate
            model.optimizer.learning_rate = state["learning_rate"]
            s = state["reduce_lr"]
            reduce.wait, reduce.cooldown_counter, reduce.best = s["wait"], s["cooldown_counter"], s["best"]
        self.history = list(state["history"])
        self.train_s = list(state["train_s"])
        self.training_time_s = state["training_time_s"]
        self.resumed_from_epoch = done = state["epochs_done"]
        finished = state["stopped"] or done >= self.params["epochs"]
        model._initial_epoch = self.params["epochs"] if finished else done  # as BackupAndRestore does
        if self.dataset is not None:
            self.dataset.epoch = done
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
        if self.path is None or (checkpoint := load_checkpoint(self.path)) is None:
            return None
        found = checkpoint["state"].get("fingerprint")
        if isinstance(found, str) and found != self.fingerprint:
            log.info(
                "%s: checkpoint from a different configuration or data (%s != %s), starting over",
                self.path,
                found,
                self.fingerprint,
            )
            return None
        try:
            _check_state(checkpoint["state"])
            _check_arrays(checkpoint, self.model)
        except ValueError as exc:
            discard_checkpoint(self.path, str(exc))
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
            # JAX dispatches steps asynchronously: wait for the last update before the clock stops
            keras.ops.convert_to_numpy(self.model.trainable_variables[0])
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
            "reduce_lr": None if reduce is None else _reduce_lr_state(reduce),
            "history": self.history,
        }


class StopWhenOrphaned(keras.callbacks.Callback):
    """Stop the fit at an epoch end when the process that started the job is gone.

    Place it after :class:`Resume`: the epoch's checkpoint is written before it raises
    :class:`airshower.jobs.Orphaned`, so the next run resumes after that epoch.
    """

    def __init__(self, job: Job, path: str | os.PathLike | None):
        super().__init__()
        self.job = job
        self.path = path

    def on_epoch_end(self, epoch, logs=None):  # noqa: ARG002
        kept = (
            f"with its checkpoint {self.path} saved (the next run resumes from it)"
            if self.path is not None
            else "(no checkpoint: the next run starts over)"
        )
        self.job.check(f"after epoch {epoch} {kept}")


def _plain(value) -> float | None:
    return None if value is None else float(value)


def _reduce_lr_state(reduce: keras.callbacks.ReduceLROnPlateau) -> dict:
    return {"wait": reduce.wait, "cooldown_counter": reduce.cooldown_counter, "best": _plain(reduce.best)}


# What Resume writes into the state, as dotted keys: numbers (the "best" ones may be None;
# "reduce_lr" is None as a whole without ReduceLROnPlateau)
_STATE_NUMBERS = (
    "epochs_done",
    "learning_rate",
    "training_time_s",
    "early_stopping.wait",
    "early_stopping.best",
    "early_stopping.best_epoch",
    "reduce_lr.wait",
    "reduce_lr.cooldown_counter",
    "reduce_lr.best",
)


def _lookup(state: Mapping, key: str):
    value = state
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ValueError(f"state lacks {key!r}")
        value = value[part]
    return value


def _check_state(state: Mapping) -> None:
    """Raise ValueError naming the first key of ``state`` that is missing or of the wrong kind."""
    if not isinstance(_lookup(state, "fingerprint"), str):
        raise ValueError(f"state 'fingerprint' is {state['fingerprint']!r}, not a string")
    for key in _STATE_NUMBERS:
        if key.startswith("reduce_lr.") and _lookup(state, "reduce_lr") is None:
            continue
        value = _lookup(state, key)
        if isinstance(value, bool) or not (
            isinstance(value, int | float) or (value is None and "best" in key)
        ):
            raise ValueError(f"state {key!r} is {value!r}, not a number")
    if not isinstance(_lookup(state, "stopped"), bool):
        raise ValueError(f"state 'stopped' is {state['stopped']!r}, not true or false")
    history, train_s, done = _lookup(state, "history"), _lookup(state, "train_s"), state["epochs_done"]
    if not (isinstance(history, list) and isinstance(train_s, list) and len(history) == len(train_s) == done):
        raise ValueError(f"state 'history' and 'train_s' do not have one entry for each of {done} epochs")
    if not all(isinstance(row, Mapping) and set(io.HISTORY_COLUMNS) <= set(row) for row in history):
        raise ValueError(f"state 'history' has a row without the columns {', '.join(io.HISTORY_COLUMNS)}")


def _check_arrays(checkpoint: Mapping, model: keras.Model) -> None:
    """Raise ValueError if weights, optimizer variables or best weights do not fit the model."""
    weights = [tuple(w.shape) for w in model.weights]
    expected = {
        "weights": weights,
        "optimizer": [tuple(v.shape) for v in model.optimizer.variables],
        "best_weights": weights,
    }
    for name, shapes in expected.items():
        found = [np.shape(a) for a in checkpoint[name]]
        if found != shapes and not (name == "best_weights" and not found):  # no best weights yet
            raise ValueError(
                f"{name}: {len(found)} arrays that do not fit the model's {len(shapes)} ({found})"
            )

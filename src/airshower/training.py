"""Training and inference of the networks: runtime setup, seeding, the fit loop, resume.

One training job fits one model (``config["models"][name]``) with one seed:

- :func:`configure_runtime` sets threads, GPU visibility and memory growth, mixed precision;
  call it before anything builds a tensor (TensorFlow fixes its thread pools then).
- :func:`keras_seed` derives the integer seed of a job from the study seed, the stream
  ``"training"``, the model name (CRC32) and the training seed; :func:`train` seeds Keras with
  it (and enables op determinism on TensorFlow CPU), so the same seed gives the same weights.
- :func:`train` compiles Adam with the configured loss, fits on in-memory NumPy arrays with
  early stopping (best weights restored) and learning-rate reduction on the validation loss,
  and writes a checkpoint at the end of every epoch.

Resume: the checkpoint (``checkpoint.npz`` in the job's checkpoint directory, written
atomically) holds the weights, the optimizer variables, the best weights so far and a JSON
state: finished epochs, early-stopping and learning-rate-schedule state, the history rows and
a fingerprint of the configuration and data (:func:`fingerprint`). A restarted job with the
same fingerprint continues after the last finished epoch; a different fingerprint starts over.
Dropout masks and the shuffling order of a resumed run are not those of an uninterrupted run,
so a resumed model is equivalent, not bit-identical. The entry script ``train.py`` removes the checkpoint once
the job's outputs are written, so a forced re-run trains afresh.

Only ``keras`` and ``keras.ops`` appear in model and loss code, so the same code trains under
``KERAS_BACKEND=tensorflow``, ``jax`` or ``torch``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from airshower import io, rng

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.npz"
LOSSES = ("mse", "mae", "huber", "log_cosh")
# Training settings that do not change the result: a checkpoint stays valid when they change.
RESULT_NEUTRAL = ("seeds", "threads", "gpus", "steps_per_execution")


@dataclass(frozen=True)
class TrainingSettings:
    """The merged training settings of one model (see ``config.training_settings``)."""

    epochs: int
    batch_size: int
    learning_rate: float
    loss: str = "mse"
    early_stopping_patience: int = 6
    reduce_lr_factor: float = 0.5
    reduce_lr_patience: int = 3
    min_lr: float = 1e-5
    threads: int = 1
    gpus: int = 0
    jit_compile: bool = False
    mixed_precision: bool = False
    steps_per_execution: int = 32

    @classmethod
    def from_config(cls, section: Mapping) -> TrainingSettings:
        reduce_lr = section.get("reduce_lr", {})
        loss = section.get("loss", "mse")
        if loss not in LOSSES:
            raise ValueError(f"training.loss: unknown loss {loss!r} (use {', '.join(LOSSES)})")
        return cls(
            epochs=int(section["epochs"]),
            batch_size=int(section["batch_size"]),
            learning_rate=float(section["learning_rate"]),
            loss=loss,
            early_stopping_patience=int(section.get("early_stopping_patience", 6)),
            reduce_lr_factor=float(reduce_lr.get("factor", 0.5)),
            reduce_lr_patience=int(reduce_lr.get("patience", 3)),
            min_lr=float(reduce_lr.get("min_lr", 1e-5)),
            threads=int(section.get("threads", 1)),
            gpus=int(section.get("gpus", 0)),
            jit_compile=bool(section.get("jit_compile", False)),
            mixed_precision=bool(section.get("mixed_precision", False)),
            steps_per_execution=int(section.get("steps_per_execution", 32)),
        )


@dataclass
class TrainingResult:
    """A trained model (best weights), its history rows and the ``training.json`` record."""

    model: keras.Model
    history: list[dict]
    info: dict
    extra: dict = field(default_factory=dict)


# --- runtime -------------------------------------------------------------------------------


def backend_name() -> str:
    """The Keras backend that is (or will be) used: ``KERAS_BACKEND`` or Keras' default."""
    import keras

    return keras.backend.backend()


def configure_runtime(threads: int, gpus: int = 0, mixed_precision: bool = False) -> None:
    """Threads, GPU visibility and memory growth, precision policy; call before building models.

    ``threads`` sets the intra- and inter-op thread pools of TensorFlow (and PyTorch) and the
    OpenMP/BLAS thread count; ``gpus: 0`` hides the GPUs; on a TensorFlow GPU memory grows on
    demand instead of taking the whole card. ``mixed_precision`` switches the Keras policy to
    ``mixed_float16`` (the output layer stays float32).
    """
    n = str(threads)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = n
    os.environ["TF_NUM_INTRAOP_THREADS"] = n
    os.environ["TF_NUM_INTEROP_THREADS"] = n
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
            if gpus == 0:
                tf.config.set_visible_devices([], "GPU")
            else:
                for gpu in tf.config.list_physical_devices("GPU"):
                    tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as exc:  # TensorFlow already initialized: keep what it has
            log.warning("TensorFlow runtime already initialized, threads/GPU settings not applied (%s)", exc)
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # fixed once torch ran parallel work
            torch.set_num_interop_threads(threads)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")


def keras_seed(study_seed: int, model: str, seed: int) -> int:
    """Integer seed of one training job: stream ``training`` of the study seed, per model and seed."""
    gen = rng.generator(study_seed, "training", zlib.crc32(model.encode()), seed)
    return int(gen.integers(0, 2**31 - 1))


def seed_everything(seed: int) -> None:
    """Seed Keras (Python, NumPy and backend generators); op determinism on TensorFlow CPU."""
    import keras

    keras.utils.set_random_seed(int(seed))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_logical_devices("GPU"):
            tf.config.experimental.enable_op_determinism()


# --- model, loss, compile -------------------------------------------------------------------


def make_loss(name: str):
    """Keras loss object of a config loss name."""
    import keras

    losses = {
        "mse": keras.losses.MeanSquaredError,
        "mae": keras.losses.MeanAbsoluteError,
        "huber": keras.losses.Huber,
        "log_cosh": keras.losses.LogCosh,
    }
    if name not in losses:
        raise ValueError(f"unknown loss {name!r} (use {', '.join(losses)})")
    return losses[name]()


def compile_model(model: keras.Model, settings: TrainingSettings) -> None:
    """Adam with the configured learning rate and loss.

    XLA follows ``jit_compile`` on TensorFlow (off by default: on CPU it rarely pays for the
    compile time); JAX always compiles with XLA and PyTorch runs eagerly. ``steps_per_execution``
    batches run in one backend call (TensorFlow, JAX; PyTorch supports only 1): the same updates,
    less per-batch overhead.
    """
    import keras

    backend = keras.backend.backend()
    jit = {"tensorflow": settings.jit_compile, "jax": True, "torch": False}.get(backend, False)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
        loss=make_loss(settings.loss),
        jit_compile=jit,
        steps_per_execution=1 if backend == "torch" else settings.steps_per_execution,
    )


def fingerprint(spec: Mapping, settings: Mapping, seed: int, arrays: Sequence[np.ndarray]) -> str:
    """Hash of what determines a training run: model spec, training settings, seed, data.

    The data enter by shape, dtype and a CRC32 of their bytes; settings that do not change the
    result (:data:`RESULT_NEUTRAL`: seeds list, threads, gpus, steps_per_execution) are left out.
    """
    relevant = {k: v for k, v in settings.items() if k not in RESULT_NEUTRAL}
    data = [[list(a.shape), str(a.dtype), zlib.crc32(np.ascontiguousarray(a).data)] for a in arrays]
    text = json.dumps(
        {"spec": spec, "training": relevant, "seed": int(seed), "data": data}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- checkpoints ----------------------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike,
    weights: Sequence[np.ndarray],
    optimizer: Sequence[np.ndarray],
    best_weights: Sequence[np.ndarray] | None,
    state: Mapping,
) -> None:
    """Write weights, optimizer variables, best weights and the JSON state to one file, atomically."""
    arrays = {f"w{i}": np.asarray(a) for i, a in enumerate(weights)}
    arrays.update({f"o{i}": np.asarray(a) for i, a in enumerate(optimizer)})
    arrays.update({f"b{i}": np.asarray(a) for i, a in enumerate(best_weights or ())})
    arrays["state"] = np.array(json.dumps(dict(state)))
    with io.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_checkpoint(path: str | os.PathLike) -> dict | None:
    """The checkpoint as ``{"state", "weights", "optimizer", "best_weights"}``, or None if unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            state = json.loads(str(npz["state"]))

            def group(prefix):
                keys = sorted(
                    (k for k in npz.files if k[0] == prefix and k[1:].isdigit()), key=lambda k: int(k[1:])
                )
                return [npz[k] for k in keys]

            return {
                "state": state,
                "weights": group("w"),
                "optimizer": group("o"),
                "best_weights": group("b"),
            }
    except (OSError, ValueError, KeyError) as exc:
        log.warning("%s: unreadable checkpoint, starting over (%s)", path, exc)
        return None


def remove_checkpoint(checkpoint_dir: str | os.PathLike | None) -> None:
    """Delete a job's checkpoint (after its outputs are written)."""
    if checkpoint_dir is None:
        return
    path = Path(checkpoint_dir) / CHECKPOINT
    if path.exists():
        path.unlink()
    with contextlib.suppress(OSError):  # not empty: leave it
        Path(checkpoint_dir).rmdir()


def _to_numpy(variables) -> list[np.ndarray]:
    import keras

    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _make_callbacks(settings: TrainingSettings, restored: Mapping | None):
    """Early stopping and LR reduction whose state survives a restart; a timer; the checkpointer."""
    import keras

    class Timer(keras.callbacks.Callback):
        """Wall time of the training part of every epoch (validation excluded) and the LR used."""

        def __init__(self):
            super().__init__()
            self.train_s: dict[int, float] = {}
            self.lr: dict[int, float] = {}

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()
            self._epoch = epoch
            self.lr[epoch] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

        def on_test_begin(self, logs=None):
            if getattr(self, "_epoch", None) is not None and self._epoch not in self.train_s:
                self.train_s[self._epoch] = time.perf_counter() - self._t0

    class EarlyStopping(keras.callbacks.EarlyStopping):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            if restored:
                s = restored["state"]["early_stopping"]
                self.wait, self.best, self.best_epoch = s["wait"], s["best"], s["best_epoch"]
                self.best_weights = restored["best_weights"] or None

    class ReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            if restored:
                s = restored["state"]["reduce_lr"]
                self.wait, self.cooldown_counter, self.best = s["wait"], s["cooldown_counter"], s["best"]

    early = EarlyStopping(
        monitor="val_loss", patience=settings.early_stopping_patience, restore_best_weights=True
    )
    reduce = ReduceLROnPlateau(
        monitor="val_loss",
        factor=settings.reduce_lr_factor,
        patience=settings.reduce_lr_patience,
        min_lr=settings.min_lr,
    )
    return Timer(), early, reduce


class _Checkpointer:
    """Builds the per-epoch checkpoint callback (created lazily so keras is imported late)."""

    @staticmethod
    def make(path: Path | None, state0: dict, history: list[dict], timer, early, reduce, n_train: int):
        import keras

        class Checkpointer(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                history.append(
                    {
                        "epoch": int(epoch),
                        "loss": float(logs["loss"]),
                        "val_loss": float(logs["val_loss"]),
                        "learning_rate": timer.lr.get(epoch, float(logs.get("learning_rate", np.nan))),
                    }
                )
                state0["train_s"].append(timer.train_s.get(epoch, np.nan))
                log.info(
                    "epoch %d: loss %.5g, val_loss %.5g, lr %.3g, %.0f samples/s",
                    epoch,
                    history[-1]["loss"],
                    history[-1]["val_loss"],
                    history[-1]["learning_rate"],
                    n_train / state0["train_s"][-1] if state0["train_s"][-1] else np.nan,
                )
                if path is None:
                    return
                state = {
                    **state0,
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
                    "history": history,
                }
                save_checkpoint(
                    path,
                    self.model.get_weights(),
                    _to_numpy(self.model.optimizer.variables),
                    early.best_weights,
                    state,
                )

        return Checkpointer()


def _plain(value):
    return None if value is None else float(value)


# --- training and inference -----------------------------------------------------------------


def train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    name: str,
    spec: Mapping,
    settings: TrainingSettings,
    study_seed: int,
    seed: int,
    checkpoint_dir: str | os.PathLike | None = None,
    callbacks: Sequence = (),
) -> TrainingResult:
    """Fit model ``name`` (config dict ``spec``) with training seed ``seed``; resume if possible.

    Parameters
    ----------
    x_train, y_train, x_val, y_val
        inputs (N, H, W, C) float32 and standardized targets (N,).
    settings
        merged training settings; call :func:`configure_runtime` with their threads, gpus and
        mixed_precision first.
    study_seed, seed
        the study seed and the job's training seed (see :func:`keras_seed`).
    checkpoint_dir
        where the per-epoch checkpoint lives; None disables checkpoints and resume.
    callbacks
        extra Keras callbacks (run after the checkpointer).

    Returns
    -------
    TrainingResult
        the model with the best validation weights, the history rows (``epoch``, ``loss``,
        ``val_loss``, ``learning_rate``, one per epoch since epoch 0, resumed ones included)
        and the ``training.json`` record.
    """
    import keras

    from airshower import models

    x_train = np.asarray(x_train, dtype=np.float32)
    x_val = np.asarray(x_val, dtype=np.float32)
    y_train = np.asarray(y_train, dtype=np.float32).reshape(-1, 1)
    y_val = np.asarray(y_val, dtype=np.float32).reshape(-1, 1)
    if len(x_train) != len(y_train) or len(x_val) != len(y_val):
        raise ValueError(
            f"inputs and targets differ in length: {len(x_train)}/{len(y_train)} train, "
            f"{len(x_val)}/{len(y_val)} val"
        )

    seed_everything(keras_seed(study_seed, name, seed))
    model = models.build_model(spec, x_train.shape[1:], name=name)
    compile_model(model, settings)
    model.optimizer.build(model.trainable_variables)

    key = fingerprint(spec, asdict(settings), seed, (x_train, y_train, x_val, y_val))
    path = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    restored = load_checkpoint(path) if path is not None else None
    if restored is not None and restored["state"].get("fingerprint") != key:
        log.info(
            "%s: checkpoint from a different configuration or data (%s != %s), starting over",
            path,
            restored["state"].get("fingerprint"),
            key,
        )
        restored = None
    start_epoch, history, prior = 0, [], {"training_time_s": 0.0, "train_s": []}
    if restored is not None:
        state = restored["state"]
        model.set_weights(restored["weights"])
        for var, value in zip(model.optimizer.variables, restored["optimizer"], strict=True):
            var.assign(value)
        model.optimizer.learning_rate = state["learning_rate"]
        start_epoch, history = state["epochs_done"], list(state["history"])
        prior = {"training_time_s": state["training_time_s"], "train_s": list(state["train_s"])}
        log.info(
            "%s: resuming after epoch %d of %d (best val_loss %s at epoch %s)",
            path,
            start_epoch - 1,
            settings.epochs,
            state["early_stopping"]["best"],
            state["early_stopping"]["best_epoch"],
        )

    timer, early, reduce = _make_callbacks(settings, restored)
    state0 = {
        "fingerprint": key,
        "model": name,
        "seed": int(seed),
        "train_s": prior["train_s"],
        "training_time_s": prior["training_time_s"],
    }
    checkpointer = _Checkpointer.make(path, state0, history, timer, early, reduce, len(x_train))

    class Clock(keras.callbacks.Callback):  # accumulated wall time, stored in the checkpoint
        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            state0["training_time_s"] += time.perf_counter() - self._t0

    finished = restored is not None and (restored["state"]["stopped"] or start_epoch >= settings.epochs)
    if finished:
        log.info("checkpoint holds a finished run; restoring its best weights")
        if restored["best_weights"]:
            model.set_weights(restored["best_weights"])
        best_epoch = restored["state"]["early_stopping"]["best_epoch"]
    else:
        model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            batch_size=settings.batch_size,
            epochs=settings.epochs,
            initial_epoch=start_epoch,
            shuffle=True,
            verbose=0,
            callbacks=[Clock(), timer, early, reduce, checkpointer, *callbacks],
        )
        best_epoch = int(early.best_epoch)

    train_s = np.array([t for t in state0["train_s"] if t and np.isfinite(t)])
    steady = train_s[1:] if len(train_s) > 1 else train_s  # the first epoch includes tracing
    info = {
        "model": name,
        "seed": int(seed),
        "family": spec["family"],
        "n_parameters": models.count_parameters(model),
        "epochs_run": len(history),
        "best_epoch": int(best_epoch),
        "training_time_s": float(state0["training_time_s"]),
        "train_samples_per_s": float(len(x_train) / np.median(steady)) if len(steady) else None,
        "batch_size": settings.batch_size,
        "backend": keras.backend.backend(),
        "resumed_from_epoch": int(start_epoch) if restored is not None else None,
    }
    return TrainingResult(model=model, history=history, info=info)


def predict(model: keras.Model, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Standardized predictions (N,) float64 and the throughput in events/s.

    A warm-up call on one batch first, so tracing is not counted; the rate is that of the full
    ``model.predict`` over ``x``.
    """
    x = np.asarray(x, dtype=np.float32)
    model.predict(x[:batch_size], batch_size=batch_size, verbose=0)
    t0 = time.perf_counter()
    y = model.predict(x, batch_size=batch_size, verbose=0)
    elapsed = time.perf_counter() - t0
    return np.asarray(y, dtype=np.float64).reshape(-1), float(len(x) / elapsed) if elapsed > 0 else float(
        "nan"
    )


# --- files ------------------------------------------------------------------------------------


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Save a Keras model atomically (Keras needs the ``.keras`` suffix on the temporary name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.{os.getpid()}.part.keras"
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a saved model for inference (not compiled)."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise io.DataError(f"{path}: model file does not exist")
    try:
        return keras.saving.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise io.DataError(f"{path}: not a loadable Keras model ({exc})") from None

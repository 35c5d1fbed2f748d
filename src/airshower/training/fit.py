"""The fit of one network with one seed: compile, callbacks, the training record.

:func:`train` seeds Keras (:func:`~airshower.training.runtime.keras_seed`), builds and compiles
the model (Adam, the configured loss from :data:`~airshower.training.losses.LOSSES`, which must
suit the model's ``output`` (:func:`~airshower.training.losses.check_output_loss`), the
learning rate of one of :data:`LEARNING_RATE_SCHEDULES`), and fits it on in-memory NumPy arrays
with early stopping (best weights restored) on the validation loss; the ``plateau`` schedule
reduces the learning rate on a validation-loss plateau, the ``cosine`` one decays it with the
optimizer's steps.
:class:`~airshower.training.resume.Resume` checkpoints every epoch and resumes a run whose
:func:`fingerprint` (configuration and data) matches; given the running job
(:class:`airshower.jobs.Job`), the fit stops after an epoch's checkpoint once the process that
started the job is gone.

Only ``keras`` and ``keras.ops`` appear in model and loss code, so the same code trains under
``KERAS_BACKEND=tensorflow``, ``jax`` or ``torch``. Keras is imported inside the functions, so
that importing the package does not start a backend before ``configure_runtime``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from airshower import augmentation
from airshower.targets import get
from airshower.training import stream
from airshower.training.checkpoint import CHECKPOINT
from airshower.training.losses import (
    check_output_loss,
    make_loss,
    point_and_width_loss,
    target_losses,
    width_heads,
)
from airshower.training.runtime import keras_seed, seed_everything
from airshower.training.settings import RESULT_NEUTRAL, TrainingSettings
from airshower.training.stream import SplitInputs

if TYPE_CHECKING:
    import keras  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

    from airshower.jobs import Job
    from airshower.training.resume import Resume

# The learning-rate schedules a config may name (``training.learning_rate_schedule``; the
# schema's enum is held to these keys by tests/test_training.py).
LEARNING_RATE_SCHEDULES: dict[str, str] = {
    "plateau": "learning_rate, multiplied by reduce_lr.factor on a validation-loss plateau",
    "cosine": "cosine decay from learning_rate to final_learning_rate over the epochs' steps",
}


@dataclass
class TrainingResult:
    """A trained model (best weights), its history rows and the ``training.json`` record."""

    model: keras.Model
    history: list[dict]
    info: dict


def make_learning_rate(
    settings: TrainingSettings, steps_per_epoch: int | None = None
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The optimizer's learning rate: a number (``plateau``) or a schedule of its steps (``cosine``).

    ``cosine`` decays from ``learning_rate`` to ``final_learning_rate`` over ``epochs`` x
    ``steps_per_epoch`` optimizer steps (Keras' ``CosineDecay``, ``alpha`` their ratio), and
    stays at ``final_learning_rate`` after that.
    """
    if settings.learning_rate_schedule == "plateau":
        return settings.learning_rate
    if settings.learning_rate_schedule != "cosine":
        raise ValueError(
            f"unknown learning_rate_schedule {settings.learning_rate_schedule!r} "
            f"(use {', '.join(LEARNING_RATE_SCHEDULES)})"
        )
    if not steps_per_epoch or steps_per_epoch < 1:
        raise ValueError(
            "the cosine learning-rate schedule needs steps_per_epoch (training batches per epoch)"
        )
    import keras  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=settings.learning_rate,
        decay_steps=settings.epochs * int(steps_per_epoch),
        alpha=settings.final_learning_rate / settings.learning_rate,
    )


def compile_model(
    model: keras.Model,
    settings: TrainingSettings,
    steps_per_epoch: int | None = None,
    targets=("energy",),
) -> None:
    """Adam with the configured learning rate (:func:`make_learning_rate`) and loss.

    A model of several ``targets`` (one output each) minimizes the sum of the targets' losses
    (:func:`target_losses`; a target with a width head, :func:`width_heads`, with its width's,
    :func:`point_and_width_loss`)
    weighted by ``training.loss_weights`` (1 where not named); a single target's model its loss
    alone.

    ``steps_per_epoch`` (training batches per epoch) is needed by the ``cosine`` schedule only.
    XLA follows ``jit_compile`` on TensorFlow (off by default: on CPU it rarely pays for the
    compile time); JAX always compiles with XLA and PyTorch runs eagerly. ``steps_per_execution``
    batches run in one backend call (TensorFlow, JAX; PyTorch supports only 1): the same updates,
    less per-batch overhead.
    """
    import keras  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

    backend = keras.backend.backend()
    jit = {"tensorflow": settings.jit_compile, "jax": True, "torch": False}.get(backend, False)
    widths = width_heads(model, targets)
    losses = {
        t: point_and_width_loss(get(t).width_dims) if name == "point_and_width" else make_loss(name)
        for t, name in target_losses(targets, settings, widths).items()
    }
    weights = {t: float(settings.loss_weights.get(t, 1.0)) for t in targets}
    multi = len(targets) > 1
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=make_learning_rate(settings, steps_per_epoch)),
        loss=losses if multi else losses[targets[0]],
        loss_weights=weights if multi else None,
        jit_compile=jit,
        steps_per_execution=1 if backend == "torch" else settings.steps_per_execution,
    )


def fingerprint(spec: Mapping, settings: Mapping, seed: int, arrays: Sequence[np.ndarray]) -> str:
    """Hash of what determines a training run: model spec, training settings, seed, data.

    The data enter by shape, dtype and a CRC32 of their bytes; the settings that do not change
    the result (:data:`~airshower.training.settings.RESULT_NEUTRAL`) are left out.
    """
    relevant = {k: v for k, v in settings.items() if k not in RESULT_NEUTRAL}
    flat = [v for a in arrays for v in (a.values() if isinstance(a, Mapping) else [a])]
    data = [[list(a.shape), str(a.dtype), _crc32(a)] for a in flat]
    text = json.dumps(
        {"spec": spec, "training": relevant, "seed": int(seed), "data": data}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _crc32(a) -> int:
    """CRC32 of an array's bytes (C order), or of inputs read from disk (:class:`SplitInputs`,
    the same value as the array in memory)."""
    if isinstance(a, SplitInputs):
        return a.crc32()
    return zlib.crc32(np.ascontiguousarray(a).data)


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
    job: Job | None = None,
    n_outputs: Mapping[str, int] | None = None,
    norm: Mapping | None = None,
    reference: augmentation.ReferenceFit | None = None,
) -> TrainingResult:
    """Fit model ``name`` (config dict ``spec``) with training seed ``seed``; resume if possible.

    Parameters
    ----------
    x_train, y_train, x_val, y_val
        inputs (N, H, W, C) float32 and the network targets (``preparation.network_arrays``):
        an array (N,) or (N, k) for a model of one target, a dict target -> array for several.
        The inputs may be read from disk (:class:`airshower.training.stream.SplitInputs`, both
        splits): the batches come from the files (:func:`~airshower.training.stream.disk_dataset`),
        in an order drawn from the study seed, the model and the training seed.
    settings
        merged training settings; call ``configure_runtime`` with their threads, gpus and
        mixed_precision first.
    study_seed, seed
        the study seed and the job's training seed (see ``keras_seed``).
    checkpoint_dir
        where the per-epoch checkpoint lives; None disables checkpoints and resume.
    callbacks
        extra Keras callbacks (run after the checkpoint is written).
    n_outputs
        output units per target (``models.build_model``; needed for the mass target).
    norm
        the normalization statistics (``normalization.json``); needed when
        ``settings.augmentation`` is on (:mod:`airshower.augmentation` works on the physical
        signals and times behind the standardized channels ``settings.inputs``).
    reference
        the station positions and the baseline's reference fit, which the station dropout makes
        again for inputs with its channels (``residual``, ``front_*``, ``ldf_s1000``); needed there.
    job
        the running job (:func:`airshower.jobs.guard`): at every epoch end, after the
        checkpoint, the fit raises :class:`airshower.jobs.Orphaned` if the process that
        started the job is gone. None: no such check.

    Returns
    -------
    TrainingResult
        the model with the best validation weights, the history rows (``epoch``, ``loss``,
        ``val_loss``, ``learning_rate``, one per epoch since epoch 0, resumed ones included)
        and the ``training.json`` record.
    """
    from airshower import models  # noqa: PLC0415 (airshower.models imports Keras: loaded lazily, when a network is built)
    from airshower.training.resume import Resume, StopWhenOrphaned  # noqa: PLC0415 (resume imports Keras: loaded lazily, when a fit starts)

    complete = models.complete_spec(spec, name)
    check_output_loss(complete["output"], settings.loss, name)
    arrays = _float32_arrays(x_train, y_train, x_val, y_val)
    x_train, y_train, x_val, y_val = arrays
    seed_everything(keras_seed(study_seed, name, seed))
    model = models.build_model(
        spec, x_train.shape[1:], name=name, n_outputs=n_outputs, input_channels=settings.inputs
    )
    steps = math.ceil(len(x_train) / settings.batch_size)
    compile_model(model, settings, steps_per_epoch=steps, targets=tuple(complete["targets"]))
    model.optimizer.build(model.trainable_variables)
    early_stopping, reduce_lr = _validation_callbacks(settings)
    path = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    data = _training_data(x_train, y_train, settings, norm, (study_seed, name, seed), reference)
    resume = Resume(
        path,
        fingerprint(spec, asdict(settings), seed, arrays),
        early_stopping,
        reduce_lr,
        n_samples=len(x_train),
        record={"model": name, "seed": int(seed)},
        dataset=data["x"] if "y" not in data else None,  # a dataset of epoch-drawn batches
    )
    plateau = [reduce_lr] if reduce_lr is not None else []
    stop = [StopWhenOrphaned(job, path)] if job is not None else []  # after the checkpoint
    validation = (x_val, y_val)
    if isinstance(x_val, SplitInputs):
        validation = stream.disk_dataset(x_val, y_val, settings.batch_size, shuffle=False)
    model.fit(
        **data,
        validation_data=validation,
        epochs=settings.epochs,
        verbose=0,
        callbacks=[early_stopping, *plateau, resume, *stop, *callbacks],
    )
    info = _record(model, name, spec, seed, settings, resume, int(early_stopping.best_epoch))
    return TrainingResult(model=model, history=resume.history, info=info)


def _training_data(
    x_train, y_train, settings: TrainingSettings, norm: Mapping | None, stream_key, reference=None
) -> dict:
    """``model.fit``'s training data: the arrays, shuffled by Keras; with
    ``settings.augmentation`` on, a dataset of augmented, shuffled batches drawn from the study
    seed, the model and the training seed (:func:`airshower.augmentation.augmented_dataset`)."""
    if isinstance(x_train, SplitInputs):
        if settings.augmentation.enabled:
            raise ValueError(
                "training.augmentation with inputs read from disk is not supported: raise "
                "preparation.memory_budget_mb so that the inputs are held in memory"
            )
        seed = stream.seed_sequence(*stream_key)
        return {"x": stream.disk_dataset(x_train, y_train, settings.batch_size, seed, shuffle=True)}
    if not settings.augmentation.enabled:
        return {"x": x_train, "y": y_train, "batch_size": settings.batch_size, "shuffle": True}
    if norm is None:
        raise ValueError("training with augmentation needs the normalization statistics (norm)")
    dataset = augmentation.augmented_dataset(
        x_train,
        y_train,
        settings.inputs,
        norm,
        settings.augmentation,
        settings.batch_size,
        augmentation.seed_sequence(*stream_key),
        reference=reference,
    )
    return {"x": dataset}


def _float32_targets(y, n: int, split: str):
    """Targets as float32 columns (N, k): an array, or a dict target -> array; lengths checked."""
    if isinstance(y, Mapping):
        return {t: _float32_targets(v, n, f"{split} {t}") for t, v in y.items()}
    y = np.asarray(y, dtype=np.float32)
    y = y.reshape(-1, 1) if y.ndim == 1 else y.reshape(len(y), -1)
    if len(y) != n:
        raise ValueError(f"inputs and targets differ in length: {n} inputs, {len(y)} targets ({split})")
    return y


def _float32_arrays(x_train, y_train, x_val, y_val) -> tuple:
    """Inputs as float32, targets as float32 columns (N, k) (per target for several); lengths
    checked."""
    if not isinstance(x_train, SplitInputs):
        x_train = np.asarray(x_train, dtype=np.float32)
    if not isinstance(x_val, SplitInputs):
        x_val = np.asarray(x_val, dtype=np.float32)
    y_train = _float32_targets(y_train, len(x_train), "train")
    y_val = _float32_targets(y_val, len(x_val), "val")
    return x_train, y_train, x_val, y_val


def _validation_callbacks(settings: TrainingSettings):
    """Early stopping (best weights restored) and, for the ``plateau`` schedule, learning-rate
    reduction on the validation loss (None for a schedule of the optimizer's steps)."""
    import keras  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=settings.early_stopping_patience, restore_best_weights=True
    )
    if settings.learning_rate_schedule != "plateau":
        return early_stopping, None
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss",
        factor=settings.reduce_lr.factor,
        patience=settings.reduce_lr.patience,
        min_lr=settings.reduce_lr.min_lr,
    )
    return early_stopping, reduce_lr


def _record(
    model: keras.Model,
    name: str,
    spec: Mapping,
    seed: int,
    settings: TrainingSettings,
    resume: Resume,
    best_epoch: int,
) -> dict:
    """The ``training.json`` record of a finished fit.

    ``train_samples_per_s`` is the median over the epochs after the first (which includes
    tracing) of the training part of an epoch (validation excluded).
    """
    import keras  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

    from airshower import models  # noqa: PLC0415 (airshower.models imports Keras: loaded lazily, when a network is built)

    n_train = resume.n_samples
    train_s = np.array([t for t in resume.train_s if t and np.isfinite(t)])
    steady = train_s[1:] if len(train_s) > 1 else train_s
    return {
        "model": name,
        "seed": int(seed),
        "family": spec["family"],
        "n_parameters": models.count_parameters(model),
        "epochs_run": len(resume.history),
        "best_epoch": int(best_epoch),
        "training_time_s": float(resume.training_time_s),
        "train_samples_per_s": float(n_train / np.median(steady)) if len(steady) else None,
        "batch_size": settings.batch_size,
        "backend": keras.backend.backend(),
        "resumed_from_epoch": resume.resumed_from_epoch,
    }

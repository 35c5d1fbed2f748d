"""Training and inference of the networks.

One training job fits one model (``config["models"][name]``) with one seed:

- :mod:`.settings`: :class:`TrainingSettings` (the merged ``training`` section) and
  :data:`RESULT_NEUTRAL`, the settings that do not change the result;
- :mod:`.runtime`: :func:`configure_runtime` (threads, GPUs, mixed precision; call it before
  anything builds a tensor), :func:`keras_seed` and :func:`seed_everything`: the same seed gives
  the same weights;
- :mod:`.losses`: the loss registry :data:`LOSSES` (with :func:`gaussian_nll`, the loss of a
  network with a ``gaussian`` output, :data:`OUTPUT_LOSSES` and :func:`check_output_loss`) and
  each target's loss;
- :mod:`.fit`: the learning-rate schedules
  :data:`LEARNING_RATE_SCHEDULES` (:func:`make_learning_rate`), :func:`compile_model`,
  :func:`fingerprint` and :func:`train`, which returns a :class:`TrainingResult`;
- :mod:`.resume`: the one callback that checkpoints the whole training state at every epoch
  and restores it when a killed job is started again, and the one that stops the fit after a
  checkpoint when the job's Snakemake process is gone (:mod:`airshower.jobs`); :mod:`.checkpoint`:
  its file (``checkpoint.npz`` in the job's checkpoint directory; a damaged one is moved aside
  and the training starts over). The entry script ``train.py`` runs under
  :func:`airshower.jobs.guard` (one training per model and seed at a time) and removes the
  checkpoint once the job's outputs are written, so a forced re-run trains afresh;
- :mod:`.inference`: :func:`predict` (standardized outputs, energies or means and widths),
  :func:`reconstruct` (every target's reconstruction, decoded by the target: the energy's in EeV
  with its width carried through the inverse target transform), :func:`save_model`,
  :func:`load_model`.

Keras is imported only inside the functions (and by :mod:`.resume`, which :func:`train`
imports), so importing this package does not start a backend.
"""

from airshower.training.checkpoint import CHECKPOINT, load_checkpoint, remove_checkpoint, save_checkpoint
from airshower.training.fit import (
    LEARNING_RATE_SCHEDULES,
    TrainingResult,
    compile_model,
    fingerprint,
    make_learning_rate,
    train,
)
from airshower.training.inference import load_model, predict, reconstruct, save_model
from airshower.training.losses import LOSSES, OUTPUT_LOSSES, check_output_loss, gaussian_nll, make_loss
from airshower.training.runtime import configure_runtime, keras_seed, seed_everything
from airshower.training.settings import RESULT_NEUTRAL, ReduceLR, TrainingSettings

__all__ = [
    "CHECKPOINT",
    "LEARNING_RATE_SCHEDULES",
    "LOSSES",
    "OUTPUT_LOSSES",
    "RESULT_NEUTRAL",
    "ReduceLR",
    "TrainingResult",
    "TrainingSettings",
    "check_output_loss",
    "compile_model",
    "configure_runtime",
    "fingerprint",
    "gaussian_nll",
    "keras_seed",
    "load_checkpoint",
    "load_model",
    "make_learning_rate",
    "make_loss",
    "predict",
    "reconstruct",
    "remove_checkpoint",
    "save_checkpoint",
    "save_model",
    "seed_everything",
    "train",
]

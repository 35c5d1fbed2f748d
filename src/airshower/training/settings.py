"""The training settings of one model: the config section ``training`` merged with the model's
``training:`` overrides (``study.training_settings``), defaults from the schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from airshower import schema
from airshower.augmentation import AugmentationSettings

# Settings that do not change the result (the same weights whatever their value), so a
# checkpoint stays valid when they change: the list of seeds (each job has one), the CPU threads
# and GPUs (op determinism makes the result independent of them on a CPU) and the batches per
# backend call (the same updates, fewer calls). See ``fit.fingerprint``.
RESULT_NEUTRAL = ("seeds", "threads", "gpus", "steps_per_execution")


@dataclass(frozen=True)
class ReduceLR:
    """``training.reduce_lr``: learning-rate reduction on a validation-loss plateau."""

    factor: float
    patience: int
    min_lr: float


@dataclass(frozen=True)
class TrainingSettings(schema.Settings):
    """``training`` (merged with a model's overrides); every key is documented in config/README.md."""

    SECTION: ClassVar[str] = "training"

    seeds: tuple[int, ...]
    epochs: int
    batch_size: int
    learning_rate: float
    learning_rate_schedule: str
    final_learning_rate: float
    inputs: tuple[str, ...]
    target_transform: str
    loss: str  # of the energy target (airshower.targets: the other targets have their own)
    loss_weights: Mapping[str, float]  # per target; a target not named weighs 1
    early_stopping_patience: int
    reduce_lr: ReduceLR
    threads: int
    gpus: int
    jit_compile: bool
    mixed_precision: bool
    steps_per_execution: int
    augmentation: AugmentationSettings  # station dropout, signal scale (off: 0)

    def __post_init__(self):
        if self.learning_rate_schedule == "cosine" and self.final_learning_rate > self.learning_rate:
            raise schema.ConfigError(
                f"config key '{self.SECTION}.final_learning_rate': {self.final_learning_rate:g} is above "
                f"the learning_rate {self.learning_rate:g}; the cosine schedule decays from learning_rate "
                "to final_learning_rate"
            )

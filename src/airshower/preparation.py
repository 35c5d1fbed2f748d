"""Train/validation/test split and input normalization.

The prepared inputs ``x`` hold every channel of :data:`CHANNELS`, 14 x 14 images of each shower
stacked in this order (``time``, ``signal``, ``mask``); a model takes the ones named by its
``training.inputs`` (:func:`select_channels`):

- signal: ``log10(1 + S / VEM)``, standardized with the mean and standard deviation over the
  triggered stations of the *training* split;
- time: arrival time minus the mean over the triggered stations of the same event (the
  absolute time of an event carries no information), divided by the training-split standard
  deviation;
- mask: 1 where the station triggered, 0 where it is silent;
- silent stations are 0 in the time and signal channels (the mask channel tells them apart).

The network targets are those of :mod:`airshower.targets` (the model's ``targets``; the energy
by default): the energy in EeV transformed by one of :data:`TARGET_TRANSFORMS` (the model's
``training.target_transform``) and standardized with the training split's mean and standard
deviation of that transform, the axis, the core, Xmax or the mass class. All statistics, those of
every target and of every energy transform, come from the training split only and are stored in
``normalization.json`` (``targets``): the training job builds the targets of a split
(:func:`network_arrays`), the prediction job maps the network outputs back
(:func:`airshower.targets.decode`; the energy: :func:`inverse_target`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from airshower import schema
from airshower import targets as registry
from airshower.contract import shower_units

SPLITS = ("train", "val", "test")
LABELS = ("energy", "zenith", "azimuth", "axis", "core", "xmax", "mass")

# The input channels of the prepared ``x``, in their order (``training.inputs`` names a subset;
# the schema's enum is held to this tuple by tests/test_preparation.py).
CHANNELS = ("time", "signal", "mask")


@dataclass(frozen=True)
class PreparationSettings(schema.Settings):
    """``preparation``: split fractions (``train``, ``val``, ``test``)."""

    SECTION: ClassVar[str] = "preparation"

    fractions: Mapping[str, float]


def split_sizes(n_events: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Number of events per split: floor for train and val, the rest for test.

    Raises ValueError when a split would hold no event (or training fewer than two).
    """
    n_train = int(np.floor(n_events * fractions["train"] + 1e-9))
    n_val = int(np.floor(n_events * fractions["val"] + 1e-9))
    sizes = {"train": n_train, "val": n_val, "test": n_events - n_train - n_val}
    if sizes["train"] < 2 or sizes["val"] < 1 or sizes["test"] < 1:
        raise ValueError(f"{n_events} events split as {sizes}: every split needs events (train at least 2)")
    return sizes


def split_indices(
    n_events: int, fractions: Mapping[str, float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Disjoint, sorted event indices of each split, drawn by a random permutation."""
    sizes = split_sizes(n_events, fractions)
    order = rng.permutation(n_events)
    bounds = np.cumsum([0, sizes["train"], sizes["val"], sizes["test"]])
    return {s: np.sort(order[bounds[i] : bounds[i + 1]]) for i, s in enumerate(SPLITS)}


def _relative_time(time_us: np.ndarray) -> np.ndarray:
    """Arrival times minus the per-event mean over triggered stations (NaN stays NaN)."""
    n_trig = np.sum(np.isfinite(time_us), axis=(1, 2), keepdims=True)
    mean = np.nansum(time_us, axis=(1, 2), keepdims=True) / np.maximum(n_trig, 1)
    return time_us - mean


def fit_normalization(time_us: np.ndarray, signal_vem: np.ndarray, labels: Mapping[str, np.ndarray]) -> dict:
    """Normalization statistics from the training split (arrays of that split only).

    ``labels`` are the training split's true values (datasets of :data:`LABELS`, at least
    ``energy``); ``channels`` lists the channels of ``x`` in order; ``targets`` holds the
    statistics of every target (:func:`airshower.targets.fit_all`), the energy's with the mean and
    standard deviation of every transform of :data:`TARGET_TRANSFORMS`.
    """
    log_s = np.log10(1.0 + signal_vem[np.isfinite(signal_vem)].astype(np.float64))
    rel_t = _relative_time(time_us.astype(np.float64))
    rel_t = rel_t[np.isfinite(rel_t)]
    if log_s.size < 2 or rel_t.size < 2:
        raise ValueError("the training split has fewer than two triggered stations: cannot normalize")
    return {
        "channels": list(CHANNELS),
        "signal": {"transform": "log10(1 + S/VEM)", "mean": float(log_s.mean()), "std": float(log_s.std())},
        "time": {"transform": "t - mean_event(t), in us", "mean": 0.0, "std": float(rel_t.std())},
        "targets": registry.fit_all(labels),
    }


def transform_inputs(time_us: np.ndarray, signal_vem: np.ndarray, norm: Mapping) -> np.ndarray:
    """Network inputs ``x`` of shape (N, side, side, C), float32, silent stations 0.

    The channels are those of ``norm["channels"]``, in that order.
    """
    triggered = np.isfinite(signal_vem)
    sig = (np.log10(1.0 + np.where(triggered, signal_vem, 0.0)) - norm["signal"]["mean"]) / norm["signal"][
        "std"
    ]
    t = (_relative_time(time_us) - norm["time"]["mean"]) / norm["time"]["std"]
    planes = {
        "time": np.where(triggered, t, 0.0),
        "signal": np.where(triggered, sig, 0.0),
        "mask": triggered.astype(np.float64),
    }
    return np.stack([planes[c] for c in norm["channels"]], axis=-1).astype(np.float32)


def select_channels(x: np.ndarray, norm: Mapping, inputs: Sequence[str]) -> np.ndarray:
    """The channels ``inputs`` (names of :data:`CHANNELS`, in the model's order) of prepared ``x``.

    Raises ValueError naming a channel that ``norm["channels"]`` (the channels of ``x``) lacks.
    """
    have = list(norm["channels"])
    missing = [c for c in inputs if c not in have]
    if missing:
        raise ValueError(
            f"input channel {missing[0]!r} is not in the prepared data (channels {', '.join(have)}): "
            "prepare the data again"
        )
    if x.shape[-1] != len(have):
        raise ValueError(f"inputs have {x.shape[-1]} channels, the normalization names {len(have)}")
    return x[..., [have.index(c) for c in inputs]]


def network_arrays(
    split: Mapping[str, np.ndarray],
    norm: Mapping,
    inputs: Sequence[str],
    transform: str,
    targets: Sequence[str] = ("energy",),
) -> tuple[np.ndarray, np.ndarray | dict[str, np.ndarray]]:
    """Inputs and targets of one model from a prepared split (``x`` and the targets' labels).

    Returns the channels ``inputs`` of ``x`` and the network targets of ``targets``
    (:func:`airshower.targets.encode`: one array for a single target, else a dict by target; the
    energy standardized after ``transform``): what the training job fits.
    """
    return select_channels(split["x"], norm, inputs), registry.encode(split, norm, list(targets), transform)


def prepare(
    showers: Mapping[str, np.ndarray], settings: PreparationSettings, rng: np.random.Generator
) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """Split the showers, fit the normalization on the training split, transform every split.

    Returns
    -------
    splits
        ``{split: {"x", "index", labels...}}``: ``x`` with every channel of :data:`CHANNELS`,
        ``index`` the rows in the raw file; the target is built per model from ``energy``.
    normalization
        the statistics (JSON-serializable).
    """
    n = len(showers["energy"])
    indices = split_indices(n, settings.fractions, rng)
    tr = indices["train"]
    norm = fit_normalization(
        showers["time"][tr], showers["signal"][tr], {label: showers[label][tr] for label in LABELS}
    )
    splits = {}
    for name, idx in indices.items():
        split = {
            "x": transform_inputs(showers["time"][idx], showers["signal"][idx], norm),
            "index": idx.astype(np.int64),
        }
        split.update({label: showers[label][idx] for label in LABELS})
        splits[name] = split
    return splits, norm


def split_units() -> dict[str, str]:
    """Unit attributes of the datasets of a prepared split file."""
    labels = shower_units()
    units = {label: labels[label] for label in LABELS}
    units.update({"x": f"1 (normalized; channels {', '.join(CHANNELS)})", "index": "row in showers.h5"})
    return units

"""Train/validation/test split and input normalization.

Inputs of the networks are the two 14 x 14 images of each shower, stacked as channels
(``time``, ``signal`` and optionally a ``mask`` of triggered stations):

- signal: ``log10(1 + S / VEM)``, standardized with the mean and standard deviation over the
  triggered stations of the *training* split;
- time: arrival time minus the mean over the triggered stations of the same event (the
  absolute time of an event carries no information), divided by the training-split standard
  deviation;
- silent stations are 0 in both channels (the mask channel tells them apart).

The regression target is the energy in EeV (or its log10), standardized with the training
split's mean and standard deviation. All statistics come from the training split only, and
are stored in ``normalization.json`` so predictions can be mapped back to EeV.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from airshower import config

SPLITS = ("train", "val", "test")
LABELS = ("energy", "zenith", "azimuth", "axis", "core", "xmax", "mass")

# The target transforms (``preparation.target_transform``; the schema's enum is held to these
# keys by tests/test_preparation.py): name -> (forward, inverse) on float64 energies in EeV.
TARGET_TRANSFORMS: dict[str, tuple[Callable, Callable]] = {
    "linear": (lambda e: e, lambda v: v),
    "log10": (np.log10, lambda v: 10.0**v),
}


@dataclass(frozen=True)
class PreparationSettings(config.Settings):
    """``preparation``: split fractions (``train``, ``val``, ``test``), mask channel, target transform."""

    SECTION: ClassVar[str] = "preparation"

    fractions: Mapping[str, float]
    mask_channel: bool
    target_transform: str


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


def _target(energy_eev: np.ndarray, transform: str) -> np.ndarray:
    forward, _ = TARGET_TRANSFORMS[transform]
    return forward(np.asarray(energy_eev, dtype=np.float64))


def fit_normalization(
    time_us: np.ndarray, signal_vem: np.ndarray, energy_eev: np.ndarray, settings: PreparationSettings
) -> dict:
    """Normalization statistics from the training split (arrays of that split only)."""
    log_s = np.log10(1.0 + signal_vem[np.isfinite(signal_vem)].astype(np.float64))
    rel_t = _relative_time(time_us.astype(np.float64))
    rel_t = rel_t[np.isfinite(rel_t)]
    target = _target(energy_eev, settings.target_transform)
    if log_s.size < 2 or rel_t.size < 2:
        raise ValueError("the training split has fewer than two triggered stations: cannot normalize")
    channels = ["time", "signal"] + (["mask"] if settings.mask_channel else [])
    return {
        "channels": channels,
        "signal": {"transform": "log10(1 + S/VEM)", "mean": float(log_s.mean()), "std": float(log_s.std())},
        "time": {"transform": "t - mean_event(t), in us", "mean": 0.0, "std": float(rel_t.std())},
        "target": {
            "quantity": "energy",
            "unit": "EeV",
            "transform": settings.target_transform,
            "mean": float(target.mean()),
            "std": float(target.std()),
        },
    }


def transform_inputs(time_us: np.ndarray, signal_vem: np.ndarray, norm: Mapping) -> np.ndarray:
    """Network inputs ``x`` of shape (N, side, side, C), float32, silent stations 0."""
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


def transform_target(energy_eev: np.ndarray, norm: Mapping) -> np.ndarray:
    """Standardized network target (N,) float32 of energies in EeV."""
    t = norm["target"]
    return ((_target(energy_eev, t["transform"]) - t["mean"]) / t["std"]).astype(np.float32)


def inverse_target(y: np.ndarray, norm: Mapping) -> np.ndarray:
    """Map standardized network outputs back to energy in EeV."""
    t = norm["target"]
    _, inverse = TARGET_TRANSFORMS[t["transform"]]
    return inverse(np.asarray(y, dtype=np.float64) * t["std"] + t["mean"])


def prepare(
    showers: Mapping[str, np.ndarray], settings: PreparationSettings, rng: np.random.Generator
) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """Split the showers, fit the normalization on the training split, transform every split.

    Returns
    -------
    splits
        ``{split: {"x", "y", "index", labels...}}`` where ``index`` points into the raw file.
    normalization
        the statistics (JSON-serializable).
    """
    n = len(showers["energy"])
    indices = split_indices(n, settings.fractions, rng)
    tr = indices["train"]
    norm = fit_normalization(showers["time"][tr], showers["signal"][tr], showers["energy"][tr], settings)
    splits = {}
    for name, idx in indices.items():
        split = {
            "x": transform_inputs(showers["time"][idx], showers["signal"][idx], norm),
            "y": transform_target(showers["energy"][idx], norm),
            "index": idx.astype(np.int64),
        }
        split.update({label: showers[label][idx] for label in LABELS})
        splits[name] = split
    return splits, norm


def split_units() -> dict[str, str]:
    """Unit attributes of the datasets of a prepared split file."""
    from airshower.io import shower_units

    labels = shower_units()
    units = {label: labels[label] for label in LABELS}
    units.update({"x": "1 (normalized)", "y": "1 (standardized target)", "index": "row in showers.h5"})
    return units

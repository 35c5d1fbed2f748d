"""The reconstruction targets: what a network can be trained to reconstruct, declared once.

Each entry of :data:`TARGETS` says, for one quantity of the shower:

- ``label``: the dataset of ``showers.h5`` (and of the prepared splits) holding its true value;
- ``truth`` and ``predicted``: the datasets of ``predictions.h5`` with the true and the
  reconstructed value, and ``unit`` their unit;
- how the network sees it: :meth:`Target.fit` (statistics from the *training* split only, stored
  in ``normalization.json`` under ``targets``), :meth:`Target.encode` (the network's target
  array), :meth:`Target.n_outputs`, :meth:`Target.decode` (network outputs back to the physical
  quantity), the output ``activation`` and the ``loss``;
- its evaluation: the spec of :mod:`airshower.evaluation` (``evaluation.SPECS``: metrics,
  headline numbers, table note, systematic shifts) and the figures of :mod:`airshower.plotting`
  (``plotting.TARGET_FIGURES``) registered under the same name.

The targets:

- ``energy`` (EeV): one output, the energy transformed by the model's
  ``training.target_transform`` (:data:`TARGET_TRANSFORMS`) and
  standardized; trained with the model's ``training.loss``; a ``gaussian`` output adds a width,
  which the target decodes into ``energy_sigma`` (its ``width``, :meth:`Energy.reconstruct`);
- ``direction``: the shower axis, a unit vector pointing to where the shower comes from (z up).
  Three outputs, the axis' components (already of order one, not standardized), MSE loss (for
  unit vectors ``|a - b|^2 = 2 (1 - cos psi)``, a smooth function of the opening angle psi
  without the poles of zenith and azimuth); the reconstruction is the output normalized to unit
  length;
- ``core`` (m): two outputs, the core's ground coordinates standardized per axis, MSE loss;
- ``xmax`` (g/cm^2): one standardized output, MSE loss;
- ``muon``: the relative muon content R_mu (``showers.h5:muon``, present where the simulation
  wrote it: the expected muon signal at 1000 m from the axis relative to a proton shower's of the
  same energy before attenuation, :func:`airshower.simulation.shower.relative_muon_content`), one
  standardized output, MSE loss;
- ``mass``: a classification over the composition's mass numbers (the sorted distinct values of
  the training split, which holds every mass of ``simulation.composition``): one softmax output
  per class, sparse categorical cross-entropy; the reconstruction is the class probabilities
  ``mass_prob`` (N, K).

Adding a target is one more entry here (and its metrics and figures there), not an edit of the
training, prediction and ensemble code: they loop over the model's ``targets``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from airshower import geometry

# Targets the classical reconstruction provides (its plane/curved front fit and LDF fit).
BASELINE_TARGETS = ("energy", "direction", "core")


@dataclass(frozen=True)
class Target:
    """One reconstructed quantity (module docstring); subclasses define the transforms."""

    name: str
    title: str  # for captions and tables, e.g. "shower axis"
    label: str  # dataset of showers.h5 / the prepared splits with the true value
    truth: str  # dataset of predictions.h5 with the true value
    predicted: str  # dataset of predictions.h5 with the reconstruction
    unit: str  # unit of ``truth`` and ``predicted``
    loss: str | None = None  # None: the model's training.loss; else fixed
    activation: str | None = None  # of the output layer (None: linear)
    width: str | None = None  # dataset of predictions.h5 with a per-event width, if it can have one
    width_dims: int = 1  # dimensions of the error the width describes (2: a circular Gaussian)
    gaussian_output: bool = False  # the width is the model's ``output: gaussian`` (else ``widths``)

    def errors(self, pred: Mapping[str, np.ndarray]) -> np.ndarray:
        """The per-event error the width describes, in the width's unit: ``x_rec - x_true`` of a
        scalar target (signed), the distance of a 2D one (>= 0)."""
        residual = np.asarray(pred[self.predicted], dtype=np.float64) - np.asarray(
            pred[self.truth], dtype=np.float64
        )
        return residual.ravel() if self.width_dims == 1 else np.linalg.norm(residual, axis=-1)

    def fit(self, values: np.ndarray) -> dict:
        """Statistics of the training split's true values (JSON-serializable)."""
        return {}

    def n_outputs(self, stats: Mapping) -> int:
        """Units of the output layer (``point`` output)."""
        return 1

    def encode(self, values: np.ndarray, stats: Mapping, transform: str | None = None) -> np.ndarray:
        """The network's target array of true values (float32, (N, n_outputs))."""
        raise NotImplementedError

    def decode(self, y: np.ndarray, stats: Mapping, transform: str | None = None) -> np.ndarray:
        """The physical reconstruction (float64) from the network's (N, n_outputs) outputs."""
        raise NotImplementedError

    def reconstruct(
        self, y: np.ndarray, stats: Mapping, transform: str | None = None
    ) -> dict[str, np.ndarray]:
        """The ``predictions.h5`` datasets of the network's outputs: ``predicted`` (and ``width``
        for a target that decodes a per-event width)."""
        return {self.predicted: self.decode(y, stats, transform)}


def _standardize(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=np.float64)
    return {"mean": values.mean(axis=0).tolist(), "std": values.std(axis=0).tolist()}


def _check_spread(stats: Mapping, name: str) -> None:
    if np.any(np.asarray(stats["std"]) <= 0):
        raise ValueError(
            f"target '{name}': the training split's true values have no spread (std {stats['std']})"
        )


class Energy(Target):
    """The energy in EeV through the model's target transform (:data:`TARGET_TRANSFORMS`); a
    ``gaussian`` output adds its per-event width (:meth:`reconstruct`)."""

    def fit(self, values):
        return fit_target_transforms(values)

    def encode(self, values, stats, transform=None):
        return transform_target(values, {"targets": {"energy": stats}}, transform).reshape(-1, 1)

    def decode(self, y, stats, transform=None):
        return inverse_target(
            np.asarray(y).reshape(len(y), -1)[:, 0], {"targets": {"energy": stats}}, transform
        )

    def reconstruct(self, y, stats, transform=None):
        """``energy_pred`` (EeV) of (N,) standardized energies; of (N, 2) standardized means and
        1-sigma widths (a gaussian output) also ``energy_sigma`` (EeV), the width carried through
        the inverse transform to first order: ``sigma_eev = |dE/dv| std sigma``, v the transformed
        energy and std its standard deviation over the training split, so ``sigma std`` for
        ``linear`` and ``E ln(10) sigma std`` for ``log10`` (:data:`INVERSE_SLOPES`). For log10
        this is the width of a straight-line approximation at E, the median of the log-normal
        distribution the network predicts; the interval [E - sigma, E + sigma] is then symmetric
        where the exact one, 10^(v +- sigma std), is not (ratio 1 + ln(10) sigma std)."""
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1 or y.shape[-1] == 1:  # a point output
            return {self.predicted: self.decode(y, stats, transform)}
        norm = {"targets": {"energy": stats}}
        energy = inverse_target(y[:, 0], norm, transform)
        std = float(target_statistics(norm, transform)["std"])
        return {self.predicted: energy, self.width: INVERSE_SLOPES[transform](energy) * y[:, 1] * std}


def _log_width(raw: np.ndarray) -> np.ndarray:
    """A width from the raw log-width column of a network output (clipped to
    :data:`LOG_WIDTH_RANGE`, as the loss clips it)."""
    return np.exp(np.clip(np.asarray(raw, dtype=np.float64), *LOG_WIDTH_RANGE))


class Direction(Target):
    """The shower axis: three components, normalized to a unit vector at the output; with a width
    column (``widths``) its per-event width ``axis_sigma`` (deg), the sigma of a circular
    Gaussian of the axis' error in the plane across it (the components are of order one, so the
    network's width is in radians)."""

    def n_outputs(self, stats):
        return 3

    def errors(self, pred):
        """The opening angle (deg) of the reconstructed to the true axis
        (:func:`airshower.geometry.opening_angle`, as the direction's metrics)."""
        a = np.asarray(pred[self.predicted], dtype=np.float64)
        b = np.asarray(pred[self.truth], dtype=np.float64)
        return np.degrees(geometry.opening_angle(a, b))

    def reconstruct(self, y, stats, transform=None):
        y = np.asarray(y, dtype=np.float64)
        if y.shape[-1] == 3:
            return {self.predicted: self.decode(y, stats, transform)}
        return {self.predicted: self.decode(y[:, :3], stats), self.width: np.degrees(_log_width(y[:, 3]))}

    def encode(self, values, stats, transform=None):
        return np.asarray(values, dtype=np.float32).reshape(-1, 3)

    def decode(self, y, stats, transform=None):
        y = np.asarray(y, dtype=np.float64).reshape(-1, 3)
        norm = np.linalg.norm(y, axis=1, keepdims=True)
        vertical = np.array([0.0, 0.0, 1.0])
        return np.where(norm > 0, y / np.where(norm > 0, norm, 1.0), vertical)


class Standardized(Target):
    """A real-valued quantity (scalar or vector), standardized per component."""

    def fit(self, values):
        stats = _standardize(values)
        _check_spread(stats, self.name)
        return stats

    def n_outputs(self, stats):
        return int(np.size(stats["mean"]))

    def encode(self, values, stats, transform=None):
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        return ((values - np.asarray(stats["mean"])) / np.asarray(stats["std"])).astype(np.float32)

    def decode(self, y, stats, transform=None):
        k = self.n_outputs(stats)
        y = np.asarray(y, dtype=np.float64).reshape(-1, k)
        out = y * np.asarray(stats["std"]) + np.asarray(stats["mean"])
        return out[:, 0] if np.ndim(stats["mean"]) == 0 else out

    def reconstruct(self, y, stats, transform=None):
        """The reconstruction and, from a width column (``widths``: the last of k + 1), its
        per-event width in the target's unit: the network's width (standardized units) times the
        training split's standard deviation (for a 2D target the geometric mean of the axes',
        equal within a per cent for the core's uniform disk)."""
        k = self.n_outputs(stats)
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if y.shape[-1] == k:
            return {self.predicted: self.decode(y, stats, transform)}
        scale = float(np.exp(np.mean(np.log(np.asarray(stats["std"], dtype=np.float64)))))
        return {
            self.predicted: self.decode(y[:, :k], stats, transform),
            self.width: _log_width(y[:, k]) * scale,
        }


class Mass(Target):
    """Classification over the mass numbers of the training split; probabilities at the output."""

    def fit(self, values):
        classes = np.unique(np.asarray(values))
        if classes.size < 2:
            raise ValueError(
                f"target 'mass': the training split holds one mass number only ({classes.tolist()}): "
                "a classification needs two or more (simulation.composition.mass_numbers)"
            )
        return {"classes": [int(c) if float(c).is_integer() else float(c) for c in classes]}

    def n_outputs(self, stats):
        return len(stats["classes"])

    def encode(self, values, stats, transform=None):
        classes = np.asarray(stats["classes"], dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        index = np.searchsorted(classes, values)
        known = (index < classes.size) & (classes[np.minimum(index, classes.size - 1)] == values)
        if not known.all():
            i = int(np.flatnonzero(~known)[0])
            raise ValueError(
                f"target 'mass': mass number {values[i]:g} (event {i}) is not a class of the training "
                f"split ({stats['classes']})"
            )
        return index.astype(np.float32).reshape(-1, 1)

    def decode(self, y, stats, transform=None):
        return np.asarray(y, dtype=np.float64).reshape(-1, self.n_outputs(stats))


# Range of the log of a network's width (in the units of its network target): the raw width is
# clipped to it, so the width stays in [9e-4, 148] (no overflow of exp, no division by 0).
LOG_WIDTH_RANGE = (-7.0, 5.0)

TARGETS: dict[str, Target] = {
    "energy": Energy(
        "energy",
        "energy",
        "energy",
        "energy_true",
        "energy_pred",
        "EeV",
        width="energy_sigma",
        gaussian_output=True,
    ),
    "direction": Direction(
        "direction",
        "shower axis",
        "axis",
        "axis_true",
        "axis_pred",
        "1",
        loss="mse",
        width="axis_sigma",
        width_dims=2,
    ),
    "core": Standardized(
        "core",
        "core position",
        "core",
        "core_true",
        "core_pred",
        "m",
        loss="mse",
        width="core_sigma",
        width_dims=2,
    ),
    "xmax": Standardized(
        "xmax",
        "depth of the shower maximum",
        "xmax",
        "xmax",
        "xmax_pred",
        "g/cm^2",
        loss="mse",
        width="xmax_sigma",
    ),
    "mass": Mass(
        "mass",
        "primary mass",
        "mass",
        "mass",
        "mass_prob",
        "1",
        loss="sparse_categorical_crossentropy",
        activation="softmax",
    ),
    "muon": Standardized(
        "muon",
        "relative muon content",
        "muon",
        "muon",
        "muon_pred",
        "1",
        loss="mse",
        width="muon_sigma",
    ),
}


def get(name: str) -> Target:
    """The target ``name``; ValueError naming the known ones otherwise."""
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r} (use {', '.join(TARGETS)})")
    return TARGETS[name]


def fit_all(train: Mapping[str, np.ndarray]) -> dict:
    """``normalization.json["targets"]``: the statistics of every target whose label the training
    split has, and that can be fitted (a single-mass study has no ``mass`` entry)."""
    stats = {}
    for name, target in TARGETS.items():
        if target.label not in train:
            continue
        try:
            stats[name] = target.fit(train[target.label])
        except ValueError:
            if name == "mass":  # one mass number: no classification, which the config forbids
                continue
            raise
    return stats


def statistics_of(norm: Mapping, name: str) -> Mapping:
    """The training-split statistics of target ``name`` in ``normalization.json``."""
    stats = norm.get("targets", {})
    if name not in stats:
        raise ValueError(
            f"target {name!r} has no statistics in the normalization (has {', '.join(stats) or 'none'}): "
            "prepare the data again"
            + (" with two or more mass numbers in simulation.composition" if name == "mass" else "")
        )
    return stats[name]


def encode(split: Mapping[str, np.ndarray], norm: Mapping, names: Sequence[str], transform: str):
    """The network target of a prepared split for the model's targets ``names``: one array
    (N, k) for a single target, else a dict target -> array (the model's output names)."""
    arrays = {n: get(n).encode(split[get(n).label], statistics_of(norm, n), transform) for n in names}
    return arrays[names[0]] if len(names) == 1 else arrays


def decode(outputs, norm: Mapping, names: Sequence[str], transform: str) -> dict[str, np.ndarray]:
    """``predictions.h5`` datasets (``predicted`` of each target, and its ``width`` where the
    output has one) from the network's standardized outputs (an array for a single target, else a
    dict target -> array; :meth:`Target.reconstruct`)."""
    if len(names) == 1 and not isinstance(outputs, Mapping):
        outputs = {names[0]: outputs}
    out = {}
    for n in names:
        out.update(get(n).reconstruct(outputs[n], statistics_of(norm, n), transform))
    return out


def labels_needed(names: Sequence[str]) -> list[str]:
    """The datasets of a prepared split the targets ``names`` read."""
    return [get(n).label for n in names]


def output_units(norm: Mapping, names: Sequence[str]) -> dict[str, int]:
    """Output units of each target of ``names`` given the training split's statistics
    (``models.build_model``'s ``n_outputs``)."""
    return {n: get(n).n_outputs(statistics_of(norm, n)) for n in names}


# ---------------------------------------------------------------------------------------------
# the energy's transforms: the network sees the standardized transform of the energy in EeV

# The target transforms (``training.target_transform``; the schema's enum is held to these
# keys by tests/test_preparation.py): name -> (forward, inverse) on float64 energies in EeV.
TARGET_TRANSFORMS: dict[str, tuple[Callable, Callable]] = {
    "linear": (lambda e: e, lambda v: v),
    "log10": (np.log10, lambda v: 10.0**v),
}
# d(energy)/d(transformed energy) as a function of the energy, per target transform (a test holds
# the keys to TARGET_TRANSFORMS): linear E -> 1, log10 E -> ln(10) E.
INVERSE_SLOPES: dict[str, Callable] = {
    "linear": np.ones_like,
    "log10": lambda energy: np.log(10.0) * energy,
}


def _target(energy_eev: np.ndarray, transform: str) -> np.ndarray:
    forward, _ = TARGET_TRANSFORMS[transform]
    return forward(np.asarray(energy_eev, dtype=np.float64))


def fit_target_transforms(energy_eev: np.ndarray) -> dict:
    """The energy target's statistics: the mean and standard deviation of every transform of
    :data:`TARGET_TRANSFORMS` of the training split's energies (``normalization.json``,
    ``targets.energy``)."""
    targets = {name: _target(energy_eev, name) for name in TARGET_TRANSFORMS}
    return {
        "quantity": "energy",
        "unit": "EeV",
        "transforms": {name: {"mean": float(t.mean()), "std": float(t.std())} for name, t in targets.items()},
    }


def target_statistics(norm: Mapping, transform: str) -> Mapping:
    """The training split's mean and standard deviation of the energy target's ``transform``
    (``normalization.json``); ValueError naming what to do where they are missing."""
    stats = statistics_of(norm, "energy")["transforms"]
    if transform not in stats:
        raise ValueError(
            f"target transform {transform!r} has no statistics in the normalization "
            f"(has {', '.join(stats)}): prepare the data again"
        )
    return stats[transform]


def transform_target(energy_eev: np.ndarray, norm: Mapping, transform: str) -> np.ndarray:
    """Standardized network target (N,) float32 of energies in EeV, for target ``transform``."""
    t = target_statistics(norm, transform)
    return ((_target(energy_eev, transform) - t["mean"]) / t["std"]).astype(np.float32)


def inverse_target(y: np.ndarray, norm: Mapping, transform: str) -> np.ndarray:
    """Map standardized network outputs of target ``transform`` back to energy in EeV (float64)."""
    t = target_statistics(norm, transform)
    _, inverse = TARGET_TRANSFORMS[transform]
    return inverse(np.asarray(y, dtype=np.float64) * t["std"] + t["mean"])

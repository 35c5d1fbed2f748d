"""Calibration of the per-event widths: a scale of each model's predicted 1-sigma width, fitted
on the **validation** split's predictions and applied to the test set and to every systematic
variant (rules ``calibrate_widths``, ``predict``, ``ensemble``, ``baseline_predict``).

A target with a width (:attr:`airshower.targets.Target.width`: ``energy_sigma``, ``axis_sigma``,
``core_sigma``, ``xmax_sigma``) keeps its raw width in ``predictions.h5`` and gains the calibrated
one beside it (:func:`calibrated_name`: ``energy_sigma_calibrated``, ...), so both can be
evaluated.

The width describes a Gaussian error in ``d`` dimensions (:attr:`~airshower.targets.Target.width_dims`):
``d = 1`` for the energy and Xmax (``x_rec -+ sigma`` holds the truth with probability
``p = 0.6827``), ``d = 2`` for the axis and the core, a circular Gaussian of ``sigma`` per axis
whose 68.27 % region is the circle of radius ``k_2 sigma``, ``k_2 = sqrt(-2 ln(1 - p)) = 1.515``
(:func:`region`; the distance over sigma follows a Rayleigh distribution). With
``z = error / sigma`` per validation event (:meth:`~airshower.targets.Target.errors`: the signed
residual for ``d = 1``, the distance or opening angle for ``d = 2``) the calibration is one factor
``s`` of the width, ``sigma' = s sigma``, fitted by the method of ``calibration.method``:

- ``scale``: ``s = sqrt(mean(z^2) / d)``, the maximum of the Gaussian likelihood of the
  validation errors over ``s`` (sigma-scaling, Laves et al. 2020);
- ``conformal`` (default): ``s = z_(r) / k_d`` with ``z_(r)`` the ``r = ceil((n + 1) p)``-th smallest
  ``|z|``: split conformal prediction with the normalized score ``|z|`` (Vovk et al. 2005; Lei et
  al. 2018): on exchangeable events the 68 % region of ``sigma'`` holds the truth with probability
  at least ``p``, whatever the distribution. It guarantees the 68 % region only: the 95 % one
  assumes Gaussian tails;
- ``none``: ``s = 1``, the raw width again (to see what the raw widths do in the same tables).

With ``calibration.bins`` = k > 1 the factor is fitted separately in k equal-population bins of
the raw width on the validation split (a quantity the model predicts, never the truth, which a
test event does not have), and a test event takes the factor of its bin: widths too small where
they are small and too large where they are large are both corrected (a binned version of the
calibration curve). Beyond the outer edges the outer bins' factors hold.

The record (``widths.json``)::

    {"method", "bins", "nominal_coverage", "source",
     "targets": {target: {"width", "calibrated", "dims", "by", "edges", "scale", "n",
                          "before": {...}, "after": {...}}}}

``before`` and ``after``: coverage of the 68 % region and the root mean square of ``z`` per
dimension on the validation split, with the raw and the calibrated widths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import special

from airshower import contract, io
from airshower import targets as registry

METHODS = ("scale", "conformal", "none")
NOMINAL = math.erf(1.0 / math.sqrt(2.0))  # 0.6827: the Gaussian probability of -+ 1 sigma
CALIBRATED_SUFFIX = "_calibrated"


def calibrated_name(width: str) -> str:
    """The ``predictions.h5`` dataset of the calibrated ``width``."""
    return f"{width}{CALIBRATED_SUFFIX}"


def width_targets(pred: Mapping[str, np.ndarray]) -> list[registry.Target]:
    """The targets whose raw width the predictions have."""
    return [t for t in registry.TARGETS.values() if t.width and t.width in pred]


def region(dims: int, probability: float = NOMINAL) -> float:
    """The radius, in units of sigma, of the region of a ``dims``-dimensional circular Gaussian
    that holds ``probability``: 1 (0.6827) and 1.96 (0.95) in one dimension, 1.515 and 2.448 in
    two (the Rayleigh quantile ``sqrt(-2 ln(1 - p))``)."""
    if dims == 1:
        return math.sqrt(2.0) * float(special.erfinv(probability))
    if dims == 2:
        return math.sqrt(-2.0 * math.log1p(-probability))
    raise ValueError(f"a width describes a 1D or 2D error, not {dims}D")


def normalized_errors(
    target: registry.Target, pred: Mapping[str, np.ndarray], width: str | None = None
) -> np.ndarray:
    """``error / sigma`` of every event (:meth:`airshower.targets.Target.errors`: signed for a
    1D target, a distance for a 2D one), ``sigma`` from dataset ``width`` (default: the raw one).
    ValueError naming the dataset where a width is not positive and finite."""
    width = width or target.width
    return target.errors(pred) / check_width(pred[width], width)


def check_width(values: np.ndarray, name: str, unit: str = "") -> np.ndarray:
    """The per-event widths ``values`` (dataset ``name``) as float64, after checking that each is
    positive and finite; ValueError naming the dataset and the first event that is not
    (:func:`airshower.contract.failures`)."""
    sigma = np.asarray(values, dtype=np.float64).ravel()
    failed = contract.failures(np.isfinite(sigma) & (sigma > 0), lambda i: f"{sigma[i]:.6g} {unit}".strip())
    if failed:
        raise ValueError(f"'{name}' must be positive and finite: {failed}")
    return sigma


def scale_factor(z: np.ndarray, method: str, dims: int = 1) -> float:
    """The factor ``s`` of the widths that the normalized errors ``z`` of a ``dims``-dimensional
    target call for (module docstring)."""
    z = np.abs(np.asarray(z, dtype=np.float64))
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r} (use {', '.join(METHODS)})")
    if method == "none":
        return 1.0
    if z.size == 0:
        raise ValueError("no validation events to calibrate the widths on")
    if method == "scale":
        return float(np.sqrt(np.mean(z**2) / dims))
    rank = min(math.ceil((z.size + 1) * NOMINAL), z.size)  # 1-based; the largest for tiny n
    return float(np.partition(z, rank - 1)[rank - 1]) / region(dims)


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    """The interior quantile edges of ``bins`` equal-population bins (duplicates merged)."""
    if bins <= 1:
        return np.empty(0)
    return np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1]))


def _bin(values: np.ndarray, edges) -> np.ndarray:
    return np.searchsorted(
        np.asarray(edges, dtype=np.float64), np.asarray(values, dtype=np.float64), side="right"
    )


def _summary(z: np.ndarray, dims: int) -> dict:
    return {
        "coverage68": float(np.mean(np.abs(z) <= region(dims))),
        "pull_rms": float(np.sqrt(np.mean(z**2) / dims)),
    }


def fit(pred: Mapping[str, np.ndarray], method: str = "conformal", bins: int = 1, source: str = "") -> dict:
    """The calibration record (module docstring) of every target with a width in ``pred``, the
    predictions of the **validation** split. ValueError where there is none or a bin is empty."""
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"calibration.bins must be a positive integer, got {bins!r}")
    found = width_targets(pred)
    if not found:
        known = ", ".join(t.width for t in registry.TARGETS.values() if t.width)
        raise ValueError(f"{source or 'the predictions'}: no per-event width to calibrate (no {known})")
    out: dict = {
        "method": method,
        "bins": bins,
        "nominal_coverage": NOMINAL,
        "source": str(source),
        "targets": {},
    }
    for target in found:
        z = normalized_errors(target, pred)
        dims = target.width_dims
        by = np.asarray(pred[target.width], dtype=np.float64).ravel()
        edges = _edges(by, bins)
        index = _bin(by, edges)
        n = [int(np.count_nonzero(index == k)) for k in range(edges.size + 1)]
        if min(n) == 0:
            raise ValueError(f"{source}: an empty calibration bin of '{target.width}' ({n} events per bin)")
        scale = [scale_factor(z[index == k], method, dims) for k in range(edges.size + 1)]
        calibrated = z / np.asarray(scale)[index]
        out["targets"][target.name] = {
            "width": target.width,
            "calibrated": calibrated_name(target.width),
            "dims": dims,
            "by": target.width,
            "edges": edges.tolist(),
            "scale": scale,
            "n": n,
            "before": _summary(z, dims),
            "after": _summary(calibrated, dims),
        }
    return out


def check(calibration: Mapping, source: str = "widths.json") -> None:
    """ValueError naming ``source`` and the key where ``calibration`` is not a width calibration."""
    if calibration.get("method") not in METHODS or not isinstance(calibration.get("targets"), Mapping):
        raise ValueError(f"{source}: not a width calibration (no 'method' of {METHODS} or no 'targets')")
    for name, entry in calibration["targets"].items():
        if name not in registry.TARGETS or not registry.TARGETS[name].width:
            raise ValueError(f"{source}: target {name!r} has no width to calibrate")
        scale = np.asarray(entry.get("scale", []), dtype=np.float64)
        edges = np.asarray(entry.get("edges", []), dtype=np.float64)
        if scale.size != edges.size + 1 or not np.all(np.isfinite(scale) & (scale > 0)):
            raise ValueError(
                f"{source}: targets.{name}.scale must be {edges.size + 1} positive factors, "
                f"got {scale.tolist()}"
            )


def apply(
    pred: Mapping[str, np.ndarray], calibration: Mapping, source: str = "widths.json"
) -> dict[str, np.ndarray]:
    """The calibrated widths (``{calibrated name: float64 array}``) of the predictions ``pred``
    (a test set or a variant's), by the factors of ``calibration`` (:func:`fit`). ValueError
    where the predictions lack a width the calibration has, or have one it lacks."""
    check(calibration, source)
    have = {t.name for t in width_targets(pred)}
    if have != set(calibration["targets"]):
        raise ValueError(
            f"{source} calibrates {sorted(calibration['targets'])}, "
            f"the predictions have widths of {sorted(have)}"
        )
    out = {}
    for name, entry in calibration["targets"].items():
        target = registry.TARGETS[name]
        index = _bin(np.asarray(pred[target.width], dtype=np.float64).ravel(), entry["edges"])
        out[entry["calibrated"]] = (
            np.asarray(pred[target.width], dtype=np.float64).ravel()
            * np.asarray(entry["scale"], dtype=np.float64)[index]
        )
    return out


def apply_file(pred: Mapping[str, np.ndarray], path) -> dict[str, np.ndarray]:
    """:func:`apply` with the calibration of the file ``path`` (``widths.json``); DataError
    naming the file where it cannot be read or is not a width calibration."""
    calibration = io.read_json(path)
    try:
        return apply(pred, calibration, str(path))
    except ValueError as exc:
        raise io.DataError(str(exc)) from None

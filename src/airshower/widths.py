"""Calibration of the per-event widths: a scale of each model's predicted 1-sigma width, fitted
on the **validation** split's predictions and applied to the test set and to every systematic
variant (rules ``calibrate_widths``, ``predict``, ``ensemble``, ``baseline_predict``).

A target with a width (:attr:`airshower.targets.Target.width`, today the energy's
``energy_sigma``) keeps its raw width in ``predictions.h5`` and gains the calibrated one beside
it (:func:`calibrated_name`: ``energy_sigma_calibrated``), so both can be evaluated.

For the validation events, with ``z = (x_rec - x_true) / sigma`` the normalized error of each
event, the calibration is one factor ``s`` of the width, ``sigma' = s sigma``, fitted by the
method of ``calibration.method``:

- ``scale`` (default): ``s = sqrt(mean(z^2))``, the maximum of the Gaussian likelihood of the
  validation residuals over ``s`` (sigma-scaling, Laves et al. 2020): the pulls get unit mean
  square;
- ``conformal``: ``s`` = the ``ceil((n + 1) p)``-th smallest ``|z|`` with ``p = 0.6827``, split
  conformal prediction with the normalized score ``|z|``: on exchangeable events the interval
  ``x_rec -+ s sigma`` holds the truth with probability at least ``p``, whatever the
  distribution (Vovk et al. 2005; Lei et al. 2018). It guarantees the 68 % interval only: the
  95 % interval ``-+ 1.96 s sigma`` assumes Gaussian tails;
- ``none``: ``s = 1``, the raw width again (to see what the raw widths do in the same tables).

With ``calibration.bins`` = k > 1 the factor is fitted separately in k equal-population bins of
the *reconstructed* value on the validation split (never the true one, which a test event does
not have) and a test event takes the factor of its bin: widths that are too small at one end of
the range and too large at the other are both corrected. The bin edges are quantiles of the
validation predictions; outside them the first or last bin's factor holds.

The record (``widths.json``)::

    {"method", "bins", "nominal_coverage", "source",
     "targets": {target: {"width", "calibrated", "by", "edges", "scale", "n",
                          "before": {...}, "after": {...}}}}

``before`` and ``after``: coverage of the 68 % interval and the root mean square of the pulls on
the validation split, with the raw and the calibrated widths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from airshower import io
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


def normalized_errors(
    target: registry.Target, pred: Mapping[str, np.ndarray], width: str | None = None
) -> np.ndarray:
    """``(x_rec - x_true) / sigma`` of every event for a scalar target with a width, ``sigma``
    from dataset ``width`` (default: the raw one). ValueError naming the dataset where a width is
    not positive and finite."""
    width = width or target.width
    sigma = np.asarray(pred[width], dtype=np.float64).ravel()
    bad = ~(np.isfinite(sigma) & (sigma > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"'{width}' must be positive and finite: {int(bad.sum())} events fail, "
            f"first event {i} ({sigma[i]:.6g})"
        )
    residual = (
        np.asarray(pred[target.predicted], dtype=np.float64).ravel()
        - np.asarray(pred[target.truth], dtype=np.float64).ravel()
    )
    return residual / sigma


def scale_factor(z: np.ndarray, method: str) -> float:
    """The factor ``s`` of the widths that the normalized errors ``z`` call for (module docstring)."""
    z = np.abs(np.asarray(z, dtype=np.float64))
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r} (use {', '.join(METHODS)})")
    if method == "none":
        return 1.0
    if z.size == 0:
        raise ValueError("no validation events to calibrate the widths on")
    if method == "scale":
        return float(np.sqrt(np.mean(z**2)))
    rank = min(math.ceil((z.size + 1) * NOMINAL), z.size)  # 1-based; the largest for tiny n
    return float(np.partition(z, rank - 1)[rank - 1])


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    """The interior quantile edges of ``bins`` equal-population bins (duplicates merged)."""
    if bins <= 1:
        return np.empty(0)
    return np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1]))


def _bin(values: np.ndarray, edges) -> np.ndarray:
    return np.searchsorted(
        np.asarray(edges, dtype=np.float64), np.asarray(values, dtype=np.float64), side="right"
    )


def _summary(z: np.ndarray) -> dict:
    return {"coverage68": float(np.mean(np.abs(z) <= 1.0)), "pull_rms": float(np.sqrt(np.mean(z**2)))}


def fit(pred: Mapping[str, np.ndarray], method: str = "scale", bins: int = 1, source: str = "") -> dict:
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
        by = np.asarray(pred[target.predicted], dtype=np.float64).ravel()
        edges = _edges(by, bins)
        index = _bin(by, edges)
        n = [int(np.count_nonzero(index == k)) for k in range(edges.size + 1)]
        if min(n) == 0:
            raise ValueError(
                f"{source}: an empty calibration bin of '{target.predicted}' ({n} events per bin)"
            )
        scale = [scale_factor(z[index == k], method) for k in range(edges.size + 1)]
        calibrated = z / np.asarray(scale)[index]
        out["targets"][target.name] = {
            "width": target.width,
            "calibrated": calibrated_name(target.width),
            "by": target.predicted,
            "edges": edges.tolist(),
            "scale": scale,
            "n": n,
            "before": _summary(z),
            "after": _summary(calibrated),
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
        index = _bin(np.asarray(pred[target.predicted], dtype=np.float64).ravel(), entry["edges"])
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

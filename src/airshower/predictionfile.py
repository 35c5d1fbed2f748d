"""``predictions.h5``, the file every model writes for every test set (networks, seed ensembles
and the classical baseline): the test split's true values under their names, the model's
reconstructions and widths, each dataset with its unit; written whole or not at all and read
with checks (:mod:`airshower.io`, whose readers name the file and the dataset)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np

from airshower import io
from airshower.contract import OPTIONAL_LABEL_DATASETS

# predictions.h5 of every model (networks and baseline): the true values of the test split
PREDICTION_UNITS = {
    "energy_true": "EeV",
    "index": "row in showers.h5",
    "zenith": "rad",
    "mass": "1",
    "xmax": "g/cm^2",
    "axis_true": "1 (unit vector to where the shower comes from, z up)",
    "core_true": "m",
    "muon": "1 (R_mu, the muon signal at 1000 m relative to a proton's before attenuation)",
}
# true values a predictions.h5 has only where the showers have them (the muon target's label)
OPTIONAL_TRUTHS = OPTIONAL_LABEL_DATASETS
# the reconstructions a model's predictions.h5 carries, those of the targets it reconstructs
# (airshower.targets: Target.predicted) and energy_sigma, the predicted 1-sigma uncertainty of
# energy_pred per event (float64, > 0), where the model predicts one; consumers handle each's absence
OPTIONAL_PREDICTION_UNITS = {
    "energy_pred": "EeV",
    "energy_sigma": "EeV",
    "energy_sigma_calibrated": "EeV",  # energy_sigma x the validation split's factor (airshower.widths)
    "axis_sigma": "deg (sigma per axis of a circular Gaussian across the shower axis)",
    "axis_sigma_calibrated": "deg",
    "core_sigma": "m (sigma per axis of a circular Gaussian on the ground)",
    "core_sigma_calibrated": "m",
    "xmax_sigma": "g/cm^2",
    "xmax_sigma_calibrated": "g/cm^2",
    "axis_pred": "1 (unit vector)",
    "core_pred": "m",
    "xmax_pred": "g/cm^2",
    "muon_pred": "1",
    "muon_sigma": "1",
    "muon_sigma_calibrated": "1",
    "mass_prob": "1 (probability of each mass class, ascending mass number)",
}
# the labels of a prepared split that become the truths of PREDICTION_UNITS
PREDICTION_LABELS = {
    "energy": "energy_true",
    "index": "index",
    "zenith": "zenith",
    "mass": "mass",
    "xmax": "xmax",
    "axis": "axis_true",
    "core": "core_true",
    "muon": "muon",
}


def prediction_labels(path: str | os.PathLike) -> list[str]:
    """The labels of :data:`PREDICTION_LABELS` a prepared split file has (an optional truth, such as
    the muon target's, only where the showers had it)."""
    with io.open_h5(path) as fh:
        return [
            label for label, name in PREDICTION_LABELS.items() if label in fh or name not in OPTIONAL_TRUTHS
        ]


def prediction_datasets(
    test: Mapping[str, np.ndarray], predicted: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Datasets of ``predictions.h5``: the test labels of :data:`PREDICTION_LABELS` under their
    names of :data:`PREDICTION_UNITS`, and the model's ``predicted`` datasets.

    The reconstructions of :data:`OPTIONAL_PREDICTION_UNITS` are stored as float64; every
    predicted dataset must have one entry per test event, and ``energy_sigma`` needs
    ``energy_pred``.
    """
    n = len(test["energy"])
    out = {
        name: np.asarray(test[label])
        for label, name in PREDICTION_LABELS.items()
        if label in test or name not in OPTIONAL_TRUTHS
    }
    out["energy_true"] = out["energy_true"].astype(np.float64)
    out["index"] = out["index"].astype(np.int64)
    predicted = dict(predicted or {})
    for name in set(predicted) & set(OPTIONAL_PREDICTION_UNITS):
        predicted[name] = np.asarray(predicted[name], dtype=np.float64)
    for name, values in predicted.items():
        if len(values) != n:
            raise ValueError(f"{len(values)} predictions '{name}' for {n} test events")
    if "energy_sigma" in predicted and "energy_pred" not in predicted:
        raise ValueError("'energy_sigma' without 'energy_pred': a width needs its energy")
    return {**out, **predicted}


def write_predictions(
    path: str | os.PathLike,
    datasets: Mapping[str, np.ndarray],
    attrs: Mapping,
    extra_units: Mapping[str, str] | None = None,
) -> None:
    """Write ``predictions.h5`` (datasets from :func:`prediction_datasets`), every dataset with
    its unit: :data:`PREDICTION_UNITS` (those of :data:`OPTIONAL_TRUTHS` where present), the
    model's ``extra_units`` and those of :data:`OPTIONAL_PREDICTION_UNITS` present."""
    units = {k: v for k, v in PREDICTION_UNITS.items() if k in datasets or k not in OPTIONAL_TRUTHS}
    units.update(extra_units or {})
    units.update({k: v for k, v in OPTIONAL_PREDICTION_UNITS.items() if k in datasets})
    if set(datasets) != set(units):
        raise ValueError(f"{path}: predictions {sorted(datasets)} do not match the contract {sorted(units)}")
    io.write_h5(path, datasets, units=units, attrs=attrs)


def read_predictions(path: str | os.PathLike, require: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """The true values (:data:`PREDICTION_UNITS` but ``index``) and the reconstructions
    (:data:`OPTIONAL_PREDICTION_UNITS`) a ``predictions.h5`` has, all finite and of equal length
    (:func:`airshower.io.read_h5` checks, naming the file); a reconstruction the model does not make is absent
    from the result, unless ``require`` names it (DataError)."""
    with io.open_h5(path) as fh:
        optional = [name for name in OPTIONAL_PREDICTION_UNITS if name in fh]
        truths = [
            name
            for name in PREDICTION_UNITS
            if name != "index" and (name not in OPTIONAL_TRUTHS or name in fh)
        ]
    missing = [name for name in require if name not in optional]
    if missing:
        raise io.DataError(f"{path}: no dataset(s) {', '.join(missing)}: the model does not predict them")
    names = truths + optional
    data = io.read_h5(path, names, finite=names)
    n = len(data["energy_true"])
    for name in names:
        if len(data[name]) != n:
            raise io.DataError(f"{path}: dataset '{name}' has {len(data[name])} entries, energy_true {n}")
    return data

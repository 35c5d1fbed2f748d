"""Seed ensembles: the test predictions of a network's training seeds combined into one model.

For every network with two or more seeds the comparison holds the model ``{model}_ensemble``
(:data:`airshower.schema.ENSEMBLE_SUFFIX`, :func:`airshower.study.ensembles`), with the single
seed 0, whose ``predictions.h5`` :func:`combine` builds from its members' (the seeds'):

- ``energy_pred``: the mean of the members' energies in EeV, per event. It is the mean of the
  energies, not of the networks' targets: for a ``log10`` target it is not the energy of the mean
  ``log10 E`` (that would be the geometric mean, lower by about half the members' relative
  variance), and the energies are what every metric of the comparison reads.
- the widths of the direction, core and Xmax (``axis_sigma``, ``core_sigma``, ``xmax_sigma``;
  the networks' ``widths``) by the same rule: ``sqrt(mean of the members' sigma^2 + s^2)``, with
  ``s^2`` the members' spread per dimension around the ensemble's reconstruction,
  ``sum_i e_i^2 / (d (n - 1))``, ``e_i`` the member's distance to it
  (:meth:`airshower.targets.Target.errors`: the opening angle in deg, the core distance in m, the
  Xmax difference; ``d`` the width's dimensions);
- ``energy_sigma`` (only where the members predict a width, ``output: gaussian``):
  ``sqrt(mean of the members' energy_sigma^2 + s^2)``, with ``s`` the members' spread
  (:func:`airshower.statistics.spread`, ``ddof=1``), floored at the float32 resolution of the
  energy. Members without a width give an ensemble without one: their spread alone measures how
  much the seeds disagree, not how far they are from the true energy (with two members it is an
  estimate from one degree of freedom; in the tiny study it covered 26 % of the events in its
  "68 %" interval), so it is not offered as a per-event uncertainty.

- the other targets' reconstructions (:mod:`airshower.targets`), per event: ``axis_pred`` the
  mean of the members' unit vectors, normalized to unit length (the direction that minimizes the
  members' summed squared chord distance); ``core_pred``, ``xmax_pred`` the mean; ``mass_prob``
  the mean of the class probabilities (a probability again).

The members must be predictions of the same test events (``index``) with the same true energies;
:func:`combine` names the member file that differs. :func:`attributes` are the file attributes
naming the members and their combined inference rate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np

from airshower import io, predictionfile, statistics
from airshower.schema import ENSEMBLE_SUFFIX
from airshower.targets import TARGETS

SIGMA = "energy_sigma"  # the optional width of predictionfile.OPTIONAL_PREDICTION_UNITS
# the other targets' widths (a network's ``widths``), combined with their members' spread
TARGET_WIDTHS = tuple(t for t in TARGETS.values() if t.width and not t.gaussian_output)
# the reconstructions combined by their mean (axis_pred is normalized after it)
MEANS = ("energy_pred", "axis_pred", "core_pred", "xmax_pred", "muon_pred", "mass_prob")
FLOAT32_RESOLUTION = float(np.finfo(np.float32).eps)  # relative floor of the width
COMBINATION = (
    "energy_pred = mean of the members' energy_pred (EeV); where the members predict a width, "
    "energy_sigma = sqrt(mean of the members' energy_sigma^2 + spread^2 (ddof=1)), at least "
    "float32 eps * energy_pred; axis_pred = normalized mean of the members' axes; core_pred, "
    "xmax_pred, muon_pred, mass_prob = the members' mean; axis_sigma, core_sigma, xmax_sigma, "
    "muon_sigma = sqrt(mean of "
    "the members' sigma^2 + their spread per dimension around the ensemble's reconstruction^2)"
)


def _first_difference(a: np.ndarray, b: np.ndarray) -> int | None:
    differs = np.flatnonzero(a != b)
    return int(differs[0]) if differs.size else None


def check_members(members: Sequence[Mapping[str, np.ndarray]], names: Sequence[str]) -> bool:
    """Check that the members are predictions of the same test events; return whether they carry
    ``energy_sigma`` (all of them or none).

    Raises
    ------
    airshower.io.DataError
        naming the member file and the dataset that differs from the first member's (``names[0]``),
        for fewer than two members, or where only some members have ``energy_sigma``.
    """
    if len(members) < 2:
        raise io.DataError(f"a seed ensemble needs two or more members, got {len(members)}: {list(names)}")
    first, ref = members[0], names[0]
    n = len(first["index"])
    for member, name in zip(members[1:], names[1:], strict=True):
        if len(member["index"]) != n:
            raise io.DataError(f"{name}: {len(member['index'])} test events, {ref} has {n}")
        for key in ("index", "energy_true"):
            i = _first_difference(np.asarray(member[key]), np.asarray(first[key]))
            if i is not None:
                raise io.DataError(
                    f"{name}: dataset '{key}' differs from {ref} at event {i} ({member[key][i]} against "
                    f"{first[key][i]}): the members of an ensemble must predict the same test split"
                )
    reconstructed = [sorted(set(m) & set(MEANS)) for m in members]
    for got, name in zip(reconstructed[1:], names[1:], strict=True):
        if got != reconstructed[0]:
            raise io.DataError(
                f"{name}: reconstructs {got}, while {ref} reconstructs {reconstructed[0]}: the members "
                "must predict alike"
            )
    with_sigma = [SIGMA in m for m in members]
    if any(with_sigma) and not all(with_sigma):
        has = names[with_sigma.index(True)]
        lacks = names[with_sigma.index(False)]
        raise io.DataError(
            f"{lacks}: no dataset '{SIGMA}', while {has} has one: the members must predict alike"
        )
    return all(with_sigma)


def combine(members: Sequence[Mapping[str, np.ndarray]], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The ``predictions.h5`` datasets of the ensemble of ``members`` (module docstring).

    Parameters
    ----------
    members
        the datasets of each member's ``predictions.h5``: the truths of
        :data:`airshower.predictionfile.PREDICTION_UNITS`, the reconstructions (:data:`MEANS`) and
        ``energy_sigma`` (EeV) where the members predict a width.
    names
        the members' file paths, for the errors.

    Returns
    -------
    dict
        :func:`airshower.predictionfile.prediction_datasets`, with ``energy_sigma`` (EeV, float64, > 0)
        where the members have one.

    Raises
    ------
    airshower.io.DataError
        from :func:`check_members`.
    """
    with_sigma = check_members(members, names)
    first = members[0]
    labels = {label: first[name] for label, name in predictionfile.PREDICTION_LABELS.items() if name in first}
    stacked = {
        name: np.stack([np.asarray(m[name], dtype=np.float64) for m in members])
        for name in MEANS
        if name in first
    }
    predicted = {name: values.mean(axis=0) for name, values in stacked.items()}
    if "axis_pred" in predicted:
        axis = predicted["axis_pred"]
        predicted["axis_pred"] = axis / np.linalg.norm(axis, axis=1, keepdims=True)
    if with_sigma:
        mean = predicted["energy_pred"]
        widths = np.mean([np.asarray(m[SIGMA], dtype=np.float64) ** 2 for m in members], axis=0)
        variance = statistics.spread(stacked["energy_pred"], axis=0) ** 2 + widths
        predicted[SIGMA] = np.maximum(np.sqrt(variance), FLOAT32_RESOLUTION * np.abs(mean))
    for target in TARGET_WIDTHS:
        if all(target.width in m for m in members):
            predicted[target.width] = combined_width(target, members, predicted[target.predicted])
    return predictionfile.prediction_datasets(labels, predicted)


def combined_width(target, members: Sequence[Mapping[str, np.ndarray]], combined: np.ndarray) -> np.ndarray:
    """The ensemble's width of ``target`` (module docstring): the members' widths and their
    spread around the ensemble's reconstruction ``combined``, in quadrature."""
    n = len(members)
    spread2 = sum(
        target.errors({target.predicted: m[target.predicted], target.truth: combined}) ** 2 for m in members
    ) / (target.width_dims * (n - 1))
    widths2 = np.mean([np.asarray(m[target.width], dtype=np.float64) ** 2 for m in members], axis=0)
    return np.sqrt(widths2 + spread2)


def attributes(
    model: str, seeds: Sequence[int], names: Sequence[str], member_attrs: Sequence[Mapping]
) -> dict:
    """File attributes of the ensemble of network ``model``: its name (``{model}_ensemble``, seed
    0), the members (network, seeds, files), the combination rule, and the inference rate of all
    members in turn (``1 / sum(1 / rate)``, events/s) where every member states its rate."""
    attrs = {
        **io.provenance(seed=0),
        "model": f"{model}{ENSEMBLE_SUFFIX}",
        "seed": 0,
        "member_model": model,
        "member_seeds": json.dumps([int(s) for s in seeds]),
        "member_files": json.dumps([str(n) for n in names]),
        "combination": COMBINATION,
    }
    rates = [a.get("inference_events_per_s") for a in member_attrs]
    if rates and all(r is not None and float(r) > 0 for r in rates):
        attrs["inference_events_per_s"] = 1.0 / sum(1.0 / float(r) for r in rates)
    return attrs

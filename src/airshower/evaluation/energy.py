"""Metrics of the reconstructed energy of one model and seed: bias and resolution, absolute and
relative, over all events and in bins of true energy (:mod:`.resolution`), and where the model
predicts a per-event width (``energy_sigma``) how well it describes the errors
(:mod:`.uncertainty`: pulls, coverage, calibration, the cut on the predicted width).

The energy's spec (:data:`SPEC`): its table's headline numbers (the width's in a second
Markdown table), the relative resolution on the study's front page, and its systematic shifts
(the relative bias as a difference, the relative resolution as a relative change).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from airshower import systematics as variants
from airshower.evaluation import target_base as base
from airshower.evaluation import width_metrics
from airshower.evaluation.resolution import check_energies, compute_metrics
from airshower.evaluation.uncertainty import uncertainty_metrics

DATASETS = ("energy_true", "energy_pred")
WIDTH = "energy_sigma"  # the optional per-event width of the predictions, as the model gave it
UNCERTAINTIES = width_metrics.UNCERTAINTIES  # the Markdown table of the width's metrics
BINNED_COVERAGE = "Coverage of the calibrated 68 % interval per energy bin"


def _check_present(pred: Mapping[str, np.ndarray], what: str) -> None:
    missing = [name for name in DATASETS if name not in pred]
    if missing:
        raise ValueError(
            f"the energy {what} need dataset(s) {', '.join(missing)}, the predictions have {sorted(pred)}"
        )


def energy_metrics(
    pred: Mapping[str, np.ndarray],
    settings,
    target_settings: Mapping,  # noqa: ARG001 (the registry's signature; the energy has no keys)
    rng: np.random.Generator,
    *,
    substream: Callable[..., np.random.Generator],
    **_extra,
) -> dict:
    """Energy metrics of one run, JSON-ready.

    Layout: ``{"target": "energy"}`` and :func:`airshower.evaluation.resolution.compute_metrics`
    (``n_events``, ``n_bootstrap``, ``interval``, ``definitions``, ``overall``, ``bins``), plus
    ``uncertainty`` (:func:`airshower.evaluation.uncertainty.uncertainty_metrics`) of the
    calibrated width ``energy_sigma_calibrated`` where the predictions have it (else of the raw
    ``energy_sigma``; ``uncertainty.width`` says which), and ``uncertainty_raw`` of the raw width
    beside a calibrated one, so a reader sees what the calibration did. Both are bootstrapped
    from ``substream(1)`` (the same resamples), so that the metrics of the energy itself are the
    same with or without a width.
    """
    _check_present(pred, "metrics")
    computed = compute_metrics(pred["energy_true"], pred["energy_pred"], settings, rng)
    width = width_metrics.evaluated_width("energy", pred)
    if width is not None:
        computed["uncertainty"] = {
            "width": width,
            **uncertainty_metrics(
                pred["energy_true"], pred["energy_pred"], pred[width], settings, substream(1)
            ),
        }
    if width not in (None, WIDTH):  # a calibrated width: the raw one too
        computed["uncertainty_raw"] = {
            "width": WIDTH,
            **uncertainty_metrics(
                pred["energy_true"], pred["energy_pred"], pred[WIDTH], settings, substream(1)
            ),
        }
    return {"target": "energy", **computed}


def shift_columns(pred: Mapping[str, np.ndarray], _classes=()) -> dict:
    """True and reconstructed energies (EeV), which the shifts resample together, and the width
    of the headline metrics as ``sigma`` where there is one
    (:func:`airshower.evaluation.width_metrics.shift_width`)."""
    _check_present(pred, "shifts")
    e_true, e_pred = check_energies(pred["energy_true"], pred["energy_pred"])
    return {"energy_true": e_true, "energy_pred": e_pred, **width_metrics.shift_width("energy", pred)}


def _overall(column: str, header: str, scale: float = 1.0) -> base.Headline:
    return base.Headline(column, ("overall", column), header, scale)


def _width(
    column: str, path: tuple[str, ...], header: str, scale: float = 1.0, raw: bool = False
) -> base.Headline:
    return base.Headline(
        column, ("uncertainty_raw" if raw else "uncertainty", *path), header, scale, group=UNCERTAINTIES
    )


SPEC = base.TargetEvaluation(
    metrics=energy_metrics,
    stream=(),
    headlines=(
        _overall("resolution_eev", "resolution [EeV]"),
        _overall("resolution68_eev", "robust resolution [EeV]"),
        _overall("relative_resolution", "σ_E/E [%]", 100.0),
        _overall("bias_eev", "bias [EeV]"),
        _overall("relative_bias", "relative bias [%]", 100.0),
        _width("coverage68", ("overall", "coverage68"), "coverage 68 % [%]", 100.0),
        _width("coverage95", ("overall", "coverage95"), "coverage 95 % [%]", 100.0),
        _width("pull_width", ("overall", "pull_width"), "pull width"),
        _width("coverage68_raw", ("overall", "coverage68"), "coverage 68 %, raw σ [%]", 100.0, raw=True),
        _width("coverage95_raw", ("overall", "coverage95"), "coverage 95 %, raw σ [%]", 100.0, raw=True),
        _width("pull_width_raw", ("overall", "pull_width"), "pull width, raw σ", raw=True),
        _width("resolution_cut90_eev", ("cut", "resolution_eev"), "resolution, 90 % kept [EeV]"),
        _width("relative_resolution_cut90", ("cut", "relative_resolution"), "σ_E/E, 90 % kept [%]", 100.0),
        base.Headline(
            "bin_coverage68",
            ("uncertainty", "bins", "coverage68"),
            "coverage 68 % [%]",
            100.0,
            True,
            BINNED_COVERAGE,
        ),
        base.Headline(
            "bin_pull_mean", ("uncertainty", "bins", "pull_mean"), "pull mean [1]", 1.0, True, BINNED_COVERAGE
        ),
    ),
    front="relative_resolution",
    note="resolution = std(E_rec − E_true), robust resolution = half-width of the central 68.27 % of "
    "E_rec − E_true, σ_E/E = std((E_rec − E_true)/E_true), bias = mean(E_rec − E_true), relative "
    "bias = mean((E_rec − E_true)/E_true).",
    groups={
        BINNED_COVERAGE: "Per bin of true energy, for the models that predict a per-event "
        "uncertainty σ: the coverage of E_rec ± σ (68.27 % when calibrated) and the mean pull "
        "⟨(E_rec − E_true)/σ⟩ (0 without a bias), σ calibrated on the validation split.",
        UNCERTAINTIES: "For the models that predict a per-event uncertainty σ (EeV), σ calibrated "
        "on the validation split (config calibration; raw σ: as the model gave it): coverage 68 % "
        "(95 %) = fraction of the test events whose true energy lies within E_rec ± σ (± 1.96 σ), "
        "68.27 % (95.00 %) for a calibrated Gaussian σ; pull width = std((E_rec − E_true) / σ), 1 "
        "when calibrated; 90 % kept = the 90 % of the events with the smallest predicted σ / E_rec, "
        "to compare with σ_E/E of all events above. Read the relative column: the cut on σ / E "
        "removes mostly low-energy events, whose absolute errors are the smallest, so the absolute "
        "resolution of the kept events (EeV) can rise although every energy is measured better.",
    },
    shifts=(
        base.Shift(
            "relative_bias",
            "energy_bias_shift_pp",
            "E bias shift [pp]",
            r"shift of the relative bias $\langle\Delta E/E\rangle$ [percentage points]",
            variants.relative_bias,
            scale=100.0,
            value_label=r"relative bias $\langle\Delta E/E\rangle$ [%]",
        ),
        base.Shift(
            "relative_resolution",
            "energy_resolution_shift_pct",
            "σ_E/E change [%]",
            r"change of the relative resolution $\sigma_E/E$ [%]",
            variants.relative_resolution,
            relative=True,
            scale=100.0,
            value_label=r"relative resolution $\sigma_E/E$ [%]",
        ),
        width_metrics.coverage_shift(
            "energy", lambda s: s["energy_pred"] - s["energy_true"], "E", r"$E_{rec} \pm \sigma$"
        ),
    ),
    shift_columns=shift_columns,
)

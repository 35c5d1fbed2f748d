"""Metrics of the reconstructed arrival direction of one model and seed.

The error of one event is the opening angle psi (deg) between the reconstructed and the true
shower axis (:func:`airshower.geometry.opening_angle`). Quoted are the 68 % containment angle
``psi68`` (the angle below which 68 % of the events lie, :func:`airshower.statistics.containment`)
and the mean angle, over all events, in bins of true energy (``evaluation.energy_bins_eev``) and
in bins of true zenith angle (``targets.direction.zenith_bins_deg``), each with its 68.27 %
percentile-bootstrap interval. Given the classical fit's predictions of the same events
(``reference``), the difference of the two psi68, overall and per energy bin, with a paired
bootstrap (both resampled with the same events: the events' own difficulty, common to both,
drops out of the interval).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from airshower import geometry, statistics
from airshower.evaluation import target_base as base
from airshower.evaluation import width_metrics

CONTAINMENT = 0.68
DEFINITIONS = {
    "psi68_deg": "68 % containment of the opening angle psi between reconstructed and true axis (deg)",
    "psi_mean_deg": "mean of psi (deg)",
}
QUANTITIES: base.Quantities = {
    "psi68_deg": lambda psi: statistics.containment(psi, CONTAINMENT)[0],
    "psi_mean_deg": lambda psi: psi.mean(),
}
DATASETS = ("energy_true", "zenith", "axis_true", "axis_pred")
# psi68 minus the classical fit's psi68 on the same events (paired: arguments psi, psi_fit)
DIFFERENCES: base.Quantities = {
    "psi68_minus_fit_deg": lambda psi, psi_fit: (
        QUANTITIES["psi68_deg"](psi) - QUANTITIES["psi68_deg"](psi_fit)
    ),
}
FIT_GROUP = "Against the classical fit, event by event"


def opening_angles_deg(axis_pred: np.ndarray, axis_true: np.ndarray) -> np.ndarray:
    """Opening angle (deg) between reconstructed and true axes (unit vectors, (N, 3))."""
    return np.degrees(geometry.opening_angle(np.asarray(axis_pred), np.asarray(axis_true)))


def containment_entry(psi_deg: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> dict:
    """``{"n", "psi68_deg", "psi_mean_deg"}`` entries of one sample of opening angles (deg)."""
    return base.entries((np.asarray(psi_deg, dtype=np.float64),), QUANTITIES, n_bootstrap, rng)


def direction_metrics(
    pred: Mapping[str, np.ndarray],
    settings,
    target_settings: Mapping,
    rng: np.random.Generator,
    *,
    substream=None,
    reference: Mapping[str, np.ndarray] | None = None,
    **_extra,
) -> dict:
    """Direction metrics of one run, JSON-ready.

    Layout::

        {"target": "direction", "n_events", "n_bootstrap", "interval", "definitions",
         "overall": {"n", "psi68_deg": {"value", "lo", "hi"}, "psi_mean_deg": {...}},
         "bins": {"edges_eev", "center_eev", "spacing", "n", "n_outside",
                  "psi68_deg": {"value": [...], "lo": [...], "hi": [...]}, "psi_mean_deg": {...}},
         "zenith_bins": {"edges_deg", "center_deg", "spacing": "linear", "n", "n_outside", ...}}

    The bootstrap draws of ``rng`` go to the overall sample, then the energy bins, then the
    zenith bins, in order. Where the predictions have a width (``axis_sigma``), ``uncertainty``
    (and ``uncertainty_raw``) of :func:`airshower.evaluation.width_metrics.uncertainty_parts`, from
    ``substream(1)``. Given ``reference``, the classical fit's predictions of the same test
    events, ``vs_fit`` (:func:`fit_comparison`, from ``substream(2)``).
    """
    data = base.require(pred, DATASETS, "direction")
    psi = opening_angles_deg(data["axis_pred"], data["axis_true"])
    n_boot = settings.bootstrap
    overall = containment_entry(psi, n_boot, rng)
    e_idx, e_header = base.energy_binning(data["energy_true"], settings)
    bins = base.binned_entries(e_idx, e_header, (psi,), QUANTITIES, n_boot, rng)
    edges = target_settings["zenith_bins_deg"]
    z_idx, z_header = base.binning(np.degrees(data["zenith"]), edges, "linear", "deg")
    zenith_bins = base.binned_entries(z_idx, z_header, (psi,), QUANTITIES, n_boot, rng)
    parts = width_metrics.uncertainty_parts(
        "direction", pred, settings, substream, QUANTITIES["psi68_deg"], "psi68_deg"
    )
    if reference is not None:
        parts = {
            **parts,
            "vs_fit": fit_comparison(psi, data, reference, (e_idx, e_header), n_boot, substream(2)),
        }
    return base.record(
        "direction",
        DEFINITIONS,
        psi.size,
        settings,
        overall=overall,
        bins=bins,
        zenith_bins=zenith_bins,
        **parts,
    )


def fit_comparison(
    psi: np.ndarray,
    data: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    energy_binning: tuple[np.ndarray, Mapping],
    n_bootstrap: int,
    rng: np.random.Generator,
) -> dict:
    """``{"overall": {"n", "psi68_minus_fit_deg"}, "bins": {...}}``: the run's psi68 minus the
    classical fit's (``reference``, the fit's predictions of the same events: ValueError where
    their true axes differ) over all events and per energy bin (``energy_binning``: the bin of
    each event and the bins' header), each with a paired bootstrap interval (the draws of ``rng``:
    overall first, then the bins)."""
    fit = base.require(reference, ("axis_true", "axis_pred"), "direction (the classical fit's)")
    if np.shape(fit["axis_true"]) != np.shape(data["axis_true"]) or not np.array_equal(
        fit["axis_true"], data["axis_true"]
    ):
        raise ValueError("the classical fit's predictions (reference) are not of the same test events")
    psi_fit = opening_angles_deg(fit["axis_pred"], fit["axis_true"])
    columns = (np.asarray(psi, dtype=np.float64), psi_fit)
    e_idx, e_header = energy_binning
    return {
        "overall": base.entries(columns, DIFFERENCES, n_bootstrap, rng),
        "bins": base.binned_entries(e_idx, e_header, columns, DIFFERENCES, n_bootstrap, rng),
    }


def shift_columns(pred: Mapping[str, np.ndarray], _classes=()) -> dict:
    """The per-event opening angle (deg) the shifts resample."""
    d = base.require(pred, ("axis_true", "axis_pred"), "direction")
    return {
        "psi": opening_angles_deg(d["axis_pred"], d["axis_true"]),
        **width_metrics.shift_width("direction", pred),
    }


SPEC = base.TargetEvaluation(
    metrics=direction_metrics,
    stream=(2,),
    headlines=(
        base.Headline("psi68_deg", ("overall", "psi68_deg"), "ψ68 [deg]"),
        base.Headline("psi_mean_deg", ("overall", "psi_mean_deg"), "mean ψ [deg]"),
        base.Headline("psi68_deg", ("bins", "psi68_deg"), "ψ68 [deg]", per_bin=True),
        *width_metrics.headlines("direction", ("psi68_deg", "ψ68, 90 % kept [deg]")),
        base.Headline(
            "psi68_minus_fit_deg",
            ("vs_fit", "overall", "psi68_minus_fit_deg"),
            "ψ68 − fit's [deg]",
            group=FIT_GROUP,
        ),
        base.Headline(
            "psi68_minus_fit_deg",
            ("vs_fit", "bins", "psi68_minus_fit_deg"),
            "ψ68 − fit's [deg]",
            per_bin=True,
            group=FIT_GROUP,
        ),
    ),
    groups={
        width_metrics.UNCERTAINTIES: width_metrics.group_note("direction"),
        FIT_GROUP: "ψ68 − fit's: the network's ψ68 minus the classical plane fit's on the same test events, "
        "overall and per bin of true energy; ± the half-width of its paired bootstrap interval (both "
        "resampled with the same events), or the spread over the seeds. Negative: the network is closer "
        "to the true axes than the fit.",
    },
    front="psi68_deg",
    note="ψ: opening angle between reconstructed and true shower axis; ψ68: the angle that contains "
    "68 % of the events; per energy bin: bins of true energy.",
    shifts=(
        base.Shift(
            "psi68_deg",
            "psi68_shift_deg",
            "ψ68 shift [deg]",
            r"shift of $\psi_{68}$ [deg]",
            lambda s: QUANTITIES["psi68_deg"](s["psi"]),
            value_label=r"$\psi_{68}$ [deg]",
        ),
        width_metrics.coverage_shift("direction", lambda s: s["psi"]),
    ),
    shift_columns=shift_columns,
)

"""Metrics of the reconstructed shower core (the axis' impact point on the ground) of one model
and seed.

Per event the core offset ``(dx, dy) = core_pred - core_true`` (m, ground coordinates) and the
core distance ``r = |core_pred - core_true|`` (m). Quoted are the 68 % containment distance
``r68`` (:func:`airshower.statistics.containment`) and the biases ``mean(dx)``, ``mean(dy)``,
over all events and in bins of true energy, each with its 68.27 % percentile-bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from airshower import statistics
from airshower.evaluation import target_base as base
from airshower.evaluation import width_metrics

CONTAINMENT = 0.68
DEFINITIONS = {
    "r68_m": "68 % containment of the core distance |core_pred - core_true| (m)",
    "bias_x_m": "mean of x_pred - x_true (m)",
    "bias_y_m": "mean of y_pred - y_true (m)",
}
QUANTITIES: base.Quantities = {
    "r68_m": lambda d: statistics.containment(np.hypot(d[:, 0], d[:, 1]), CONTAINMENT)[0],
    "bias_x_m": lambda d: d[:, 0].mean(),
    "bias_y_m": lambda d: d[:, 1].mean(),
}
DATASETS = ("energy_true", "core_true", "core_pred")


def r68_of_distances(distance: np.ndarray) -> float:
    """r68 of the core distances (m)."""
    return statistics.containment(distance, CONTAINMENT)[0]


def core_metrics(
    pred: Mapping[str, np.ndarray],
    settings,
    target_settings: Mapping,  # noqa: ARG001 (the registry's signature; targets.core has no keys)
    rng: np.random.Generator,
    *,
    substream=None,
    **_extra,
) -> dict:
    """Core metrics of one run, JSON-ready.

    Layout::

        {"target": "core", "n_events", "n_bootstrap", "interval", "definitions",
         "overall": {"n", "r68_m": {"value", "lo", "hi"}, "bias_x_m": {...}, "bias_y_m": {...}},
         "bins": {"edges_eev", "center_eev", "spacing", "n", "n_outside",
                  "r68_m": {"value": [...], "lo": [...], "hi": [...]}, ...}}
    """
    data = base.require(pred, DATASETS, "core")
    offset = (data["core_pred"] - data["core_true"]).reshape(-1, 2)
    overall = base.entries((offset,), QUANTITIES, settings.bootstrap, rng)
    idx, header = base.energy_binning(data["energy_true"], settings)
    bins = base.binned_entries(idx, header, (offset,), QUANTITIES, settings.bootstrap, rng)
    widths = width_metrics.uncertainty_parts("core", pred, settings, substream, r68_of_distances, "r68_m")
    return base.record("core", DEFINITIONS, len(offset), settings, overall=overall, bins=bins, **widths)


def shift_columns(pred: Mapping[str, np.ndarray], _classes=()) -> dict:
    """The per-event core offset (m) the shifts resample."""
    d = base.require(pred, ("core_true", "core_pred"), "core")
    return {
        "offset": (d["core_pred"] - d["core_true"]).reshape(-1, 2),
        **width_metrics.shift_width("core", pred),
    }


SPEC = base.TargetEvaluation(
    metrics=core_metrics,
    stream=(3,),
    headlines=(
        base.Headline("r68_m", ("overall", "r68_m"), "r68 [m]"),
        base.Headline("bias_x_m", ("overall", "bias_x_m"), "bias x [m]"),
        base.Headline("bias_y_m", ("overall", "bias_y_m"), "bias y [m]"),
        *width_metrics.headlines("core", ("r68_m", "r68, 90 % kept [m]")),
    ),
    groups={width_metrics.UNCERTAINTIES: width_metrics.group_note("core")},
    front="r68_m",
    note="r68: the distance |core_rec − core_true| that contains 68 % of the events; bias x, y: mean "
    "of the reconstructed minus the true core coordinate.",
    shifts=(
        base.Shift(
            "r68_m",
            "r68_shift_m",
            "r68 shift [m]",
            r"shift of $r_{68}$ [m]",
            lambda s: QUANTITIES["r68_m"](s["offset"]),
            value_label=r"$r_{68}$ [m]",
        ),
        width_metrics.coverage_shift("core", lambda s: np.hypot(s["offset"][:, 0], s["offset"][:, 1])),
    ),
    shift_columns=shift_columns,
)

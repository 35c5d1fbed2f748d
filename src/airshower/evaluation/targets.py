"""The registry of the metrics of the reconstructed targets other than the energy (whose metrics
are :mod:`airshower.evaluation.metrics`): direction (:mod:`.direction`), core (:mod:`.core`),
Xmax (:mod:`.xmax`) and mass (:mod:`.mass`).

Every metric function has the signature
``(pred, settings, target_settings, rng, **extra) -> dict``: ``pred`` the datasets of a
``predictions.h5`` (truths and the target's predictions), ``settings`` the
:class:`~airshower.evaluation.EvaluationSettings` (bootstrap resamples, energy bins),
``target_settings`` the target's section of the ``targets`` config, ``rng`` the bootstrap
stream; ``extra`` holds ``classes`` (the sorted mass numbers, needed by ``mass``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from airshower.evaluation.core import core_metrics
from airshower.evaluation.direction import direction_metrics
from airshower.evaluation.mass import mass_metrics
from airshower.evaluation.xmax import xmax_metrics
from airshower.schema import ConfigError

TARGET_METRICS: dict[str, Callable[..., dict]] = {
    "direction": direction_metrics,
    "core": core_metrics,
    "xmax": xmax_metrics,
    "mass": mass_metrics,
}
# bootstrap sub-stream per target, after (study seed, "bootstrap", crc32(model), seed); the energy
# metrics use no index and their per-event uncertainty 1, so these never meet those draws
TARGET_STREAMS = {"direction": 2, "core": 3, "xmax": 4, "mass": 5}
# the datasets of predictions.h5 that tell a model reconstructs the target
PREDICTED = {"direction": "axis_pred", "core": "core_pred", "xmax": "xmax_pred", "mass": "mass_prob"}


def compute_target_metrics(
    target: str,
    pred: Mapping[str, np.ndarray],
    settings,
    target_settings: Mapping,
    rng: np.random.Generator,
    **extra,
) -> dict:
    """The metrics record of ``target`` (:data:`TARGET_METRICS`); ValueError for an unknown
    target or bad data (the rule script names the file)."""
    if target not in TARGET_METRICS:
        raise ValueError(f"unknown target {target!r}: one of {', '.join(TARGET_METRICS)}")
    return TARGET_METRICS[target](pred, settings, target_settings or {}, rng, **extra)


def _check_zenith_bins(edges, key: str) -> None:
    if not isinstance(edges, list | tuple) or len(edges) < 2:
        raise ConfigError(f"config key '{key}': needs a list of at least two bin edges, got {edges!r}")
    if not all(isinstance(e, int | float) and not isinstance(e, bool) for e in edges):
        raise ConfigError(f"config key '{key}': bin edges must be numbers (deg), got {edges!r}")
    if min(edges) < 0 or max(edges) > 90:
        raise ConfigError(f"config key '{key}': bin edges must lie within 0 to 90 deg, got {list(edges)}")
    if any(b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)):
        raise ConfigError(f"config key '{key}': bin edges must increase strictly, got {list(edges)}")


def check_target_settings(targets_section: Mapping | None) -> None:
    """The checks of the ``targets`` config section the schema cannot make (called from the
    config validation): ``direction.zenith_bins_deg`` at least two strictly increasing edges
    within 0 to 90 deg. Raises :class:`airshower.schema.ConfigError` naming the key."""
    section = targets_section or {}
    unknown = sorted(set(section) - set(TARGET_METRICS))
    if unknown:
        raise ConfigError(
            f"config key 'targets.{unknown[0]}': unknown target (one of {', '.join(TARGET_METRICS)})"
        )
    direction = section.get("direction") or {}
    if "zenith_bins_deg" in direction:
        _check_zenith_bins(direction["zenith_bins_deg"], "targets.direction.zenith_bins_deg")

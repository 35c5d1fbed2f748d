"""The registry of the reconstructed targets' evaluation: one spec per target
(:class:`~airshower.evaluation.target_base.TargetEvaluation`), declared in the target's module,
energy (:mod:`.energy`), direction (:mod:`.direction`), core (:mod:`.core`), Xmax (:mod:`.xmax`),
the relative muon content (:mod:`.muon`) and mass (:mod:`.mass`), and collected here in the order
of :data:`airshower.targets.TARGETS`.

Every metric function has the signature
``(pred, settings, target_settings, rng, *, substream, **extra) -> dict``: ``pred`` the datasets
of a ``predictions.h5`` (truths and the target's predictions), ``settings`` the
:class:`~airshower.evaluation.EvaluationSettings` (bootstrap resamples, energy bins),
``target_settings`` the target's section of the ``targets`` config, ``rng`` the target's
bootstrap stream and ``substream(i)`` further streams of its own; ``extra`` holds ``classes``
(the sorted mass numbers, needed by ``mass``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping

import numpy as np

from airshower import rng as rng_streams
from airshower.evaluation import core, direction, energy, mass, muon, xmax
from airshower.evaluation.target_base import TargetEvaluation
from airshower.schema import ConfigError
from airshower.targets import TARGETS

_MODULES = {"energy": energy, "direction": direction, "core": core, "xmax": xmax, "muon": muon, "mass": mass}
SPECS: dict[str, TargetEvaluation] = {name: _MODULES[name].SPEC for name in TARGETS if name in _MODULES}
TARGET_METRICS: dict[str, Callable[..., dict]] = {name: spec.metrics for name, spec in SPECS.items()}
# bootstrap sub-stream per target, after (study seed, "bootstrap", crc32(model), seed): the energy
# uses none and its per-event width 1, the others 2-6, so they never meet
TARGET_STREAMS = {name: spec.stream for name, spec in SPECS.items()}


def bootstrap_streams(study_seed: int, model: str, seed: int) -> Callable[..., np.random.Generator]:
    """``streams(*index)``: the bootstrap generators of one run (model, seed) of the study,
    sub-stream ``index`` of (study seed, "bootstrap", crc32(model), seed)."""
    run = (int(study_seed), "bootstrap", zlib.crc32(model.encode()), int(seed))
    return lambda *index: rng_streams.generator(*run, *index)


def compute_target_metrics(
    target: str,
    pred: Mapping[str, np.ndarray],
    settings,
    target_settings: Mapping | None,
    streams: Callable[..., np.random.Generator],
    **extra,
) -> dict:
    """The metrics record of ``target`` (:data:`SPECS`), its bootstrap from ``streams`` (the run's
    :func:`bootstrap_streams`) at the target's sub-stream; ValueError for an unknown target or bad
    data (the rule script names the file)."""
    if target not in SPECS:
        raise ValueError(f"unknown target {target!r}: one of {', '.join(SPECS)}")
    stream = SPECS[target].stream
    return SPECS[target].metrics(
        pred,
        settings,
        target_settings or {},
        streams(*stream),
        substream=lambda *index: streams(*stream, *index),
        **extra,
    )


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
    unknown = sorted(set(section) - set(SPECS))
    if unknown:
        raise ConfigError(f"config key 'targets.{unknown[0]}': unknown target (one of {', '.join(SPECS)})")
    direction_section = section.get("direction") or {}
    if "zenith_bins_deg" in direction_section:
        _check_zenith_bins(direction_section["zenith_bins_deg"], "targets.direction.zenith_bins_deg")

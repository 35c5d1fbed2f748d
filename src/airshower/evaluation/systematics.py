"""The systematic shifts of every reconstructed target: how a model's headline metrics move from
the nominal test set to a systematic variant's (:mod:`airshower.systematics`), same model, same
training seed.

Each target has its shifts (:data:`SHIFTS`, declared in the target's module), each the
:func:`airshower.systematics.bootstrap_shift` of one statistic of the per-event columns of a
``predictions.h5`` (:func:`columns`), with the percentile-bootstrap interval of independent
resamples of the two test sets:

- energy: the relative bias ``mean(dE / E)`` as a difference (x 100: percentage points) and the
  relative resolution ``spread(dE / E)`` as a relative change ``res_v / res_n - 1`` (x 100: %);
- direction: the 68 % containment angle psi68 of the opening angle (deg), a difference;
- core: the 68 % containment distance r68 of the core (m), a difference;
- xmax: the bias ``mean(X_rec - X_true)`` and the resolution ``spread(X_rec - X_true)``
  (g/cm^2), differences;
- mass: the ROC area of the lightest against the heaviest class (score ``p_heavy / (p_light +
  p_heavy)``), a difference.

The statistics are those of the metrics (:mod:`airshower.statistics`, :mod:`.direction`,
:mod:`.core`, :mod:`.xmax`, :mod:`.mass`), not redefined here. Seeds are combined as the
targets' metrics are (:func:`airshower.evaluation.aggregate.combine_entries`: mean over
seeds, their spread, the bootstrap half-width, the combined interval).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from airshower import rng as rng_streams
from airshower import statistics
from airshower import systematics as variants
from airshower.evaluation import target_base as base
from airshower.evaluation.aggregate import combine_entries
from airshower.evaluation.targets import SPECS
from airshower.targets import TARGETS

# the bootstrap sub-stream of the shifts, after (study seed, "bootstrap", crc32(model), seed):
# the metrics use none (energy), 1 (uncertainty) and 2-5 (targets), so these never meet them
SHIFT_STREAM = 6

Sample = base.Sample


Shift = base.Shift
# every target's shifts, declared in the target's module (its spec's ``shifts``)
SHIFTS: dict[str, tuple[Shift, ...]] = {name: spec.shifts for name, spec in SPECS.items()}


def columns(target: str, pred: Mapping[str, np.ndarray], classes: Sequence[float] = ()) -> dict:
    """The per-event columns of a ``predictions.h5`` (as read) that the shifts of ``target``
    resample (the spec's ``shift_columns``); ValueError naming a missing or bad dataset."""
    if target not in SPECS:
        raise ValueError(f"unknown target {target!r}: one of {', '.join(SHIFTS)}")
    return SPECS[target].shift_columns(pred, classes)


def shift_stream(study_seed: int, model: str, seed: int, variant: str, target: str) -> np.random.Generator:
    """The bootstrap generator of the shifts of ``target`` of one run and variant."""
    return rng_streams.generator(
        study_seed,
        "bootstrap",
        zlib.crc32(model.encode()),
        seed,
        SHIFT_STREAM,
        zlib.crc32(variant.encode()),
        list(TARGETS).index(target),
    )


def _entry(result: Mapping) -> dict:
    """A :func:`~airshower.systematics.bootstrap_shift` result as a metrics entry (``value``,
    ``lo``, ``hi``; None where not finite) with the two statistics it compares."""
    lo, hi = result["interval"]
    return {
        "value": base.finite(result["shift"]),
        "lo": base.finite(lo),
        "hi": base.finite(hi),
        "nominal": base.finite(result["nominal"]),
        "variant": base.finite(result["variant"]),
        "relative": bool(result["relative"]),
    }


def target_shifts(
    target: str,
    nominal: Mapping[str, np.ndarray],
    variant: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    n_bootstrap: int,
    classes: Sequence[float] = (),
) -> dict[str, dict]:
    """``{shift name: entry}`` of every shift of ``target`` (:data:`SHIFTS`), between the nominal
    and the variant predictions; ValueError naming which of the two is bad."""
    samples = {}
    for which, pred in (("nominal", nominal), ("variant", variant)):
        try:
            samples[which] = columns(target, pred, classes)
        except ValueError as exc:
            raise ValueError(f"{which} predictions, {target}: {exc}") from None
    out = {}
    for shift in SHIFTS[target]:
        result = variants.bootstrap_shift(
            samples["nominal"], samples["variant"], shift.statistic, rng, n_bootstrap, relative=shift.relative
        )
        out[shift.name] = _entry(result)
    return out


def compute_shifts(
    nominal: Mapping[str, np.ndarray],
    variant: Mapping[str, np.ndarray],
    targets: Sequence[str],
    n_bootstrap: int,
    streams: Callable[[str], np.random.Generator],
    classes: Sequence[float] = (),
) -> dict:
    """The shifts record of one run (model, seed) and variant, JSON-ready::

        {"n_nominal", "n_variant", "n_bootstrap", "interval", "definitions",
         "targets": {target: {shift: {"value", "lo", "hi", "nominal", "variant", "relative"}}}}

    ``streams(target)`` gives each target's bootstrap generator (:func:`shift_stream`).
    """
    unknown = [t for t in targets if t not in SHIFTS]
    if unknown:
        raise ValueError(f"unknown target {unknown[0]!r}: one of {', '.join(SHIFTS)}")
    return {
        "n_nominal": len(nominal["energy_true"]),
        "n_variant": len(variant["energy_true"]),
        "n_bootstrap": int(n_bootstrap),
        "interval": statistics.INTERVAL,
        "definitions": definitions(targets),
        "targets": {t: target_shifts(t, nominal, variant, streams(t), n_bootstrap, classes) for t in targets},
    }


def definitions(targets: Sequence[str]) -> dict[str, str]:
    """What each shift of ``targets`` is, keyed ``target.shift``."""
    return {
        f"{t}.{s.name}": ("variant / nominal - 1" if s.relative else "variant - nominal") + f" of {s.label}"
        for t in targets
        for s in SHIFTS[t]
    }


def aggregate_shifts(records: Sequence[Mapping]) -> dict:
    """The shifts records of the seeds of one model and variant combined: per target and shift
    :func:`~airshower.evaluation.aggregate.combine_entries` of the shifts (``mean``,
    ``std``, ``stat``, ``lo``, ``hi``, ``values``) plus ``nominal`` and ``variant``, the means
    over seeds of the two statistics; ``seeds``, ``n_seeds``."""
    if not records:
        raise ValueError("no shifts to aggregate")
    targets = list(records[0]["targets"])
    for rec in records[1:]:
        if list(rec["targets"]) != targets:
            raise ValueError(f"the seeds have different targets: {targets} and {list(rec['targets'])}")
    out: dict = {"seeds": [rec.get("seed") for rec in records], "n_seeds": len(records), "targets": {}}
    for t in targets:
        out["targets"][t] = {}
        for name in records[0]["targets"][t]:
            entries = [rec["targets"][t][name] for rec in records]
            combined = combine_entries([{k: e[k] for k in ("value", "lo", "hi")} for e in entries])
            for key in ("nominal", "variant"):
                have = [e[key] for e in entries if e[key] is not None]
                combined[key] = float(np.mean(have)) if have else None
            out["targets"][t][name] = combined
    return out

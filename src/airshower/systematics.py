"""Systematic test variants: the nominal test set simulated with another detector or hadronic model.

A variant (config section ``systematics.variants.NAME``, listed in ``systematics.run`` to be
simulated and evaluated) is the nominal ``simulation`` section with

- ``simulation``: overrides, merged key by key into the nominal section (e.g.
  ``{interaction_model: Sibyll2.1}``; ``n_events`` and ``n_shards`` are not overridable: a variant
  has the size of the nominal test split, :func:`test_size`, and is one job);
- ``factors``: dotted keys of numeric simulation settings multiplied after the overrides (e.g.
  ``{timing.jitter_ns: 2.0}``: twice the nominal jitter, whatever the nominal is);
- the detector applied to the simulated data (:func:`apply_detector`):
  ``signal_scale`` multiplies every stored signal (the VEM calibration off by this factor: the
  trigger, which acts on the particles, is unchanged) and ``dead_fraction`` switches off
  ``round(dead_fraction x n_stations)`` stations per event, drawn at random without replacement
  among all stations (triggered or not); a dead station records nothing (``time`` and ``signal``
  NaN, traces 0, as a silent one) and is marked dead in the file's ``working`` stations, as an
  array's monitoring knows it.

Random streams: a variant has its own streams, sub-streams of the study's ``simulation`` stream
keyed by the variant's name (:func:`variant_seed` for its blocks, :func:`detector_generator`
for its dead stations), so adding or renaming one variant changes no other file.

Shift metrics (:func:`bootstrap_shift`, :func:`energy_shift`): a statistic of the variant's
sample against the nominal one, as a difference (bias) or a relative change (resolution), with a
percentile-bootstrap interval from independent resamples of both samples; the shifts of every
target's headline metrics, their seed combination, table and bars: :mod:`airshower.evaluation.systematics`
and :mod:`airshower.evaluation.systematics_tables`. The workflow's helpers (:func:`variant_section`,
:func:`study_outputs`) serve ``workflow/rules/systematics.smk``.
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from airshower import contract, io, preparation, schema, showerfile, simulation, statistics, study
from airshower import rng as rng_streams

# the first index of every variant sub-stream of the "simulation" stream (whose blocks have
# the spawn key (simulation, block): a key of another length never meets them)
_VARIANT_KEY = 0x5A5
_PURPOSES = {"simulation": 0, "detector": 1}
NOT_OVERRIDABLE = ("n_events", "n_shards")


@dataclass(frozen=True)
class VariantSettings:
    """One variant, ``systematics.variants.NAME`` (defaults in the schema)."""

    simulation: Mapping  # overrides of the simulation section, merged key by key
    factors: Mapping[str, float]  # dotted simulation key -> factor, applied after the overrides
    dead_fraction: float  # fraction of the stations switched off per event
    signal_scale: float  # factor on every stored signal

    @property
    def has_detector(self) -> bool:
        return self.dead_fraction > 0 or self.signal_scale != 1.0

    @property
    def dead_only(self) -> bool:
        """Only stations switched off: a point of the robustness curve (the evaluation's
        ``variant_kind`` "dead")."""
        plain = not self.simulation and not self.factors and self.signal_scale == 1.0
        return plain and self.dead_fraction > 0


@dataclass(frozen=True)
class SystematicsSettings(schema.Settings):
    """``systematics``: the variant definitions and the names the study runs."""

    SECTION: ClassVar[str] = "systematics"

    variants: Mapping[str, Mapping]
    run: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = [name for name in self.run if name not in self.variants]
        if unknown:
            raise schema.ConfigError(
                f"config key 'systematics.run': variant {unknown[0]!r} is not defined in "
                f"systematics.variants (defined: {', '.join(self.variants)})"
            )
        keys = {}
        for name in self.variants:
            other = keys.setdefault(_name_key(name), name)
            if other != name:
                raise schema.ConfigError(
                    f"config key 'systematics.variants': {other!r} and {name!r} share a random stream "
                    "(crc32 of the name): rename one"
                )

    def variant(self, name: str) -> VariantSettings:
        """The settings of variant ``name`` (its section is complete after validation)."""
        if name not in self.variants:
            raise schema.ConfigError(f"variant {name!r} is not defined in systematics.variants")
        return variant_settings(self.variants[name], name)


def variant_settings(section: Mapping, name: str) -> VariantSettings:
    """:class:`VariantSettings` of a complete variant section (schema defaults filled)."""
    return schema.build_settings(VariantSettings, dict(section), f"systematics.variants.{name}")


def run_variants(cfg: Mapping) -> list[str]:
    """The variants a validated study config simulates and evaluates, in config order."""
    return list(cfg["systematics"]["run"])


def variant_section(cfg: Mapping, name: str) -> Mapping:
    """The section of variant ``name`` of a validated config (ConfigError naming the defined ones)."""
    variants = cfg["systematics"]["variants"]
    if name not in variants:
        raise schema.ConfigError(
            f"variant {name!r} is not defined in systematics.variants (defined: {', '.join(variants)})"
        )
    return variants[name]


def study_outputs(cfg: Mapping, figures: str = "results/figures") -> list[str]:
    """The systematics table (CSV, Markdown, JSON) and one figure per study target, and where
    some variant only switches stations off, one robustness figure per study target (its
    statistics against the fraction of dead stations); none while ``systematics.run`` is empty."""
    if not run_variants(cfg):
        return []
    tables = [f"results/systematics.{ext}" for ext in ("csv", "md", "json")]
    targets = study.study_targets(dict(cfg))
    out = tables + [f"{figures}/systematics/{t}.png" for t in targets]
    if any(variant_settings(variant_section(cfg, v), v).dead_only for v in run_variants(cfg)):
        out += [f"{figures}/robustness/{t}.png" for t in targets]
    return out


def check_config(cfg: Mapping) -> None:
    """What the schema cannot check of ``systematics`` in a validated config: names in ``run``
    defined, every variant's simulation section valid. Raises ConfigError naming the key."""
    settings = SystematicsSettings.from_config(cfg["systematics"])
    for name in settings.variants:
        simulation_settings(cfg["simulation"], settings.variant(name), name, 1)
    if cfg.get("showers", {}).get("file"):
        for name in settings.run:
            variant = settings.variant(name)
            if variant.simulation or variant.factors:
                changed = {**variant.simulation, **{k: f"x{v:g}" for k, v in variant.factors.items()}}
                raise schema.ConfigError(
                    f"config key 'systematics.run': variant {name!r} changes the simulation ({changed}), "
                    f"but the showers come from showers.file: only the detector's variants (dead_fraction, "
                    "signal_scale) apply to showers made elsewhere; another hadronic model, composition or "
                    "timing needs the showers simulated again"
                )


# ---------------------------------------------------------------------------------------------
# the variant's simulation settings, size and streams


def test_size(n_events: int, fractions: Mapping[str, float]) -> int:
    """Events of a variant: the size of the nominal test split."""
    return preparation.split_sizes(n_events, fractions)["test"]


def _merge(base: dict, override: Mapping) -> dict:
    """``override`` merged into a deep copy of ``base``: mappings key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _apply_factor(section: dict, dotted: str, factor: float, name: str) -> None:
    *parents, leaf = dotted.split(".")
    node = section
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    value = node.get(leaf) if isinstance(node, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise schema.ConfigError(
            f"config key 'systematics.variants.{name}.factors': {dotted!r} is not a numeric key of the "
            "simulation section"
        )
    node[leaf] = float(value) * float(factor)


def simulation_section(nominal: Mapping, variant: VariantSettings, name: str, n_events: int) -> dict:
    """The variant's ``simulation`` section: the nominal (validated, complete) section with the
    overrides merged in, the factors applied, ``n_events`` events in one shard."""
    fixed = [key for key in NOT_OVERRIDABLE if key in variant.simulation]
    if fixed:
        raise schema.ConfigError(
            f"config key 'systematics.variants.{name}.simulation.{fixed[0]}': a variant has the size of "
            "the nominal test split and is one job"
        )
    section = _merge(dict(nominal), variant.simulation)
    for dotted, factor in variant.factors.items():
        _apply_factor(section, dotted, factor, name)
    section["n_events"] = int(n_events)
    section["n_shards"] = 1
    return section


def simulation_settings(nominal: Mapping, variant: VariantSettings, name: str, n_events: int):
    """:class:`~airshower.simulation.SimulationSettings` of the variant (ConfigError naming the
    variant where its overrides make an invalid simulation section)."""
    section = simulation_section(nominal, variant, name, n_events)
    try:
        return simulation.SimulationSettings.from_config(section)
    except schema.ConfigError as exc:
        raise schema.ConfigError(f"variant {name!r} (systematics.variants.{name}): {exc}") from None


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode())


def variant_seed(seed: int, name: str) -> int:
    """The seed (63 bits) of the variant's simulation blocks: ``rng.generator(variant_seed,
    "simulation", block)`` is independent of the nominal blocks and of every other variant."""
    ss = rng_streams.seed_sequence(seed, "simulation", _VARIANT_KEY, _name_key(name), _PURPOSES["simulation"])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def detector_generator(seed: int, name: str) -> np.random.Generator:
    """The generator of the variant's dead stations."""
    ss = rng_streams.seed_sequence(seed, "simulation", _VARIANT_KEY, _name_key(name), _PURPOSES["detector"])
    return np.random.Generator(np.random.PCG64(ss))


# ---------------------------------------------------------------------------------------------
# the detector: dead stations and the signal scale


def dead_stations(n_events: int, n_stations: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """(n_events, n_stations) bool: ``round(fraction n_stations)`` stations per event, drawn
    uniformly without replacement."""
    k = int(round(fraction * n_stations))
    dead = np.zeros((n_events, n_stations), dtype=bool)
    if k:
        chosen = np.argsort(rng.random((n_events, n_stations)), axis=1)[:, :k]
        np.put_along_axis(dead, chosen, True, axis=1)
    return dead


def apply_detector(data: dict, variant: VariantSettings, rng: np.random.Generator) -> np.ndarray:
    """Apply the variant's detector to simulated ``data`` in place (the signal scale, then the
    dead stations: ``time`` and ``signal`` NaN, traces 0, and marked dead in ``working``, which
    a variant with dead stations writes); return the dead mask (N, side, side)."""
    signal = data["signal"]
    n = len(signal)
    if variant.signal_scale != 1.0:
        data["signal"] = (signal * variant.signal_scale).astype(signal.dtype)
        for key in contract.TRACE_DATASETS:
            if key in data:
                data[key] = (data[key] * variant.signal_scale).astype(data[key].dtype)
    dead = dead_stations(n, signal[0].size, variant.dead_fraction, rng).reshape(signal.shape)
    for key in ("time", "signal"):
        data[key][dead] = np.nan
    for key in contract.TRACE_DATASETS:
        if key in data:
            data[key][dead] = 0.0
    if variant.dead_fraction > 0:  # the array knows its dead stations (monitoring, event by event)
        working = data.get(contract.WORKING_DATASET)  # stations dead already stay dead
        alive = ~dead if working is None else (working > 0) & ~dead
        data[contract.WORKING_DATASET] = alive.astype(np.uint8)
    return dead


def detector_variant(
    showers: Mapping[str, np.ndarray] | showerfile.ShowerBlocks,
    index: np.ndarray,
    variant: VariantSettings,
    name: str,
    seed: int,
) -> dict[str, np.ndarray]:
    """Variant ``name`` of showers made elsewhere (``showers.file``): the nominal test split's
    events (rows ``index`` of the study's showers, in memory or block by block) with the variant's
    detector applied (:func:`apply_detector`, its own stream :func:`detector_generator`): the same
    showers seen by another detector, so its shifts are the detector's alone."""
    data = showerfile.take_events(showers, index)
    apply_detector(data, variant, detector_generator(seed, name))
    return data


def simulate_variant(
    nominal: Mapping, variant: VariantSettings, name: str, seed: int, n_events: int
) -> tuple[dict[str, np.ndarray], dict]:
    """Simulate variant ``name`` of the nominal ``simulation`` section: ``n_events`` showers from
    the variant's streams, its detector applied. Returns the raw-shower datasets (the contract of
    ``showers.h5``) and the variant's simulation section (the file's provenance)."""
    section = simulation_section(nominal, variant, name, n_events)
    settings = simulation_settings(nominal, variant, name, n_events)
    data = simulation.simulate_events(settings, variant_seed(seed, name), range(settings.n_blocks))
    apply_detector(data, variant, detector_generator(seed, name))
    return data, section


def variant_attrs(name: str, section: Mapping, variant_section: Mapping, seed: int) -> dict:
    """File attributes of a variant's ``showers.h5``: the provenance of its simulation section
    (what :func:`airshower.contract.shower_limits` reads) plus the variant's name and section."""
    attrs = io.provenance(section, seed)
    attrs.update(variant=name, variant_config=json.dumps(dict(variant_section), sort_keys=True))
    attrs["variant_seed"] = str(variant_seed(seed, name))
    return attrs


def file_variant_attrs(file_attrs: Mapping, name: str, variant_section: Mapping) -> dict:
    """File attributes of a variant of showers made elsewhere (:func:`detector_variant`): the
    imported file's (its provenance, what :func:`airshower.contract.shower_limits` reads) plus the
    variant's name and section."""
    return {
        **file_attrs,
        "variant": name,
        "variant_config": json.dumps(dict(variant_section), sort_keys=True),
    }


def prepare_variant(
    showers: Mapping[str, np.ndarray], norm: Mapping, log10_range: Sequence[float] | None = None
) -> dict[str, np.ndarray]:
    """A variant's ``test.h5``: the layout of the nominal test split (``x`` with the channels of
    the nominal normalization ``norm``, never refitted; ``index`` the rows of the variant's
    ``showers.h5``: those in the evaluated energy range ``log10_range``, as the nominal test
    split's, :func:`airshower.preparation.evaluated`; the labels). ``showers`` carry
    ``front_axis`` (:func:`airshower.baseline.with_reference_front`) and, with dead stations,
    ``working``."""
    index = np.flatnonzero(preparation.evaluated(showers["energy"], log10_range)).astype(np.int64)
    out = {"x": preparation.split_inputs(showers, index, norm), "index": index}
    out.update({label: showers[label][index] for label in preparation.labels_of(showers)})
    return out


# ---------------------------------------------------------------------------------------------
# shift metrics

Sample = np.ndarray | Mapping[str, np.ndarray]


def _length(sample: Sample) -> int:
    if isinstance(sample, Mapping):
        lengths = {len(v) for v in sample.values()}
        if len(lengths) != 1:
            raise ValueError(f"the arrays of a sample differ in length: {sorted(lengths)}")
        return lengths.pop()
    return len(sample)


def _take(sample: Sample, idx: np.ndarray) -> Sample:
    if isinstance(sample, Mapping):
        return {k: np.asarray(v)[idx] for k, v in sample.items()}
    return np.asarray(sample)[idx]


def _compare(variant: float, nominal: float, relative: bool) -> float:
    """``variant - nominal`` or ``variant / nominal - 1`` (NaN or infinite for a nominal 0)."""
    if not relative:
        return variant - nominal
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(variant) / np.float64(nominal) - 1.0)


def bootstrap_shift(
    nominal: Sample,
    variant: Sample,
    statistic: Callable[[Sample], float],
    rng: np.random.Generator,
    n_bootstrap: int,
    relative: bool = False,
) -> dict:
    """The shift of ``statistic`` from the nominal sample to the variant's.

    A sample is an array (events along the first axis) or a mapping of such arrays (rows
    resampled together, e.g. ``energy_true`` and ``energy_pred``); ``statistic`` maps a sample
    to a number. The shift is ``s_variant - s_nominal`` or, ``relative``, ``s_variant /
    s_nominal - 1``; its interval is the central 68.27 % of ``n_bootstrap`` replicas, each from
    independent resamples (with replacement, same sizes) of both samples; replicas that are not
    finite (a relative shift of a resampled nominal 0) are left out.

    Returns ``{"nominal", "variant", "shift", "interval": [low, high], "relative"}``.
    """
    s_nom, s_var = float(statistic(nominal)), float(statistic(variant))
    n_nom, n_var = _length(nominal), _length(variant)
    replicas = np.empty(int(n_bootstrap))
    for b in range(len(replicas)):
        r_nom = statistic(_take(nominal, rng.integers(0, n_nom, n_nom)))
        r_var = statistic(_take(variant, rng.integers(0, n_var, n_var)))
        replicas[b] = _compare(float(r_var), float(r_nom), relative)
    finite = replicas[np.isfinite(replicas)]
    low, high = statistics.percentile_interval(finite) if finite.size else (float("nan"),) * 2
    return {
        "nominal": s_nom,
        "variant": s_var,
        "shift": _compare(s_var, s_nom, relative),
        "interval": [low, high],
        "relative": bool(relative),
    }


def relative_bias(sample: Mapping[str, np.ndarray]) -> float:
    """``mean((E_rec - E_true) / E_true)`` of a sample with ``energy_true`` and ``energy_pred``."""
    r = np.asarray(sample["energy_pred"], np.float64) / np.asarray(sample["energy_true"], np.float64) - 1.0
    return float(r.mean())


def relative_resolution(sample: Mapping[str, np.ndarray]) -> float:
    """``std((E_rec - E_true) / E_true)`` (ddof=1, :func:`airshower.statistics.spread`)."""
    r = np.asarray(sample["energy_pred"], np.float64) / np.asarray(sample["energy_true"], np.float64) - 1.0
    return float(statistics.spread(r))


ENERGY_SHIFTS: dict[str, tuple[Callable, bool]] = {
    # name -> (statistic, relative): the bias shift in absolute terms (percentage points when
    # multiplied by 100), the resolution as a relative change of its nominal value
    "relative_bias": (relative_bias, False),
    "relative_resolution": (relative_resolution, True),
}


def energy_shift(
    nominal: Mapping[str, np.ndarray],
    variant: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    n_bootstrap: int,
    names: Iterable[str] = tuple(ENERGY_SHIFTS),
) -> dict[str, dict]:
    """The energy shifts of a variant (``predictions.h5`` contents: ``energy_true`` and
    ``energy_pred`` in EeV) against the nominal test set: for each of :data:`ENERGY_SHIFTS`
    the :func:`bootstrap_shift` (``relative_bias``: ``bias_v - bias_n``;
    ``relative_resolution``: ``res_v / res_n - 1``)."""
    keys = ("energy_true", "energy_pred")
    nom = {k: np.asarray(nominal[k], np.float64) for k in keys}
    var = {k: np.asarray(variant[k], np.float64) for k in keys}
    out = {}
    for name in names:
        statistic, relative = ENERGY_SHIFTS[name]
        out[name] = bootstrap_shift(nom, var, statistic, rng, n_bootstrap, relative=relative)
    return out


def calibration_bias_shift(signal_scale: float, exponent: float) -> float:
    """The relative energy shift of a calibration ``E = A S^B`` when every signal is scaled:
    ``signal_scale^B - 1`` (e.g. 1.05^B - 1 for the ``scale+5`` variant)."""
    return float(signal_scale) ** float(exponent) - 1.0

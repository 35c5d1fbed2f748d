"""Study configuration: schema validation, defaults and the checks a schema cannot express.

The JSON schema in ``workflow/schemas/config.schema.yaml`` is the single source of truth for
keys, types and defaults. :func:`validate_config` applies it (filling defaults in place) and
then checks cross-key constraints such as split fractions summing to one. Every error names
the offending key as a dotted path, e.g. ``preparation.fractions``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
BASELINE = "baseline"  # the classical reconstruction; enters the comparison like a model
# "{model}_ensemble": the seeds of a network combined (airshower.ensemble), compared like a model;
# reserved in the schema's model names (models.propertyNames)
ENSEMBLE_SUFFIX = "_ensemble"

# Keys that moved: a config that still has one stops with this message (where the key lives now)
# instead of the schema's bare "unknown key".
_PER_MODEL = "in `training:` for every model or in `models.NAME.training:` for one"
MOVED_KEYS = {
    "preparation.mask_channel": (
        "the input channels are chosen per model now: remove it and list the channels in "
        f"training.inputs, e.g. `inputs: [time, signal, mask]` for the mask channel ({_PER_MODEL}; "
        "default [time, signal])"
    ),
    "preparation.target_transform": (
        "the target transform is chosen per model now: remove it and set training.target_transform "
        f"(linear or log10; {_PER_MODEL}; default linear)"
    ),
}


class ConfigError(ValueError):
    """A configuration value is missing, unknown or impossible."""


@functools.cache
def _schema() -> dict:
    if not SCHEMA_PATH.is_file():
        raise ConfigError(
            f"config schema {SCHEMA_PATH} not found: the library is used from a checkout of the "
            "workflow (pip install --editable .), not from a copy without workflow/"
        )
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def load_schema() -> dict:
    """The config schema (a fresh copy: validation writes defaults into what it is given)."""
    return copy.deepcopy(_schema())


def load_config(path: str | Path) -> dict:
    """Read a YAML config file and validate it (defaults filled in)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    with open(path) as fh:
        config = yaml.safe_load(fh)
    if not isinstance(config, dict):
        raise ConfigError(f"config file {path} does not hold a mapping of keys")
    return validate_config(config)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _defaulting_validator(schema: dict):
    """A Draft 2020-12 validator that also writes schema defaults into the instance."""
    import jsonschema

    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    cls = jsonschema.validators.extend(base, {"properties": set_defaults})
    return cls(schema)


def validate_config(config: dict) -> dict:
    """Validate ``config`` against the schema, fill defaults in place and return it.

    Raises
    ------
    ConfigError
        naming the first offending key (dotted path) and what is wrong with it.
    """
    for parent in dict.fromkeys(key.rsplit(".", 1)[0] for key in MOVED_KEYS):
        _check_moved_keys(functools.reduce(_child, parent.split("."), config), parent)
    validator = _defaulting_validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        err = errors[0]
        key = _key(err.path)
        if err.validator == "additionalProperties":
            raise ConfigError(f"config key '{key}': {err.message} (unknown key; see config/README.md)")
        if "propertyNames" in err.schema_path:
            raise ConfigError(f"config key '{key}': {_bad_model_name(err.instance)}")
        raise ConfigError(f"config key '{key}': {err.message}")
    _check_semantics(config)
    _sort_keys(config)
    return config


def _child(node, key: str):
    return node.get(key) if isinstance(node, Mapping) else None


def _check_moved_keys(section, path: str) -> None:
    """Raise ConfigError for a key of :data:`MOVED_KEYS` in the config ``section`` at dotted
    ``path``, saying where the key lives now."""
    for key in section if isinstance(section, Mapping) else ():
        if (old := f"{path}.{key}") in MOVED_KEYS:
            raise ConfigError(f"config key '{old}' has moved: {MOVED_KEYS[old]} (see config/README.md)")


def model_name_rule() -> str:
    """What a model name may be, in words, from the schema's ``models.propertyNames``."""
    rule = _schema()["properties"]["models"]["propertyNames"]
    pattern = rule["pattern"]
    longest = re.search(r"\{0,(\d+)\}\$$", pattern)
    length = f", {int(longest[1]) + 1} characters at most" if longest else ""
    taken = [r["const"] for r in rule["not"]["anyOf"] if "const" in r]
    suffixes = [r["pattern"].rstrip("$") for r in rule["not"]["anyOf"] if "pattern" in r]
    return (
        f"a letter, then letters, digits or underscores{length} (pattern {pattern}), not "
        f"{' or '.join(repr(t) for t in taken)} (the classical reconstruction) and not ending in "
        f"{' or '.join(repr(s) for s in suffixes)} (a network's seeds combined, evaluation.ensembles); "
        "the name is part of file paths"
    )


def _bad_model_name(name) -> str:
    if name == BASELINE:
        return (
            f"model name '{BASELINE}' is taken by the classical reconstruction (section baseline): "
            "give the network another name"
        )
    if isinstance(name, str) and name.endswith(ENSEMBLE_SUFFIX):
        return (
            f"model name {name!r} ends in '{ENSEMBLE_SUFFIX}', the name of a network's seeds combined "
            f"('{name}' would be the ensemble of a network '{name.removesuffix(ENSEMBLE_SUFFIX)}', "
            "see evaluation.ensembles): give the network another name"
        )
    return f"model name {name!r} is not allowed: a model name is {model_name_rule()}"


def _sort_keys(obj, path: str = "") -> None:
    """Put every mapping's keys in sorted order, in place (recursing into lists).

    Rules receive config sections as params, and Snakemake reruns a job whose params compare
    differently, dict order included: writing the same settings in another order in the YAML
    file must not rerun the study. The order of the models is kept: it is the order of the
    comparison (table rows, plot colours).
    """
    if isinstance(obj, dict):
        keys = list(obj) if path == "models" else sorted(obj)
        items = [(k, obj.pop(k)) for k in keys]
        for key, value in items:
            _sort_keys(value, f"{path}.{key}" if path else str(key))
            obj[key] = value
    elif isinstance(obj, list):
        for item in obj:
            _sort_keys(item, path)


def _check_semantics(config: dict) -> None:
    _check_simulation(config["simulation"])
    _check_split(config["preparation"]["fractions"], config["simulation"]["n_events"])
    bins = config["evaluation"]["energy_bins_eev"]
    if not bins["min"] < bins["max"]:
        raise ConfigError("config key 'evaluation.energy_bins_eev': min must be below max")
    from airshower import systematics
    from airshower.evaluation.targets import check_target_settings
    from airshower.training.fit import check_output_loss

    check_target_settings(config["targets"])
    systematics.check_config(config)
    from airshower.training.settings import TrainingSettings

    for name, spec in config["models"].items():
        try:
            settings = TrainingSettings.from_config(training_settings(config, name))
            check_output_loss(spec["output"], settings.loss, name)
            _check_targets(config, name, spec, settings.loss_weights)
        except ConfigError as exc:
            raise ConfigError(f"model '{name}': {exc}") from None
        spatial_sizes(spec, config["simulation"]["array"]["n_side"], name)


def _check_targets(config: dict, name: str, spec: Mapping, loss_weights: Mapping) -> None:
    """A model's ``targets`` against its output, its loss weights and the simulated composition."""
    targets = spec["targets"]
    if spec["output"] == "gaussian" and "energy" not in targets:
        raise ConfigError(
            f"config key 'models.{name}.output': gaussian predicts a width of the energy, but the "
            f"model's targets {targets} have no energy: add energy or use output: point"
        )
    unknown = sorted(set(loss_weights) - set(targets))
    if unknown:
        raise ConfigError(
            f"config key 'models.{name}.training.loss_weights': {unknown} are not targets of the "
            f"model ({targets})"
        )
    if "mass" in targets and len(mass_classes(config)) < 2:
        raise ConfigError(
            f"config key 'models.{name}.targets': mass is a classification over the composition's "
            f"mass numbers, but simulation.composition.mass_numbers has {mass_classes(config)}: "
            "simulate two or more masses (e.g. config/composition.yaml) or drop the mass target"
        )


def _check_simulation(sim: dict) -> None:
    """What the schema cannot check (energy range, composition, layers, shards), checked where
    the settings are built, so the two can never disagree."""
    from airshower.simulation import SimulationSettings

    SimulationSettings.from_config(sim)


def _check_split(fr: dict, n_events: int) -> None:
    total = fr["train"] + fr["val"] + fr["test"]
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ConfigError(
            f"config key 'preparation.fractions': train + val + test must be 1, got {total:.6g}"
        )
    from airshower.preparation import split_sizes

    try:
        split_sizes(n_events, fr)
    except ValueError as exc:
        raise ConfigError(f"config key 'preparation.fractions': {exc}") from None


# ---------------------------------------------------------------------------------------------
# the size of the feature maps through a network, by arithmetic (no Keras at DAG-parse time)


def _map_side(side: int, window: int, padding: str, strides: int = 1) -> int:
    """Side of the output map of a convolution or pooling (Keras' arithmetic); 0 where a
    ``valid`` window does not fit."""
    if padding == "same":
        return -(-side // strides)
    return (side - window) // strides + 1 if side >= window else 0


def _too_small(name: str, i: int, j: int, block: Mapping, side: int, trail: list[int]) -> ConfigError:
    k, n_conv = block["kernel_size"], len(block["filters"])
    which = f" {j + 1} of {n_conv}" if n_conv > 1 else ""
    path = " -> ".join(f"{s}x{s}" for s in trail)
    return ConfigError(
        f"model '{name}': block {i + 1} ({k}x{k} 'valid' convolution{which}) needs at least {k}x{k} "
        f"stations, gets {side}x{side} (map sizes {path}) (config key models.{name}.blocks[{i}]); "
        "use padding: same, a smaller kernel_size, less pooling or fewer blocks"
    )


def _cnn_sides(spec: Mapping, side: int, name: str) -> list[int]:
    sides, trail = [], [side]
    for i, block in enumerate(spec["blocks"]):
        for j in range(len(block["filters"])):
            out = _map_side(side, block["kernel_size"], block["padding"])
            if out < 1:
                raise _too_small(name, i, j, block, side, trail)
            side = out
            trail.append(side)
        if block["pool"] != "none":  # models._pool: padding "same", strides = pool_size
            side = _map_side(side, block["pool_size"], "same", block["pool_size"])
            trail.append(side)
        sides.append(side)
    return sides


def spatial_sizes(spec: Mapping, side: int, name: str = "model") -> list[int]:
    """Side of the square feature map after each block of a network, for an ``side x side`` input.

    The arithmetic of the builders in :mod:`airshower.models` (Keras is not imported): ``cnn``:
    the map after each block (its convolutions, then its pooling); ``resnet``: after the stem and
    after each stage (every stage after the first halves the map, ``same`` padding); ``dense``:
    no maps, ``[]``. ``spec`` has its family's defaults filled in (a validated config).

    Raises
    ------
    ConfigError
        naming the model, the block and its config key where a ``valid`` convolution gets a map
        smaller than its kernel (Keras would fail in the training job).
    """
    if spec["family"] == "cnn":
        return _cnn_sides(spec, side, name)
    if spec["family"] == "resnet":
        sides = [side]
        for i, _stage in enumerate(spec["stages"]):
            sides.append(_map_side(sides[-1], spec["kernel_size"], "same", 2 if i > 0 else 1))
        return sides
    return []


def model_names(config: dict) -> list[str]:
    """Networks named in the config, in config order."""
    return list(config["models"])


def ensembles(config: dict) -> dict[str, str]:
    """The seed ensembles of the comparison, ``{model}_ensemble`` -> its network ``model``: every
    network with two or more training seeds, in config order, if ``evaluation.ensembles``."""
    if not config["evaluation"]["ensembles"]:
        return {}
    return {
        f"{m}{ENSEMBLE_SUFFIX}": m
        for m in model_names(config)
        if len(training_settings(config, m)["seeds"]) >= 2
    }


def compared_models(config: dict) -> list[str]:
    """Everything that enters the comparison: the networks, their seed ensembles (if enabled,
    :func:`ensembles`) and, if enabled, the baseline."""
    names = [*model_names(config), *ensembles(config)]
    if config["baseline"]["enabled"]:
        names.append(BASELINE)
    return names


def model_targets(config: dict, model: str) -> list[str]:
    """The targets ``model`` reconstructs (airshower.targets): a network's ``targets``, a seed
    ensemble's network's, the baseline's :data:`airshower.targets.BASELINE_TARGETS`."""
    from airshower.targets import BASELINE_TARGETS

    if model == BASELINE:
        return list(BASELINE_TARGETS)
    network = ensembles(config).get(model, model)
    return list(config["models"][network]["targets"])


def target_models(config: dict, target: str) -> list[str]:
    """The models of the comparison (:func:`compared_models`, in its order) that reconstruct
    ``target``."""
    return [m for m in compared_models(config) if target in model_targets(config, m)]


def study_targets(config: dict) -> list[str]:
    """Every target some compared model reconstructs, in the order of airshower.targets.TARGETS."""
    from airshower.targets import TARGETS

    return [t for t in TARGETS if target_models(config, t)]


def mass_classes(config: dict) -> list:
    """The classes of the ``mass`` target: the sorted distinct simulated mass numbers."""
    return sorted(set(config["simulation"]["composition"]["mass_numbers"]))


def training_settings(config: dict, model: str) -> dict:
    """Training settings of ``model``: the global ``training`` section with the model's overrides."""
    settings = copy.deepcopy(config["training"])
    override = config["models"][model].get("training", {})
    for key, value in override.items():
        if isinstance(value, dict):
            settings[key] = {**settings.get(key, {}), **value}
        else:
            settings[key] = value
    return settings


def model_seeds(config: dict, model: str) -> list[int]:
    """Training seeds of ``model``; the deterministic baseline and a seed ensemble (one model from
    all seeds of a network) have the single seed 0.

    Raises
    ------
    ConfigError
        for a name that is none of the compared models.
    """
    if model == BASELINE:
        return [0]
    if model in config["models"]:
        return list(training_settings(config, model)["seeds"])
    if model in ensembles(config):
        return [0]
    raise ConfigError(
        f"model '{model}' is not in the config: not a network of `models`, the baseline or the seed "
        f"ensemble of a network with two or more seeds (evaluation.ensembles)"
    )


# ---------------------------------------------------------------------------------------------
# settings objects: frozen dataclasses built from a config section, defaults from the schema


def section_schema(path: str) -> dict:
    """The schema of the config section at dotted ``path`` (e.g. ``simulation.station``),
    self-contained (with the schema's ``$defs``) so that it validates on its own."""
    root = _schema()
    node = root
    for key in path.split("."):
        try:
            node = node["properties"][key]
        except KeyError:
            raise KeyError(f"the config schema has no section '{path}'") from None
    return {"$defs": root["$defs"], **copy.deepcopy(node)}


def complete_section(path: str, section: Mapping | None) -> dict:
    """A deep copy of the config section at ``path`` validated against its schema, with every
    default filled in (a section already validated with the whole config passes unchanged)."""
    out = copy.deepcopy(dict(section or {}))
    _check_moved_keys(out, path)
    validator = _defaulting_validator(section_schema(path))
    errors = sorted(validator.iter_errors(out), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        err = errors[0]
        raise ConfigError(f"config key '{_key([path, *err.path])}': {err.message}")
    return out


class Settings:
    """Base of the settings dataclasses: ``Cls.from_config(section)`` builds one from the config
    section named by ``SECTION``, taking every default from the schema (the dataclasses have none)."""

    SECTION: ClassVar[str]

    @classmethod
    def from_config(cls, section: Mapping | None = None):
        return build_settings(cls, complete_section(cls.SECTION, section), cls.SECTION)


def build_settings(cls, section: Mapping, path: str):
    """Frozen dataclass ``cls`` from a complete config ``section``: one field per key, nested
    dataclasses from nested sections, lists as tuples, numbers in the declared type (6 -> 6.0
    for a float field, 6.0 -> 6 for an integer field). A key without a field or a field without
    a key is an error naming ``path``."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown, missing = sorted(set(section) - names), sorted(names - set(section))
    if unknown or missing:
        raise ConfigError(
            f"config section '{path}' does not match {cls.__name__}: "
            f"unknown {unknown or 'none'}, missing {missing or 'none'}"
        )
    kwargs = {name: _convert(hints[name], section[name], f"{path}.{name}") for name in names}
    return cls(**kwargs)


def _convert(hint, value, path: str):
    if dataclasses.is_dataclass(hint):
        return build_settings(hint, value, path)
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        return None if value is None else _convert(options[0], value, path)
    if origin is tuple:
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_convert(item, v, path) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)  # JSON schema's "integer" accepts 6.0
    return value

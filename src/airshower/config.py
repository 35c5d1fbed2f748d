"""The whole-study validation: the schema, then the checks a schema cannot express.

The top of the package's configuration (``docs/architecture.md``): it imports each stage's own
checks downwards (simulation, preparation, the targets, the training, the evaluation, the
systematics, the networks' map sizes), and nothing imports it but the workflow and the tests.
:func:`validate_config` applies the schema of ``workflow/schemas/config.schema.yaml`` (filling
defaults in place), then the cross-key constraints such as split fractions summing to one. Every
error names the offending key as a dotted path, e.g. ``preparation.fractions``. The plumbing
(:class:`~airshower.schema.ConfigError`, the schema, the settings base) is
:mod:`airshower.schema`; the queries over a validated config are :mod:`airshower.study`.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from airshower import io, showerfile, systematics
from airshower.augmentation import FIT_CHANNELS, needs_refit, refit_missing
from airshower.contract import OPTIONAL_LABEL_DATASETS
from airshower.evaluation.targets import check_target_settings
from airshower.inputs import TRACE, reference_channels
from airshower.model_shapes import spatial_sizes
from airshower.preparation import split_sizes
from airshower.schema import (
    BASELINE,
    ENSEMBLE_SUFFIX,
    MOVED_KEYS,
    ConfigError,
    check_moved_keys,
    defaulting_validator,
    dotted_key,
    load_schema,
    model_name_rule,
)
from airshower.simulation import SimulationSettings
from airshower.study import mass_classes, merge_training, training_settings
from airshower.targets import TARGETS
from airshower.training.losses import check_output_loss
from airshower.training.settings import TrainingSettings


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


def _typed(text: str, expected) -> int | float | bool | None:
    """``text`` as the integer, number or boolean the schema expects (``expected``: a type or a
    list of types), or None where it is not one."""
    expected = [expected] if isinstance(expected, str) else list(expected)
    word = text.strip()
    if "integer" in expected and re.fullmatch(r"[+-]?\d+", word):
        return int(word)
    if "number" in expected:
        try:
            return float(word)
        except ValueError:
            pass
    if "boolean" in expected and word.lower() in ("true", "false"):
        return word.lower() == "true"
    return None


def _read_command_line_text(config: dict, validator) -> None:
    """Snakemake's ``--config`` passes the values inside a nested mapping as text
    (``--config 'simulation={"n_events": 400000}'`` gives ``'400000'``): where the schema asks
    for an integer, a number or a boolean and the text is one, the value replaces the text, so a
    size override works as users type it."""
    for _ in range(100):  # each pass fixes every type error it sees; defaults may reveal more
        fixed = False
        for err in validator.iter_errors(config):
            if err.validator != "type" or not isinstance(err.instance, str) or not err.path:
                continue
            value = _typed(err.instance, err.validator_value)
            if value is None:
                continue
            parent = functools.reduce(lambda node, key: node[key], list(err.path)[:-1], config)
            parent[err.path[-1]] = value
            fixed = True
        if not fixed:
            return


def validate_config(config: dict) -> dict:
    """Validate ``config`` against the schema, fill defaults in place and return it.

    Raises
    ------
    ConfigError
        naming the first offending key (dotted path) and what is wrong with it.
    """
    for parent in dict.fromkeys(key.rsplit(".", 1)[0] for key in MOVED_KEYS):
        check_moved_keys(functools.reduce(_child, parent.split("."), config), parent)
    _resolve_likes(config)
    validator = defaulting_validator(load_schema())
    _read_command_line_text(config, validator)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        err = errors[0]
        key = dotted_key(err.path)
        if err.validator == "additionalProperties":
            raise ConfigError(f"config key '{key}': {err.message} (unknown key; see config/README.md)")
        if "propertyNames" in err.schema_path:
            raise ConfigError(f"config key '{key}': {_bad_model_name(err.instance)}")
        raise ConfigError(f"config key '{key}': {err.message}")
    _apply_recipes(config)
    _check_semantics(config)
    _sort_keys(config)
    return config


def _child(node, key: str):
    return node.get(key) if isinstance(node, Mapping) else None


# --- models written as another model (`like`) and named training recipes (`recipe`): resolved
# into the fully written-out spec, so every consumer (the train rule's params, the training
# fingerprint, the report) sees the spec as if every key were written out


def _resolve_likes(config: dict) -> None:
    """Replace every model ``like: OTHER`` by OTHER's spec (itself resolved) with the model's own
    keys on top, its ``training`` merged key by key; before the schema, which checks the result."""
    models = config.get("models")
    if not isinstance(models, Mapping) or not all(isinstance(s, Mapping) for s in models.values()):
        return  # the schema names what is wrong
    models.update({name: _resolve_like(models, name) for name in models if "like" in models[name]})


def _resolve_like(models: Mapping, name: str, chain: tuple[str, ...] = ()) -> dict:
    spec = models[name]
    if "like" not in spec:
        return copy.deepcopy(dict(spec))
    base, chain = spec["like"], (*chain, name)
    if not isinstance(base, str) or base not in models:
        raise ConfigError(
            f"config key 'models.{name}.like': {base!r} is not a model of this config "
            f"(models: {', '.join(models)})"
        )
    if base in chain:
        circle = (*chain[chain.index(base) :], base)
        raise ConfigError(
            f"config key 'models.{base}.like': models cannot be like one another in a circle "
            f"({' -> '.join(circle)})"
        )
    out = _resolve_like(models, base, chain)
    for key, value in spec.items():
        both = key == "training" and isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = merge_training(out[key], value) if both else copy.deepcopy(value)
    return out


def _apply_recipes(config: dict) -> None:
    """Put each model's recipe (``recipes.NAME``) under its ``training`` overrides and drop the
    ``like`` and ``recipe`` keys: global ``training`` < recipe < the model's ``training``."""
    recipes = config["recipes"]
    for name, spec in config["models"].items():
        spec.pop("like", None)
        if "recipe" not in spec:
            continue
        recipe = spec.pop("recipe")
        if recipe not in recipes:
            raise ConfigError(
                f"config key 'models.{name}.recipe': no recipe {recipe!r} in `recipes` "
                f"(defined: {', '.join(recipes) or 'none'}; see config/README.md)"
            )
        spec["training"] = merge_training(recipes[recipe], spec.get("training", {}))


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


def _check_showers_source(config: dict) -> None:
    """Where the showers come from: the simulation (``simulation.n_events`` required) or a file
    (``showers.file``), which must open; the study then has the file's number of showers and, where
    it has a recorded ``trace``, its traces. Its contents are checked by the job that imports it,
    before any other job (:func:`airshower.showerfile.import_showers`)."""
    sim, path = config["simulation"], config["showers"]["file"]
    if path is None:
        if "n_events" not in sim:
            raise ConfigError(
                "config key 'simulation.n_events': required (the number of showers to simulate), "
                "unless showers.file gives the showers"
            )
        return
    try:
        shape = showerfile.shower_file_shape(path)
    except io.DataError as exc:
        raise ConfigError(f"config key 'showers.file': {exc}") from None
    if sim.setdefault("n_events", shape["n_events"]) != shape["n_events"]:
        raise ConfigError(
            f"config key 'simulation.n_events': {sim['n_events']}, but showers.file {path} holds "
            f"{shape['n_events']} showers (leave n_events out: the file's count is taken)"
        )
    side = sim["array"]["n_side"]
    if shape["n_stations"] != side * side:
        raise ConfigError(
            f"config key 'simulation.array.n_side': {side} ({side * side} stations), but showers.file "
            f"{path} has {shape['n_stations']} stations per event"
        )
    for name, spec in config["models"].items():
        lacking = [
            t for t in spec.get("targets", ()) if t in OPTIONAL_LABEL_DATASETS and t not in shape["datasets"]
        ]
        if lacking:
            raise ConfigError(
                f"config key 'models.{name}.targets': {lacking[0]!r} needs the dataset {lacking[0]!r}, "
                f"which showers.file {path} does not have"
            )
    sim["n_shards"] = 1
    sim["store_traces"] = shape["n_bins"] > 0
    if shape["n_bins"]:
        sim["trace"]["n_bins"] = shape["n_bins"]


def _check_semantics(config: dict) -> None:
    _check_showers_source(config)
    _check_simulation(config["simulation"])
    _check_split(config["preparation"]["fractions"], config["simulation"]["n_events"])
    _check_evaluated_range(
        config["preparation"]["evaluated_log10_energy_ev"], config["simulation"]["log10_energy_ev"]
    )
    bins = config["evaluation"]["energy_bins_eev"]
    if not bins["min"] < bins["max"]:
        raise ConfigError("config key 'evaluation.energy_bins_eev': min must be below max")
    check_target_settings(config["targets"])
    systematics.check_config(config)
    for name, spec in config["models"].items():
        try:
            settings = TrainingSettings.from_config(training_settings(config, name))
            check_output_loss(spec["output"], settings.loss, name)
            _check_targets(config, name, spec, settings.loss_weights)
            if spec["direction_head"] == "correction":
                if "direction" not in spec["targets"]:
                    raise ConfigError(
                        f"config key 'models.{name}.direction_head': correction corrects the direction, "
                        f"which is not among the model's targets {spec['targets']}"
                    )
                reference_channels(settings.inputs, f"config key 'models.{name}.direction_head'")
            _check_trace_inputs(config, name, spec, settings.inputs)
            _check_refit_inputs(settings)
            _check_convolution(config, name, spec)
        except ConfigError as exc:
            raise ConfigError(f"model '{name}': {exc}") from None
        spatial_sizes(spec, config["simulation"]["array"]["n_side"], name)


def _check_convolution(config: dict, name: str, spec: Mapping) -> None:
    """A hexagonal convolution reads a hexagonal array's axial image with odd kernels."""
    if spec.get("convolution") != "hexagonal":
        return
    layout = config["simulation"]["array"]["layout"]
    if layout != "hexagonal":
        raise ConfigError(
            f"config key 'models.{name}.convolution': hexagonal convolutions need the hexagonal array "
            f"(simulation.array.layout: hexagonal), not the {layout} one"
        )
    sizes = [block["kernel_size"] for block in spec.get("blocks", ())] + [spec.get("kernel_size", 1)]
    even = [size for size in sizes if size % 2 == 0]
    if even:
        raise ConfigError(
            f"config key 'models.{name}.convolution': a hexagonal kernel has a centre station, so an odd "
            f"kernel_size, got {even[0]}"
        )


def _check_refit_inputs(settings: TrainingSettings) -> None:
    """Station dropout on inputs with the reference fit's channels makes the fit again from the time
    and signal channels (:func:`airshower.augmentation.refit_reference`): they must be inputs too."""
    if settings.augmentation.station_dropout <= 0 or not needs_refit(settings.inputs):
        return
    missing = refit_missing(settings.inputs)
    if missing:
        fit = [c for c in settings.inputs if c in FIT_CHANNELS]
        raise ConfigError(
            f"config key 'training.augmentation.station_dropout': dropping stations refits the plane "
            f"and LDF fits of the inputs {', '.join(fit)} from the arrival times and signals, but "
            f"training.inputs ({', '.join(settings.inputs)}) lacks {' and '.join(missing)}"
        )


def _check_trace_inputs(config: dict, name: str, spec: Mapping, model_inputs) -> None:
    """The recorded traces as an input need them simulated; a trace encoder needs them as input."""
    if TRACE in model_inputs and not config["simulation"]["store_traces"]:
        raise ConfigError(
            f"config key 'models.{name}.training.inputs': 'trace' reads the recorded traces, which "
            "only a simulation with simulation.store_traces: true writes"
        )
    if spec.get("trace_encoder") and TRACE not in model_inputs:
        raise ConfigError(
            f"config key 'models.{name}.trace_encoder': the trace encoder reads the recorded traces, "
            f"but training.inputs ({', '.join(model_inputs)}) lacks 'trace'"
        )


def _check_targets(config: dict, name: str, spec: Mapping, loss_weights: Mapping) -> None:
    """A model's ``targets`` against its output, its loss weights and the simulated composition."""
    targets = spec["targets"]
    if spec["output"] == "gaussian" and not any(TARGETS[t].gaussian_output for t in targets):
        raise ConfigError(
            f"config key 'models.{name}.output': gaussian predicts a width of the energy, but the "
            f"model's targets {targets} have no energy: add energy or use output: point"
        )
    lacking = [t for t in spec.get("widths", ()) if t not in targets]
    if lacking:
        raise ConfigError(
            f"config key 'models.{name}.widths': {lacking} are not targets of the model ({targets})"
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
    SimulationSettings.from_config(sim)


def _check_evaluated_range(evaluated, simulated) -> None:
    """The evaluated energy range is a real range inside the simulated one."""
    if evaluated is None:
        return
    lo, hi = evaluated
    if not lo < hi:
        raise ConfigError(
            f"config key 'preparation.evaluated_log10_energy_ev': minimum {lo} must be below maximum {hi}"
        )
    if lo < simulated[0] or hi > simulated[1]:
        raise ConfigError(
            f"config key 'preparation.evaluated_log10_energy_ev': [{lo}, {hi}] reaches beyond the simulated "
            f"simulation.log10_energy_ev {list(simulated)}: the test sets would miss the energies outside"
        )


def _check_split(fr: dict, n_events: int) -> None:
    total = fr["train"] + fr["val"] + fr["test"]
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ConfigError(
            f"config key 'preparation.fractions': train + val + test must be 1, got {total:.6g}"
        )
    try:
        split_sizes(n_events, fr)
    except ValueError as exc:
        raise ConfigError(f"config key 'preparation.fractions': {exc}") from None

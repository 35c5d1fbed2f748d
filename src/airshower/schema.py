"""The configuration plumbing every stage may import: the schema, its error and the settings base.

The bottom of the package (it imports no stage; ``docs/architecture.md``): the JSON schema in
``workflow/schemas/config.schema.yaml`` is the single source of truth for keys, types and
defaults; :func:`section_schema` and :func:`complete_section` give one section of it, validated
with its defaults; :class:`Settings` builds a stage's frozen settings dataclass from its section.
The names of the compared models that are not networks (:data:`BASELINE`, the
:data:`ENSEMBLE_SUFFIX` of a seed ensemble) live here because paths, tables and figures of every
stage use them. The whole-study validation is :mod:`airshower.config`, the queries over a
validated config :mod:`airshower.study`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
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


def dotted_key(path) -> str:
    """A schema error's path as the config key a user reads, e.g. ``preparation.fractions``."""
    return ".".join(str(p) for p in path) or "<top level>"


def defaulting_validator(schema: dict):
    """A Draft 2020-12 validator that also writes schema defaults into the instance."""
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    cls = jsonschema.validators.extend(base, {"properties": set_defaults})
    return cls(schema)


def check_moved_keys(section, path: str) -> None:
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
    check_moved_keys(out, path)
    validator = defaulting_validator(section_schema(path))
    errors = sorted(validator.iter_errors(out), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        err = errors[0]
        raise ConfigError(f"config key '{dotted_key([path, *err.path])}': {err.message}")
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

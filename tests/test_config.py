"""The config check: shipped configs pass, and every kind of mistake names its key."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from airshower.config import (
    ConfigError,
    compared_models,
    load_config,
    model_seeds,
    training_settings,
    validate_config,
)
from conftest import ROOT


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_shipped_configs_are_valid(name):
    config = load_config(ROOT / "config" / name)
    assert config["simulation"]["n_events"] > 0
    assert compared_models(config)[-1] == "baseline"


def test_large_study_scales_up_the_default():
    """config/large.yaml is the default study, bigger: same physics, same networks."""
    default, large = (load_config(ROOT / "config" / n) for n in ("config.yaml", "large.yaml"))
    assert large["models"].keys() == default["models"].keys()
    assert large["simulation"]["n_events"] > default["simulation"]["n_events"]
    same = ("array", "log10_energy_ev", "zenith_max_deg", "composition", "interaction_model")
    assert all(large["simulation"][k] == default["simulation"][k] for k in same)


def test_defaults_are_filled(test_config):
    config = validate_config(test_config)
    # keys absent from test.yaml come from the schema defaults
    assert config["simulation"]["array"] == {"n_side": 14, "spacing_m": 750.0, "altitude_m": 1400.0}
    assert config["simulation"]["log10_energy_ev"] == [18.5, 20.0]
    assert config["preparation"]["mask_channel"] is False


def test_per_model_training_overrides(default_config):
    config = validate_config(default_config)
    pyramid = training_settings(config, "cnn_pyramid")
    assert pyramid["epochs"] == default_config["models"]["cnn_pyramid"]["training"]["epochs"]
    assert pyramid["batch_size"] == config["training"]["batch_size"]
    assert training_settings(config, "fcn")["epochs"] == config["training"]["epochs"]
    assert model_seeds(config, "baseline") == [0]


def _set(config, dotted, value):
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("simulation.n_events", 0, "simulation.n_events"),
        ("simulation.n_evnets", 10, "simulation"),  # typo: unknown key
        ("preparation.fractions", {"train": 0.5, "val": 0.3, "test": 0.3}, "preparation.fractions"),
        ("preparation.fractions", {"train": 0.999, "val": 0.0005, "test": 0.0005}, "preparation.fractions"),
        ("training.batch_size", "128", "training.batch_size"),
        ("training.seeds", [], "training.seeds"),
        ("models.fcn.family", "transformer", "models.fcn.family"),
        ("models.fcn.units", [100, -3], "models.fcn.units"),
        ("simulation.n_shards", 100, "simulation.n_shards"),
        ("evaluation.energy_bins_eev", {"min": 10.0, "max": 3.0, "n": 4}, "evaluation.energy_bins_eev"),
        ("plots.formats", ["svg"], "plots.formats"),
    ],
)
def test_bad_values_name_their_key(test_config, key, value, named):
    _set(test_config, key, value)
    with pytest.raises(ConfigError, match="'" + re.escape(named)):
        validate_config(test_config)


@pytest.mark.parametrize("name", ["fcn/x", "1net", "baseline", "a b", "net.v2"])
def test_model_names_must_be_plain_identifiers(test_config, name):
    test_config["models"][name] = test_config["models"].pop("fcn")
    with pytest.raises(ConfigError, match="models"):
        validate_config(test_config)


def test_missing_section_is_named(test_config):
    del test_config["training"]
    with pytest.raises(ConfigError, match="training"):
        validate_config(test_config)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_key_order_in_the_file_does_not_matter_but_model_order_does():
    """Rules get config sections as params: the same settings in another order must compare equal."""
    raw = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    shuffled = yaml.safe_load(yaml.safe_dump(raw, sort_keys=True))
    shuffled["simulation"] = dict(reversed(list(shuffled["simulation"].items())))
    shuffled["models"] = {name: shuffled["models"][name] for name in raw["models"]}
    a, b = validate_config(raw), validate_config(shuffled)
    assert json.dumps(a) == json.dumps(b)
    assert list(a["models"]) == list(raw["models"])  # comparison order as written

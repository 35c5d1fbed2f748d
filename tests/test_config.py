"""The config check: shipped configs pass, and every kind of mistake names its key."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys

import pytest
import yaml

from airshower.config import load_config, validate_config
from airshower.model_shapes import spatial_sizes
from airshower.schema import ConfigError, load_schema, model_name_rule
from airshower.study import compared_models, model_seeds, training_settings
from conftest import ROOT


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_shipped_configs_are_valid(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # config/external.yaml's showers.file is relative to the working directory
    config = load_config(ROOT / "config" / name)
    assert config["simulation"]["n_events"] > 0
    assert compared_models(config)[-1] == "baseline"


def test_large_study_scales_up_the_default():
    """config/large.yaml is the default study, bigger: same physics, the same networks (with the
    same inputs, target and schedule) and the seed lecture's pyramid CNN, trained fully."""
    default, large = (load_config(ROOT / "config" / n) for n in ("config.yaml", "large.yaml"))
    assert list(large["models"]) == [
        "fcn",
        "cnn",
        "cnn_pyramid",
        "cnn_tuned",
        "cnn_tuned_nll",
        "cnn_wide",
        "cnn_tuned_nll_aug",
        "cnn_multi",
        "cnn_multi_aug",
        "cnn_multi_deep",
    ]
    assert list(default["models"]) == [
        "fcn",
        "cnn",
        "cnn_tuned_nll",
        "cnn_tuned_nll_aug",
        "cnn_multi",
        "cnn_multi_aug",
    ]
    recipe = ("inputs", "target_transform", "learning_rate_schedule", "learning_rate", "batch_size")
    for name, spec in default["models"].items():
        assert {k: v for k, v in large["models"][name].items() if k != "training"} == {
            k: v for k, v in spec.items() if k != "training"
        }, name
        a, b = training_settings(default, name), training_settings(large, name)
        assert [a[k] for k in recipe] == [b[k] for k in recipe], name
    assert large["simulation"]["n_events"] > default["simulation"]["n_events"]
    same = ("array", "log10_energy_ev", "zenith_max_deg", "composition", "interaction_model")
    assert all(large["simulation"][k] == default["simulation"][k] for k in same)


def test_defaults_are_filled(test_config):
    config = validate_config(test_config)
    # keys absent from test.yaml come from the schema defaults
    assert config["simulation"]["array"] == {
        "n_side": 14,
        "spacing_m": 750.0,
        "altitude_m": 1400.0,
        "layout": "square",
    }
    assert config["simulation"]["log10_energy_ev"] == [18.5, 20.0]
    training = config["training"]  # the seed lecture's recipe
    assert (training["inputs"], training["target_transform"]) == (["time", "signal"], "linear")
    assert (training["learning_rate_schedule"], training["final_learning_rate"]) == ("plateau", 1e-5)


def test_per_model_training_overrides(default_config):
    """The seed's networks keep the seed's recipe; the tuned ones override it."""
    config = validate_config(default_config)
    for name in ("fcn", "cnn"):  # trained until early stopping: only the epochs differ
        assert training_settings(config, name) == {**config["training"], "epochs": 100}, name
        assert config["training"]["inputs"] == ["time", "signal"]
        assert config["training"]["target_transform"] == "linear"
        assert config["training"]["learning_rate_schedule"] == "plateau"
    inputs = {
        "cnn_tuned_nll": ["time", "signal", "mask"],
        "cnn_tuned_nll_aug": ["time", "signal", "mask", "working"],
        "cnn_multi": ["time", "signal", "mask", "residual", "station_x", "station_y"]
        + ["front_ux", "front_uy", "front_uz"],
    }
    inputs["cnn_multi_aug"] = [*inputs["cnn_multi"], "working", "ldf_s1000"]
    for name in inputs:
        tuned = training_settings(config, name)
        assert tuned["inputs"] == inputs[name]
        assert (tuned["target_transform"], tuned["learning_rate_schedule"]) == ("log10", "cosine")
        assert (tuned["learning_rate"], tuned["final_learning_rate"], tuned["batch_size"]) == (
            3e-3,
            1e-5,
            256,
        )
        # the global value; one seed of the two largest networks in the default study
        assert tuned["seeds"] == ([1] if name != "cnn_tuned_nll" else [1, 2])
        # a cosine runs its course: early stopping never cuts it short
        assert tuned["early_stopping_patience"] >= tuned["epochs"] >= 40
        assert config["models"][name]["dropout"] == 0.0
    assert model_seeds(config, "baseline") == [0]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "mask_channel",
            True,
            "config key 'preparation.mask_channel' has moved: the input channels are chosen per model now: "
            "remove it and list the channels in training.inputs, e.g. `inputs: [time, signal, mask]` for the "
            "mask channel (in `training:` for every model or in `models.NAME.training:` for one; default "
            "[time, signal]) (see config/README.md)",
        ),
        (
            "target_transform",
            "linear",
            "config key 'preparation.target_transform' has moved: the target transform is chosen per model "
            "now: remove it and set training.target_transform (linear or log10; in `training:` for every "
            "model or in `models.NAME.training:` for one; default linear) (see config/README.md)",
        ),
    ],
)
def test_moved_preparation_keys_say_where_they_went(test_config, key, value, message):
    test_config["preparation"][key] = value
    with pytest.raises(ConfigError) as info:
        validate_config(test_config)
    assert str(info.value) == message


def test_inputs_and_target_per_model(test_config):
    test_config["models"]["fcn"]["training"] = {"inputs": ["signal", "mask"], "target_transform": "log10"}
    config = validate_config(copy.deepcopy(test_config))
    fcn = training_settings(config, "fcn")
    assert (fcn["inputs"], fcn["target_transform"]) == (["signal", "mask"], "log10")
    assert training_settings(config, "cnn")["inputs"] == ["time", "signal"]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"inputs": ["time", "charge"]}, "models.fcn.training.inputs.1"),
        ({"inputs": ["time", "time"]}, "models.fcn.training.inputs"),
        ({"inputs": []}, "models.fcn.training.inputs"),
        ({"target_transform": "sqrt"}, "models.fcn.training.target_transform"),
        ({"learning_rate_schedule": "step"}, "models.fcn.training.learning_rate_schedule"),
        ({"final_learning_rate": 0}, "models.fcn.training.final_learning_rate"),
    ],
)
def test_bad_per_model_recipe_names_its_key(test_config, override, named):
    test_config["models"]["fcn"]["training"] = override
    with pytest.raises(ConfigError, match="'" + re.escape(named) + "'"):
        validate_config(test_config)


def test_cosine_ending_above_its_start_names_the_model(test_config):
    test_config["models"]["cnn"]["training"] = {
        "learning_rate_schedule": "cosine",
        "learning_rate": 1e-4,
        "final_learning_rate": 1e-3,
    }
    with pytest.raises(
        ConfigError, match=r"^model 'cnn': config key 'training.final_learning_rate': 0.001 is above"
    ):
        validate_config(test_config)


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
        ("training.batch_size", "128 events", "training.batch_size"),
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


@pytest.mark.parametrize("name", ["fcn/x", "1net", "baseline", "a b", "net.v2", "net_ensemble"])
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


# --- recipes and `like`: named once, resolved into the written-out model at validation

WRITTEN_OUT = yaml.safe_load((ROOT / "tests" / "data" / "written_out_models.yaml").read_text())


def _without_recipes(config: dict) -> dict:
    return {key: value for key, value in config.items() if key != "recipes"}


@pytest.mark.parametrize("name", sorted(WRITTEN_OUT))
def test_recipes_and_likes_resolve_to_the_written_out_models(name):
    """A shipped model written with `recipe` or `like` validates to exactly the config of the model
    written out key by key (tests/data/written_out_models.yaml, the configs before recipes): the
    same spec for the train rule's params and the training fingerprint, the same settings, the
    same key order; nothing reruns."""
    raw = yaml.safe_load((ROOT / "config" / name).read_text())
    assert [m for m, spec in raw["models"].items() if {"recipe", "like"} & set(spec)] == list(
        WRITTEN_OUT[name]
    )
    written = _without_recipes(copy.deepcopy(raw))
    written["models"].update(copy.deepcopy(WRITTEN_OUT[name]))
    resolved, expected = validate_config(raw), validate_config(written)
    assert expected["recipes"] == {}  # the default: an old-style config
    assert json.dumps(_without_recipes(resolved)) == json.dumps(_without_recipes(expected))
    for model in resolved["models"]:
        settings = json.dumps(training_settings(resolved, model))
        assert settings == json.dumps(training_settings(expected, model)), model
    assert validate_config(copy.deepcopy(resolved)) == resolved  # validating twice changes nothing


def test_recipe_sits_between_the_global_training_and_the_model(test_config):
    test_config["recipes"]["fast"] = {
        "epochs": 5,
        "learning_rate": 0.01,
        "augmentation": {"station_dropout": 0.1},
    }
    test_config["models"]["fcn"].update(
        recipe="fast", training={"epochs": 3, "augmentation": {"signal_scale": 0.1}}
    )
    config = validate_config(test_config)
    fcn = training_settings(config, "fcn")
    assert (fcn["epochs"], fcn["learning_rate"], fcn["batch_size"]) == (3, 0.01, 64)
    assert fcn["augmentation"] == {"signal_scale": 0.1, "station_dropout": 0.1}
    assert "recipe" not in config["models"]["fcn"]
    assert training_settings(config, "cnn")["learning_rate"] == 0.001  # no recipe: the global one


def test_unknown_recipe_names_the_key_and_the_recipes(test_config):
    test_config["models"]["fcn"]["recipe"] = "improvd"
    with pytest.raises(ConfigError) as info:
        validate_config(test_config)
    assert str(info.value) == (
        "config key 'models.fcn.recipe': no recipe 'improvd' in `recipes` (defined: improved; see "
        "config/README.md)"
    )


@pytest.mark.parametrize(
    ("recipes", "named"),
    [
        ({"improved": {"learning_rate": -1}}, "recipes.improved.learning_rate"),
        ({"improved": {"epoch": 3}}, "recipes.improved"),  # typo: unknown key
        ({"improved": [1]}, "recipes.improved"),
    ],
)
def test_bad_recipes_name_their_key(test_config, recipes, named):
    test_config["recipes"] = recipes
    with pytest.raises(ConfigError, match="'" + re.escape(named) + "'"):
        validate_config(test_config)


def test_like_takes_the_other_model_and_merges_its_training(test_config):
    """A model like another: its keys replace the other's, its training merged key by key, the
    other's recipe inherited; the other may come later, and may be like a third."""
    models = test_config["models"]
    models["first"] = {"like": "second", "dropout": 0.2, "training": {"epochs": 1}}
    models["second"] = {"like": "cnn_tuned", "training": {"augmentation": {"signal_scale": 0.1}}}
    config = validate_config(test_config)
    first, tuned = config["models"]["first"], config["models"]["cnn_tuned"]
    assert {k: v for k, v in first.items() if k not in ("dropout", "training")} == {
        k: v for k, v in tuned.items() if k not in ("dropout", "training")
    }
    assert first["dropout"] == 0.2
    assert first["training"] == {
        **tuned["training"],
        "epochs": 1,
        "augmentation": {"signal_scale": 0.1},
    }
    assert all("like" not in spec and "recipe" not in spec for spec in config["models"].values())


def test_station_dropout_on_the_fit_channels_needs_the_times_and_signals(test_config):
    """Dropping stations refits the plane front from the time and signal channels: a model that
    reads the fit's residual without them is refused, naming the key and what it lacks."""
    models = test_config["models"]
    models["refit"] = {
        "like": "cnn_multi",
        "training": {
            "inputs": ["signal", "mask", "residual", "front_ux", "front_uy", "front_uz"],
            "augmentation": {"station_dropout": 0.2},
        },
    }
    with pytest.raises(ConfigError, match=r"model 'refit': .*station_dropout.*residual.*lacks time"):
        validate_config(copy.deepcopy(test_config))
    models["refit"]["training"]["augmentation"] = {"station_dropout": 0.0}  # no refit: allowed
    validate_config(test_config)


@pytest.mark.parametrize(
    ("likes", "message"),
    [
        (
            {"fcn": "mlp"},
            "config key 'models.fcn.like': 'mlp' is not a model of this config (models: fcn, cnn, "
            "cnn_tuned, cnn_tuned_nll, cnn_multi)",
        ),
        (
            {"fcn": "fcn"},
            "config key 'models.fcn.like': models cannot be like one another in a circle (fcn -> fcn)",
        ),
        (
            {"cnn_multi": "fcn", "fcn": "cnn", "cnn": "fcn"},
            "config key 'models.fcn.like': models cannot be like one another in a circle (fcn -> cnn -> fcn)",
        ),
    ],
)
def test_bad_like_names_the_key(test_config, likes, message):
    for name, other in likes.items():
        test_config["models"][name]["like"] = other
    with pytest.raises(ConfigError) as info:
        validate_config(test_config)
    assert str(info.value) == message


# --- model names: what a name may be, in words, the same in the schema and config/README.md


@pytest.mark.parametrize("name", ["../x", "1net", "a b", "net.v2", "n" * 41])
def test_bad_model_name_says_what_a_name_may_be(test_config, name):
    test_config["models"][name] = test_config["models"].pop("fcn")
    with pytest.raises(ConfigError) as info:
        validate_config(test_config)
    message = str(info.value)
    assert message.startswith(f"config key 'models': model name {name!r} is not allowed: a model name is ")
    assert "letters, digits or underscores, 40 characters at most" in message
    assert "not 'baseline' (the classical reconstruction) and not ending in '_ensemble'" in message
    assert "does not match" not in message  # no raw jsonschema text


def test_model_name_baseline_is_taken(test_config):
    test_config["models"]["baseline"] = test_config["models"].pop("fcn")
    with pytest.raises(ConfigError, match=r"model name 'baseline' is taken by the classical reconstruction"):
        validate_config(test_config)


def test_forty_character_name_is_allowed(test_config):
    test_config["models"]["n" * 40] = test_config["models"].pop("fcn")
    assert "n" * 40 in validate_config(test_config)["models"]


def test_readme_states_the_schema_model_name_rule():
    pattern = load_schema()["properties"]["models"]["propertyNames"]["pattern"]
    assert pattern == "^[A-Za-z][A-Za-z0-9_]{0,39}$"
    readme = (ROOT / "config" / "README.md").read_text()
    assert f"`{pattern}`" in readme
    assert "40 characters at most" in readme
    assert "40 characters at most" in model_name_rule()


# --- architectures that do not fit the array: caught at config time, by arithmetic

DEEP_VALID = {"family": "cnn", "blocks": [{"filters": [4], "kernel_size": 5, "padding": "valid"}] * 4}


def test_valid_convolutions_that_outgrow_the_array_name_model_and_block(test_config):
    test_config["models"]["deep"] = DEEP_VALID
    with pytest.raises(ConfigError) as info:
        validate_config(test_config)
    assert str(info.value) == (
        "model 'deep': block 4 (5x5 'valid' convolution) needs at least 5x5 stations, gets 2x2 "
        "(map sizes 14x14 -> 10x10 -> 6x6 -> 2x2) (config key models.deep.blocks[3]); "
        "use padding: same, a smaller kernel_size, less pooling or fewer blocks"
    )


def test_the_array_side_comes_from_the_simulation(test_config):
    """Three blocks fit the 14 x 14 array (2 x 2 left), not an 8 x 8 one."""
    test_config["models"]["deep"] = {**DEEP_VALID, "blocks": DEEP_VALID["blocks"][:3]}
    assert spatial_sizes(validate_config(copy.deepcopy(test_config))["models"]["deep"], 14) == [10, 6, 2]
    test_config["simulation"]["array"] = {"n_side": 8}
    with pytest.raises(ConfigError, match=r"block 2 \(5x5 'valid' convolution\).* gets 4x4"):
        validate_config(test_config)


def test_shipped_models_keep_their_maps():
    config = load_config(ROOT / "config" / "config.yaml")
    sides = {name: spatial_sizes(spec, 14, name) for name, spec in config["models"].items()}
    assert sides == {
        "fcn": [],
        "cnn": [7, 7],
        "cnn_tuned_nll": [7, 7],
        "cnn_tuned_nll_aug": [7, 7],
        "cnn_multi": [7, 7],
        "cnn_multi_aug": [7, 7],
    }


def test_config_validation_does_not_import_keras():
    """The DAG is parsed on login nodes: validation must stay fast and backend-free."""
    code = (
        "import sys; from airshower.config import load_config; "
        f"load_config({str(ROOT / 'config' / 'config.yaml')!r}); "
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _block(k, padding="same", pool="none", pool_size=2, n_conv=1):
    return {
        "filters": [2] * n_conv,
        "kernel_size": k,
        "padding": padding,
        "pool": pool,
        "pool_size": pool_size,
    }


ARCHITECTURES = [
    ("cnn", {"blocks": [_block(3, "valid", "max", 3), _block(3, "valid")]}, 9),  # 9 -> 7 -> 3 -> 1
    ("cnn", {"blocks": [_block(5, "valid")] * 3}, 14),  # ends at 2 x 2
    ("cnn", {"blocks": [_block(5, "valid")] * 3}, 13),  # 1 x 1: a window exactly as large as the map
    ("cnn", {"blocks": [_block(3, "valid", n_conv=3), _block(3, pool="avg", pool_size=3)]}, 11),
    ("cnn", {"blocks": [_block(7, pool="max", pool_size=4)] * 3}, 14),  # same padding never fails
    ("resnet", {"stages": [{"filters": 2, "blocks": 1}] * 4, "stem_filters": 2}, 14),
    ("resnet", {"stages": [{"filters": 2, "blocks": 1}] * 3, "stem_filters": 2, "kernel_size": 5}, 5),
]


def _keras_maps(spec, side):
    """Sides of every 4-d output of the real builder (Keras imported here, in the test only)."""
    keras = pytest.importorskip("keras")
    from airshower import models

    inputs = keras.Input((side, side, 2))
    model = keras.Model(inputs, models.FAMILIES[spec["family"]](spec, inputs))
    return [layer.output.shape[1] for layer in model.layers if len(layer.output.shape) == 4]


@pytest.mark.slow
@pytest.mark.parametrize(("family", "keys", "side"), ARCHITECTURES)
def test_map_sizes_are_those_of_keras(family, keys, side):
    from airshower.models import complete_spec

    spec = complete_spec({"family": family, **keys}, "net")
    sides = spatial_sizes(spec, side, "net")
    maps = _keras_maps(spec, side)
    assert maps[-1] == sides[-1]
    assert min(maps) == min(sides)


@pytest.mark.slow
def test_keras_fails_where_the_arithmetic_does():
    from airshower.models import complete_spec

    spec = complete_spec(DEEP_VALID, "deep")
    with pytest.raises(ConfigError, match=r"block 4 "):
        spatial_sizes(spec, 14, "deep")
    with pytest.raises(ValueError, match="(?i)negative|output"):
        _keras_maps(spec, 14)


def test_output_and_loss_must_agree_at_validation(default_config):
    """A Gaussian head trained with the MSE would learn no width: stopped before any job runs."""
    del default_config["models"]["cnn_tuned_nll"]["training"]["loss"]
    with pytest.raises(
        ConfigError, match=r"model 'cnn_tuned_nll': .*models.cnn_tuned_nll.output.*gaussian_nll"
    ):
        validate_config(default_config)


# --- targets (airshower.targets): what each model reconstructs


def with_multi(config: dict) -> dict:
    """``config`` with two mass numbers and, as its one network of other targets than the energy, a
    network ``multi`` of every target (built here, so the tests do not hang on the file's)."""
    config["simulation"]["composition"] = {"mass_numbers": [1, 56], "fractions": [0.5, 0.5]}
    config["models"] = {name: spec for name, spec in config["models"].items() if "targets" not in spec}
    config["models"]["multi"] = {
        "family": "cnn",
        "blocks": [{"filters": [8], "pool": "avg"}],
        "head": "flatten",
        "targets": ["energy", "direction", "core", "xmax", "mass", "muon"],
        "training": {"seeds": [1], "loss_weights": {"direction": 10.0}},
    }
    return config


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c["models"]["cnn_tuned_nll"].__setitem__("targets", ["direction", "core"]),
            "model 'cnn_tuned_nll': config key 'models.cnn_tuned_nll.output': gaussian predicts a width "
            "of the energy, but the model's targets ['direction', 'core'] have no energy: add energy or "
            "use output: point",
        ),
        (
            lambda c: c["models"]["multi"].update(
                targets=["energy", "direction"], training={"loss_weights": {"direction": 2.0, "xmax": 0.5}}
            ),
            "model 'multi': config key 'models.multi.training.loss_weights': ['xmax'] are not "
            "targets of the model (['energy', 'direction'])",
        ),
        (
            lambda c: c["models"]["fcn"].__setitem__("training", {"loss_weights": {"mass": 2.0}}),
            "model 'fcn': config key 'models.fcn.training.loss_weights': ['mass'] are not targets of "
            "the model (['energy'])",
        ),
        (
            lambda c: c["simulation"]["composition"].update(mass_numbers=[56], fractions=[1.0]),
            "model 'multi': config key 'models.multi.targets': mass is a classification over "
            "the composition's mass numbers, but simulation.composition.mass_numbers has [56]: simulate "
            "two or more masses (e.g. config/composition.yaml) or drop the mass target",
        ),
    ],
    ids=["gaussian_without_energy", "weight_of_another_target", "weight_of_a_default_model", "one_mass"],
)
def test_targets_that_do_not_fit_the_model_name_the_key(test_config, mutate, message):
    config = with_multi(test_config)
    validate_config(copy.deepcopy(config))  # valid before the change
    mutate(config)
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("targets", "named"),
    [
        (["energy", "charge"], "models.multi.targets.1"),
        ([], "models.multi.targets"),
        (["energy", "energy"], "models.multi.targets"),
    ],
)
def test_bad_target_lists_name_their_key(test_config, targets, named):
    config = with_multi(test_config)
    config["models"]["multi"]["targets"] = targets
    with pytest.raises(ConfigError, match="'" + re.escape(named) + "'"):
        validate_config(config)


@pytest.mark.parametrize("weight", [0, -1.0, "two"])
def test_loss_weights_must_be_positive_numbers(test_config, weight):
    config = with_multi(test_config)
    config["models"]["multi"]["training"]["loss_weights"] = {"direction": weight}
    with pytest.raises(ConfigError, match=re.escape("'models.multi.training.loss_weights.direction'")):
        validate_config(config)


def test_model_targets_and_the_models_of_each_target(test_config, default_config):
    from airshower.study import mass_classes, model_targets, study_targets, target_models
    from airshower.targets import BASELINE_TARGETS, TARGETS

    config = validate_config(with_multi(test_config))
    every = list(TARGETS)
    assert model_targets(config, "multi") == every
    assert model_targets(config, "fcn") == ["energy"]  # the default
    assert model_targets(config, "fcn_ensemble") == model_targets(config, "fcn")  # its network's
    assert model_targets(config, "baseline") == list(BASELINE_TARGETS) == ["energy", "direction", "core"]
    assert target_models(config, "energy") == compared_models(config)  # every model
    assert target_models(config, "direction") == target_models(config, "core") == ["multi", "baseline"]
    assert target_models(config, "mass") == target_models(config, "xmax") == ["multi"]
    assert study_targets(config) == every
    assert mass_classes(config) == [1, 56]
    default = validate_config(default_config)
    assert study_targets(default) == ["energy", "direction", "core"]  # the baseline's and cnn_multi's
    assert mass_classes(default) == [1]
    multi = ("cnn_multi", "cnn_multi_aug")
    assert all(model_targets(default, m) == ["energy", "direction", "core"] for m in multi)
    assert all(model_targets(default, m) == ["energy"] for m in default["models"] if m not in multi)
    assert target_models(default, "direction")[-1] == "baseline"
    assert target_models(default, "xmax") == target_models(default, "mass") == []


def test_a_nested_override_typed_on_the_command_line_works(test_config):
    """``--config 'simulation={"n_events": 400000}'`` reaches the config as text ('400000');
    where the schema asks for a number or a boolean the text that is one is taken as it."""
    config = test_config
    config["simulation"]["n_events"] = "4000"
    config["simulation"]["store_traces"] = "true"
    config["training"]["learning_rate"] = "0.002"
    validated = validate_config(config)
    assert validated["simulation"]["n_events"] == 4000
    assert validated["simulation"]["store_traces"] is True
    assert validated["training"]["learning_rate"] == 0.002
    config["simulation"]["n_events"] = "4e3"  # not an integer: named as before
    with pytest.raises(ConfigError, match="'simulation.n_events': '4e3' is not of type 'integer'"):
        validate_config(config)


def test_showers_from_a_file_take_their_size_from_it(monkeypatch):
    """showers.file: the study's n_events is the file's; a contradicting n_events, a file of
    another array, a missing file and a muon target the file lacks stop at the config check,
    naming the key; without a file n_events is required."""
    raw = yaml.safe_load((ROOT / "config" / "external.yaml").read_text())
    monkeypatch.chdir(ROOT)  # showers.file is relative to the working directory
    cfg = validate_config(copy.deepcopy(raw))
    assert cfg["simulation"]["n_events"] == 3000
    assert cfg["simulation"]["store_traces"] is False

    def error(change) -> str:
        bad = copy.deepcopy(raw)
        change(bad)
        with pytest.raises(ConfigError) as exc:
            validate_config(bad)
        return str(exc.value)

    assert "holds 3000 showers" in error(lambda c: c["simulation"].update(n_events=2000))
    assert "'simulation.array.n_side': 10 (100 stations)" in error(
        lambda c: c["simulation"]["array"].update(n_side=10)
    )
    assert "'showers.file': nope.h5: file does not exist" in error(
        lambda c: c["showers"].update(file="nope.h5")
    )
    assert "'muon' needs the dataset 'muon'" in error(
        lambda c: c["models"]["cnn_multi"].update(targets=["energy", "muon"])
    )
    assert "'simulation.n_events': required" in error(lambda c: c.pop("showers"))

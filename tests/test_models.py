"""Network builders: the default presets and every family (under each Keras backend: test_backends.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from airshower import config, models

ROOT = Path(__file__).resolve().parents[1]
INPUT = (14, 14, 2)
# Parameter counts of the shipped networks on 14 x 14 x (channels of their training.inputs)
# inputs: the seed tutorial's (2 channels) and the improved recipe's (3: the mask channel);
# cnn_tuned_nll is cnn_tuned with a Dense(2) output: 6,657 + 1,568 + 1.
DEFAULT_PARAMETERS = {
    "config.yaml": {
        "fcn": 69_701,
        "cnn": 6_513,
        "cnn_tuned": 6_657,
        "cnn_tuned_nll": 8_226,
        "cnn_wide": 220_225,
    },
    "large.yaml": {"cnn_pyramid": 460_737},
}


def shipped(name: str) -> dict:
    return config.load_config(ROOT / "config" / name)


@pytest.mark.parametrize("file", sorted(DEFAULT_PARAMETERS))
def test_default_presets_have_the_tutorial_parameter_counts(file):
    cfg = shipped(file)
    assert set(DEFAULT_PARAMETERS[file]) <= set(cfg["models"])
    for name, expected in DEFAULT_PARAMETERS[file].items():
        channels = len(config.training_settings(cfg, name)["inputs"])
        model = models.build_model(cfg["models"][name], (14, 14, channels), name=name)
        assert models.count_parameters(model) == expected, name
        assert model.output_shape == (None, models.OUTPUTS[cfg["models"][name]["output"]])


def test_fcn_layers_by_hand():
    """Flatten(392) -> 4 x Dense(100) -> Dense(1): 392*100+100 + 3*(100*100+100) + 101."""
    spec = {"family": "dense", "units": [100] * 4, "dropout": 0.3}
    assert models.count_parameters(models.build_model(spec, INPUT)) == 392 * 100 + 100 + 3 * 10_100 + 101


def test_every_family_builds_and_maps_a_batch_to_one_energy():
    specs = {
        "dense_bn": {"family": "dense", "units": [8, 8], "batch_norm": True},
        "cnn": {
            "family": "cnn",
            "blocks": [{"filters": [4, 4], "pool": "max"}, {"filters": [8], "batch_norm": True}],
            "head": "global_avg",
            "dense_units": [8],
            "dropout": 0.2,
        },
        "resnet": {
            "family": "resnet",
            "stem_filters": 8,
            "stages": [{"filters": 8, "blocks": 1}, {"filters": 16, "blocks": 2}],
        },
    }
    x = np.random.default_rng(0).normal(size=(5, *INPUT)).astype("float32")
    for name, spec in specs.items():
        model = models.build_model(spec, INPUT, name=name)
        y = np.asarray(model(x, training=False))
        assert y.shape == (5, 1), name
        assert np.all(np.isfinite(y)), name
    # resnet: the second stage halves the 14 x 14 map with a strided 1x1 projection shortcut
    resnet = models.build_model(specs["resnet"], INPUT)
    shapes = [tuple(layer.output.shape[1:3]) for layer in resnet.layers if layer.__class__.__name__ == "Add"]
    assert shapes == [(14, 14), (7, 7), (7, 7)]


def test_bad_specs_name_the_problem():
    with pytest.raises(ValueError, match="unknown family 'mlp'"):
        models.build_model({"family": "mlp"}, INPUT, name="x")
    with pytest.raises(config.ConfigError, match="models.x.head': 'attention' is not one of"):
        models.build_model({"family": "cnn", "blocks": [{"filters": [2]}], "head": "attention"}, INPUT, "x")
    with pytest.raises(config.ConfigError, match=r"models.model.blocks.0.pool"):
        models.build_model({"family": "cnn", "blocks": [{"filters": [2], "pool": "median"}]}, INPUT)


def test_specs_get_the_schema_defaults():
    spec = models.complete_spec({"family": "resnet", "stages": [{"filters": 8, "blocks": 1}]}, "r")
    assert spec == {
        "family": "resnet",
        "stages": [{"filters": 8, "blocks": 1}],
        "stem_filters": 32,
        "kernel_size": 3,
        "activation": "relu",
        "batch_norm": True,
        "head": "global_avg",
        "dense_units": [],
        "dense_activation": "elu",
        "dropout": 0.0,
        "output": "point",
    }
    block = models.complete_spec({"family": "cnn", "blocks": [{"filters": [4]}]})["blocks"][0]
    assert block == {
        "filters": [4],
        "kernel_size": 3,
        "activation": "relu",
        "padding": "same",
        "batch_norm": False,
        "pool": "none",
        "pool_size": 2,
    }


def test_schema_enums_are_the_registries():
    """Families, pooling and heads allowed by the config are the keys of the builders' registries."""
    schema = config.load_schema()
    defs, entry = schema["$defs"], schema["properties"]["models"]["additionalProperties"]
    assert entry["properties"]["family"]["enum"] == list(models.FAMILIES)
    dispatched = {c["if"]["properties"]["family"]["const"]: c["then"]["$ref"] for c in entry["allOf"]}
    assert dispatched == {f: f"#/$defs/{f}_model" for f in models.FAMILIES}
    assert all(defs[f"{f}_model"]["properties"]["family"] == {"const": f} for f in models.FAMILIES)
    assert defs["cnn_block"]["properties"]["pool"]["enum"] == list(models.POOLING)
    for family in ("cnn", "resnet"):
        assert defs[f"{family}_model"]["properties"]["head"]["enum"] == list(models.HEADS)
    for family in models.FAMILIES:
        assert defs[f"{family}_model"]["properties"]["output"]["enum"] == list(models.OUTPUTS)
        assert defs[f"{family}_model"]["properties"]["output"]["default"] == "point"


@pytest.mark.parametrize(
    ("spec", "last_units"),
    [
        ({"family": "dense", "units": [16, 8]}, 8),
        ({"family": "cnn", "blocks": [{"filters": [4], "pool": "avg"}]}, 7 * 7 * 4),  # flatten
        ({"family": "cnn", "blocks": [{"filters": [4]}], "head": "global_avg", "dense_units": [6]}, 6),
        ({"family": "resnet", "stem_filters": 4, "stages": [{"filters": 8, "blocks": 1}]}, 8),
    ],
)
def test_gaussian_output_adds_one_output_unit(spec, last_units):
    """``output: gaussian``: the same network with a Dense(2) ``energy`` layer (mean, raw width),
    one more output column of ``last_units`` weights and a bias."""
    point = models.build_model(spec, INPUT, name="p")
    gauss = models.build_model({**spec, "output": "gaussian"}, INPUT, name="g")
    assert models.count_parameters(gauss) == models.count_parameters(point) + last_units + 1
    assert (point.output_shape, gauss.output_shape) == ((None, 1), (None, 2))
    assert [type(layer) for layer in gauss.layers] == [type(layer) for layer in point.layers]
    assert gauss.get_layer("energy").get_config()["units"] == 2
    assert (models.model_output(point), models.model_output(gauss)) == ("point", "gaussian")
    x = np.random.default_rng(1).normal(size=(3, *INPUT)).astype("float32")
    assert gauss.predict(x, verbose=0).shape == (3, 2)
    import keras

    kernel = keras.ops.convert_to_numpy(gauss.get_layer("energy").kernel)
    np.testing.assert_array_equal(kernel[:, 1], 0.0)  # the raw width starts at 0: sigma 1 for every event
    assert np.all(kernel[:, 0] != 0)  # the mean's column keeps its random start


def test_gaussian_log_sigma_is_the_clipped_raw_width():
    raw = np.array([-20.0, -7.0, -1.5, 0.0, 2.0, 5.0, 80.0], "float32")
    import keras

    got = keras.ops.convert_to_numpy(models.gaussian_log_sigma(raw))
    np.testing.assert_array_equal(got, [-7.0, -7.0, -1.5, 0.0, 2.0, 5.0, 5.0])
    assert models.LOG_SIGMA_RANGE == (-7.0, 5.0)


def test_mixed_precision_keeps_a_float32_output():
    import keras

    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = models.build_model({"family": "cnn", "blocks": [{"filters": [4]}]}, INPUT)
        assert model.layers[1].compute_dtype == "float16"
        assert model.get_layer("energy").compute_dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")

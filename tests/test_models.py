"""Network builders: the default presets and every family (under each Keras backend: test_backends.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from airshower import config, models

ROOT = Path(__file__).resolve().parents[1]
INPUT = (14, 14, 2)
# Parameter counts of the seed tutorial's networks on 14 x 14 x 2 inputs.
DEFAULT_PARAMETERS = {"fcn": 69_701, "cnn": 6_513, "cnn_pyramid": 460_737}


@pytest.fixture(scope="module")
def default_models() -> dict:
    return config.load_config(ROOT / "config" / "config.yaml")["models"]


def test_default_presets_have_the_tutorial_parameter_counts(default_models):
    assert set(DEFAULT_PARAMETERS) <= set(default_models)
    for name, expected in DEFAULT_PARAMETERS.items():
        model = models.build_model(default_models[name], INPUT, name=name)
        assert models.count_parameters(model) == expected, name
        assert model.output_shape == (None, 1)


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


def test_mixed_precision_keeps_a_float32_output():
    import keras

    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = models.build_model({"family": "cnn", "blocks": [{"filters": [4]}]}, INPUT)
        assert model.layers[1].compute_dtype == "float16"
        assert model.get_layer("energy").compute_dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")

"""Network builders: the default presets and every family (under each Keras backend: test_backends.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from airshower import config, models, schema, study
from airshower.targets import TARGETS

ROOT = Path(__file__).resolve().parents[1]
INPUT = (14, 14, 2)
# Parameter counts of the shipped networks on 14 x 14 x (channels of their training.inputs)
# inputs: the seed tutorial's (2 channels) and the improved recipe's (3: the mask channel);
# cnn_tuned_nll is cnn_tuned with a Dense(2) output: 6,657 + 1,568 + 1; cnn_tuned_nll_aug is
# cnn_tuned_nll on 4 channels (the working stations: 9 x 16 more weights in the first
# convolution); cnn_multi is cnn_wide with one head per target (energy, direction, core) on 9
# channels (the residual, the station coordinates, the plane fit's axis): the body 2,624 +
# 18,496, each head Dense(64) on the 3,136 features (200,768) and its output (65, 195, 130; the
# direction's adds the fit's axis, no weights): 21,120 + 3 * 200,768 + 390; and the width heads of
# the direction and the core, each Dense(1) on the 3,136 features: 2 * 3,137.
DEFAULT_PARAMETERS = {
    "config.yaml": {
        "fcn": 69_701,
        "cnn": 6_513,
        "cnn_tuned_nll": 8_226,
        "cnn_tuned_nll_aug": 8_370,
        "cnn_multi": 630_088,
    },
    "large.yaml": {"cnn_pyramid": 460_737, "cnn_tuned": 6_657, "cnn_wide": 220_225, "cnn_multi": 630_088},
}


def shipped(name: str) -> dict:
    return config.load_config(ROOT / "config" / name)


@pytest.mark.parametrize("file", sorted(DEFAULT_PARAMETERS))
def test_default_presets_have_the_tutorial_parameter_counts(file):
    cfg = shipped(file)
    assert set(DEFAULT_PARAMETERS[file]) <= set(cfg["models"])
    for name, expected in DEFAULT_PARAMETERS[file].items():
        inputs = study.training_settings(cfg, name)["inputs"]
        spec = cfg["models"][name]
        model = models.build_model(spec, (14, 14, len(inputs)), name=name, input_channels=inputs)
        assert models.count_parameters(model) == expected, name
        assert sorted(model.output_names) == sorted(spec["targets"]), name
        energy = model.get_layer("energy").get_config()["units"]
        assert energy == models.OUTPUTS[spec["output"]], name
        if spec["targets"] == ["energy"]:
            assert model.output_shape == (None, models.OUTPUTS[spec["output"]]), name


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
    with pytest.raises(schema.ConfigError, match="models.x.head': 'attention' is not one of"):
        models.build_model({"family": "cnn", "blocks": [{"filters": [2]}], "head": "attention"}, INPUT, "x")
    with pytest.raises(schema.ConfigError, match=r"models.model.blocks.0.pool"):
        models.build_model({"family": "cnn", "blocks": [{"filters": [2], "pool": "median"}]}, INPUT)


def test_specs_get_the_schema_defaults():
    spec = models.complete_spec({"family": "resnet", "stages": [{"filters": 8, "blocks": 1}]}, "r")
    assert spec == {
        "family": "resnet",
        "convolution": "square",
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
        "direction_head": "absolute",
        "widths": [],
        "targets": ["energy"],
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
    full = schema.load_schema()
    defs, entry = full["$defs"], full["properties"]["models"]["additionalProperties"]
    assert entry["properties"]["family"]["enum"] == list(models.FAMILIES)
    dispatched = {c["if"]["properties"]["family"]["const"]: c["then"]["$ref"] for c in entry["allOf"]}
    assert dispatched == {f: f"#/$defs/{f}_model" for f in models.FAMILIES}
    assert all(defs[f"{f}_model"]["properties"]["family"] == {"const": f} for f in models.FAMILIES)
    assert defs["cnn_block"]["properties"]["pool"]["enum"] == list(models.POOLING)
    for family in ("cnn", "resnet"):
        assert defs[f"{family}_model"]["properties"]["head"]["enum"] == list(models.HEADS)
    assert defs["output"]["enum"] == list(models.OUTPUTS)
    assert defs["direction_head"]["enum"] == list(models.DIRECTION_HEADS)
    # a width head for every target with a width that is not the gaussian output's (the energy)
    detached = [name for name, t in TARGETS.items() if t.width and not t.gaussian_output]
    assert defs["widths"]["items"]["enum"] == detached == list(models.INITIAL_LOG_WIDTH)
    assert defs["targets"]["items"]["enum"] == list(TARGETS)
    assert defs["training"]["properties"]["loss_weights"]["propertyNames"]["enum"] == list(TARGETS)
    for family in models.FAMILIES:
        properties = defs[f"{family}_model"]["properties"]
        assert properties["output"] == {"$ref": "#/$defs/output", "default": "point"}
        assert properties["targets"] == {"$ref": "#/$defs/targets", "default": ["energy"]}
        assert properties["direction_head"] == {"$ref": "#/$defs/direction_head", "default": "absolute"}
        assert properties["widths"] == {"$ref": "#/$defs/widths", "default": []}


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


# --- targets (airshower.targets): one head per target on a shared body

EVERY_TARGET = list(TARGETS)
MASS_CLASSES = 3  # e.g. proton, helium, iron
UNITS = {"energy": 1, "direction": 3, "core": 2, "xmax": 1, "muon": 1, "mass": MASS_CLASSES}
FAMILY_SPECS = {
    "dense": {"family": "dense", "units": [8]},
    "cnn": {
        "family": "cnn",
        "blocks": [{"filters": [4], "pool": "avg"}],
        "head": "flatten",
        "dense_units": [6],
    },
    "resnet": {"family": "resnet", "stem_filters": 4, "stages": [{"filters": 4, "blocks": 1}]},
}


def test_the_output_units_are_those_of_the_registry():
    assert {**models.DEFAULT_OUTPUT_UNITS, "mass": MASS_CLASSES} == UNITS
    stats = {
        "direction": {},
        "core": {"mean": [0.0, 0.0], "std": [1.0, 1.0]},
        "xmax": {"mean": 0.0, "std": 1.0},
        "muon": {"mean": 1.0, "std": 0.2},
    }
    stats |= {"energy": {}, "mass": {"classes": [1, 4, 56]}}
    assert {name: target.n_outputs(stats[name]) for name, target in TARGETS.items()} == UNITS
    with pytest.raises(ValueError, match="the mass target's output units .* must be given"):
        models.build_model({**FAMILY_SPECS["dense"], "targets": ["energy", "mass"]}, INPUT)


def test_a_multi_target_model_has_one_named_output_per_target():
    spec = {**FAMILY_SPECS["dense"], "targets": EVERY_TARGET}
    model = models.build_model(spec, INPUT, name="multi", n_outputs={"mass": MASS_CLASSES})
    assert sorted(model.output_names) == sorted(EVERY_TARGET)
    for target in EVERY_TARGET:
        layer = model.get_layer(target)
        assert layer.get_config()["units"] == UNITS[target], target
        assert layer.get_config()["activation"] == ("softmax" if target == "mass" else "linear"), target
        assert layer.compute_dtype == "float32", target
    x = np.random.default_rng(2).normal(size=(7, *INPUT)).astype("float32")
    y = model.predict(x, verbose=0)
    assert isinstance(y, dict)
    assert {t: v.shape for t, v in y.items()} == {t: (7, UNITS[t]) for t in EVERY_TARGET}
    np.testing.assert_allclose(y["mass"].sum(axis=1), 1.0, rtol=1e-5)
    assert (y["mass"] > 0).all()
    assert models.model_output(model) == "point"
    gaussian = models.build_model({**spec, "output": "gaussian"}, INPUT, n_outputs={"mass": MASS_CLASSES})
    assert models.model_output(gaussian) == "gaussian"
    assert gaussian.get_layer("energy").get_config()["units"] == 2  # the width is the energy's only
    assert gaussian.get_layer("xmax").get_config()["units"] == 1


def test_the_body_is_shared_and_each_target_adds_its_head_by_hand():
    """dense: Flatten(392) -> Dense(8) once (392*8+8 = 3,144), then one Dense(k) per target on the
    8 features (8k + k): sum k = 1+3+2+1+3+1 = 11, 99 parameters.
    cnn: Conv2D 3x3, 2 -> 4 once (3*3*2*4+4 = 76), AveragePooling to 7x7x4, Flatten(196); each head
    its own Dense(6) (196*6+6 = 1,182) and Dense(k) (6k + k): 6*1,182 + 7*11 = 7,245."""
    n_outputs = {"mass": MASS_CLASSES}
    dense = models.build_model({**FAMILY_SPECS["dense"], "targets": EVERY_TARGET}, INPUT, n_outputs=n_outputs)
    assert models.count_parameters(dense) == 392 * 8 + 8 + 9 * 11
    assert [type(layer).__name__ for layer in dense.layers].count("Dense") == 1 + len(EVERY_TARGET)
    cnn = models.build_model({**FAMILY_SPECS["cnn"], "targets": EVERY_TARGET}, INPUT, n_outputs=n_outputs)
    assert models.count_parameters(cnn) == 76 + 6 * 1182 + 7 * 11
    assert [type(layer).__name__ for layer in cnn.layers].count("Conv2D") == 1  # one body
    # and against the energy-only model: the body and the energy head, plus the other heads
    energy = models.build_model(FAMILY_SPECS["cnn"], INPUT)
    assert models.count_parameters(energy) == 76 + 1182 + 7
    assert models.count_parameters(cnn) - models.count_parameters(energy) == 5 * 1182 + 7 * 10
    # every head reads the same body tensor
    (flatten,) = [layer for layer in cnn.layers if type(layer).__name__ == "Flatten"]
    readers = [layer for layer in cnn.layers if layer.input is flatten.output]
    assert [layer.get_config()["units"] for layer in readers] == [6] * len(EVERY_TARGET)


@pytest.mark.parametrize("family", sorted(FAMILY_SPECS))
@pytest.mark.parametrize("target", [*EVERY_TARGET, "all"])
def test_every_family_builds_with_every_target(family, target):
    targets = EVERY_TARGET if target == "all" else [target]
    spec = {**FAMILY_SPECS[family], "targets": targets}
    model = models.build_model(spec, INPUT, name=family, n_outputs={"mass": MASS_CLASSES})
    x = np.random.default_rng(3).normal(size=(4, *INPUT)).astype("float32")
    y = model(x, training=False)
    outputs = y if isinstance(y, dict) else {targets[0]: y}
    assert set(outputs) == set(targets)
    for name, values in outputs.items():
        values = np.asarray(values)
        assert values.shape == (4, UNITS[name]), name
        assert np.isfinite(values).all(), name
    assert sorted(model.output_names) == sorted(targets)


# The seed tutorial's networks as they were built before the targets (checked against the
# previous airshower.models when the targets came, weights of a seeded build included).
SEED_LAYERS = {
    "fcn": [
        ("InputLayer", {}),
        ("Flatten", {}),
        *[("Dense", {"units": 100, "activation": "elu"})] * 4,
        ("Dropout", {"rate": 0.3}),
        ("Dense", {"units": 1, "activation": "linear"}),
    ],
    "cnn": [
        ("InputLayer", {}),
        ("Conv2D", {"filters": 16, "activation": "relu"}),
        ("AveragePooling2D", {}),
        ("Conv2D", {"filters": 32, "activation": "relu"}),
        ("Flatten", {}),
        ("Dropout", {"rate": 0.3}),
        ("Dense", {"units": 1, "activation": "linear"}),
    ],
}


@pytest.mark.parametrize("name", sorted(SEED_LAYERS))
def test_an_energy_model_is_layer_for_layer_the_seed_network(name):
    import keras

    cfg = shipped("config.yaml")
    spec = cfg["models"][name]
    assert spec["targets"] == ["energy"]  # the default
    built = {}
    for key, variant in {"default": spec, "explicit": {**spec, "targets": ["energy"]}}.items():
        keras.utils.set_random_seed(5)
        built[key] = models.build_model(variant, (14, 14, 2), name=name)
    model = built["default"]
    assert models.count_parameters(model) == DEFAULT_PARAMETERS["config.yaml"][name]
    assert (model.output_names, model.output_shape) == (["energy"], (None, 1))
    layers = [(type(layer).__name__, layer.get_config()) for layer in model.layers]
    assert [kind for kind, _ in layers] == [kind for kind, _ in SEED_LAYERS[name]]
    for (_, config_), (_, expected) in zip(layers, SEED_LAYERS[name], strict=True):
        assert {k: config_[k] for k in expected} == expected
    assert model.layers[-1].name == "energy"
    same = zip(model.get_weights(), built["explicit"].get_weights(), strict=True)
    assert all(np.array_equal(a, b) for a, b in same)


def test_a_width_head_does_not_train_the_reconstruction():
    """The width's likelihood reaches the width head only: its gradient on every other weight is
    zero, so the reconstruction is trained by the point loss alone (models.width_head)."""
    import keras
    import tensorflow as tf

    from airshower.training import losses

    spec = {"family": "dense", "units": [8], "targets": ["core", "xmax"], "widths": ["core", "xmax"]}
    model = models.build_model(spec, (3, 3, 2), n_outputs={"core": 2, "xmax": 1})
    assert model.get_layer("core").output.shape[-1] == 3
    assert model.get_layer("xmax").output.shape[-1] == 2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3, 3, 2)).astype("float32")
    y = {
        "core": rng.normal(size=(64, 2)).astype("float32"),
        "xmax": rng.normal(size=(64, 1)).astype("float32"),
    }
    with tf.GradientTape() as tape:
        out = model(x)
        nll = sum(
            losses.point_and_width_loss(models.TARGETS[t].width_dims)(y[t], out[t])
            - keras.ops.mean(keras.ops.square(y[t] - out[t][:, :-1]))
            for t in ("core", "xmax")
        )
    grads = dict(
        zip(
            [v.path for v in model.trainable_variables],
            tape.gradient(nll, model.trainable_variables),
            strict=True,
        )
    )
    width_weights = [p for p in grads if "_log_width" in p]
    assert len(width_weights) == 4  # kernel and bias of each width head
    for path, grad in grads.items():
        if path in width_weights:
            assert np.any(np.asarray(grad) != 0), path
        else:
            assert grad is None or not np.any(np.asarray(grad)), path
    # the first width: 1 standard deviation of the standardized target (log 0)
    np.testing.assert_allclose(model.get_layer("xmax_log_width").bias.numpy(), [0.0])

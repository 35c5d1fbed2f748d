"""Split and normalization: sizes, disjointness, no leak from val/test, exact round trips; the
channels and the target of each model."""

from __future__ import annotations

import numpy as np
import pytest

from airshower import inputs as input_registry
from airshower import normalization, schema
from airshower import preparation as prep
from airshower import targets as registry
from conftest import fake_showers


def settings(**kw):
    base = {"fractions": {"train": 0.7, "val": 0.15, "test": 0.15}}
    base.update(kw)
    return prep.PreparationSettings.from_config(base)


def test_settings_and_the_schema_enums_are_the_registries():
    assert settings() == prep.PreparationSettings(
        fractions={"train": 0.7, "val": 0.15, "test": 0.15},
        evaluated_log10_energy_ev=None,
        memory_budget_mb=8000,
    )
    props = schema.load_schema()["$defs"]["training"]["properties"]
    assert props["target_transform"]["enum"] == list(registry.TARGET_TRANSFORMS)
    assert props["inputs"]["items"]["enum"] == [*prep.CHANNELS, input_registry.TRACE]
    with pytest.raises(schema.ConfigError, match="training.target_transform"):
        schema.complete_section(
            "training",
            {"seeds": [1], "epochs": 1, "batch_size": 1, "learning_rate": 0.1, "target_transform": "sqrt"},
        )


@pytest.mark.parametrize(
    ("key", "value", "now"),
    [("mask_channel", True, "training.inputs"), ("target_transform", "log10", "training.target_transform")],
)
def test_moved_keys_say_where_they_went(key, value, now):
    with pytest.raises(schema.ConfigError) as info:
        settings(**{key: value})
    message = str(info.value)
    assert message.startswith(f"config key 'preparation.{key}' has moved: ")
    assert now in message
    assert "models.NAME.training" in message


def test_split_sizes_and_disjointness():
    idx = prep.split_indices(1001, {"train": 0.7, "val": 0.15, "test": 0.15}, np.random.default_rng(0))
    assert {k: len(v) for k, v in idx.items()} == {"train": 700, "val": 150, "test": 151}
    union = np.concatenate(list(idx.values()))
    assert len(np.unique(union)) == 1001
    assert union.min() == 0
    assert union.max() == 1000


def test_split_is_reproducible_and_seed_dependent():
    fr = {"train": 0.5, "val": 0.25, "test": 0.25}
    a = prep.split_indices(100, fr, np.random.default_rng(1))
    b = prep.split_indices(100, fr, np.random.default_rng(1))
    c = prep.split_indices(100, fr, np.random.default_rng(2))
    np.testing.assert_array_equal(a["test"], b["test"])
    assert not np.array_equal(a["test"], c["test"])


def test_impossible_split_is_refused():
    with pytest.raises(ValueError, match="every split needs events"):
        prep.split_sizes(5, {"train": 0.8, "val": 0.1, "test": 0.1})


def test_normalization_uses_training_split_only():
    data = fake_showers(400, np.random.default_rng(3))
    splits, norm = prep.prepare(data, settings(), np.random.default_rng(4))
    tr = splits["train"]["index"]
    s = data["signal"][tr]
    log_s = np.log10(1 + s[np.isfinite(s)].astype(np.float64))
    assert norm["signal"]["mean"] == pytest.approx(log_s.mean(), rel=1e-12)
    energy = data["energy"][tr].astype(np.float64)
    assert "target" not in norm  # every target's statistics are under "targets"
    assert list(norm["targets"]) == ["energy", "direction", "core", "xmax", "muon"]  # one mass: no mass
    stats = norm["targets"]["energy"]["transforms"]
    assert list(stats) == list(registry.TARGET_TRANSFORMS)
    assert stats["linear"]["mean"] == pytest.approx(energy.mean(), rel=1e-12)
    assert stats["linear"]["std"] == pytest.approx(energy.std(), rel=1e-12)
    assert stats["log10"]["mean"] == pytest.approx(np.log10(energy).mean(), rel=1e-12)
    assert stats["log10"]["std"] == pytest.approx(np.log10(energy).std(), rel=1e-12)
    # standardized on train: mean 0, std 1 over triggered stations / events
    x = splits["train"]["x"]
    trig = np.isfinite(data["signal"][tr])
    assert x[..., 1][trig].mean() == pytest.approx(0, abs=1e-5)
    assert x[..., 1][trig].std() == pytest.approx(1, abs=1e-5)
    for transform in registry.TARGET_TRANSFORMS:
        y = registry.transform_target(splits["train"]["energy"], norm, transform)
        assert y.dtype == np.float32
        assert y.mean() == pytest.approx(0, abs=1e-5)
        assert y.std() == pytest.approx(1, abs=1e-5)
    # silent stations are exactly 0 and finite everywhere
    for split in splits.values():
        assert np.all(np.isfinite(split["x"]))
        assert "y" not in split  # the target is the model's (training.target_transform)
    assert np.all(x[..., :2][~trig] == 0)


@pytest.mark.parametrize("transform", ["linear", "log10"])
def test_target_round_trip(transform):
    data = fake_showers(200, np.random.default_rng(5))
    splits, norm = prep.prepare(data, settings(), np.random.default_rng(6))
    for split in splits.values():
        back = registry.inverse_target(
            registry.transform_target(split["energy"], norm, transform), norm, transform
        )
        np.testing.assert_allclose(back, split["energy"], rtol=1e-5)


def test_every_channel_is_prepared_time_relative_and_mask_of_triggered_stations():
    data = fake_showers(100, np.random.default_rng(7))
    shifted = dict(data, time=data["time"] + 123.0)  # a global time offset carries no information
    a, norm = prep.prepare(data, settings(), np.random.default_rng(8))
    b, _ = prep.prepare(shifted, settings(), np.random.default_rng(8))
    np.testing.assert_allclose(a["test"]["x"], b["test"]["x"], atol=1e-3)
    assert norm["channels"] == list(prep.CHANNELS)
    assert prep.CHANNELS[:3] == ("time", "signal", "mask")  # the seed's channels first, in order
    mask = a["test"]["x"][..., 2]
    np.testing.assert_array_equal(mask, np.isfinite(data["signal"][a["test"]["index"]]))


def test_the_seed_models_channels_are_those_of_a_two_channel_preparation():
    """time and signal of the three-channel x are, bit for bit, what x was with two channels."""
    data = fake_showers(100, np.random.default_rng(9))
    splits, norm = prep.prepare(data, settings(), np.random.default_rng(10))
    idx = splits["val"]["index"]
    two = normalization.transform_inputs(
        data["time"][idx], data["signal"][idx], {**norm, "channels": ["time", "signal"]}
    )
    assert np.array_equal(normalization.select_channels(splits["val"]["x"], norm, ("time", "signal")), two)


def test_inputs_by_hand():
    """One event of 2 x 2 stations, two of them triggered, with hand-picked statistics."""
    norm = {
        "channels": ["time", "signal", "mask", "working"],
        "signal": {"mean": 1.0, "std": 0.5},
        "time": {"mean": 0.0, "std": 2.0},
    }
    signal = np.array([[[9.0, np.nan], [99.0, np.nan]]])  # log10(1 + S) = 1, 2
    time = np.array([[[1.0, np.nan], [3.0, np.nan]]])  # event mean 2: -1, +1
    x = normalization.transform_inputs(time, signal, norm)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x[0, ..., 0], [[-0.5, 0.0], [0.5, 0.0]])  # (t - 2) / 2
    np.testing.assert_array_equal(x[0, ..., 1], [[0.0, 0.0], [2.0, 0.0]])  # (log10(1 + S) - 1) / 0.5
    np.testing.assert_array_equal(x[0, ..., 2], [[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(x[0, ..., 3], [[1.0, 1.0], [1.0, 1.0]])  # no list: all working
    dead = normalization.transform_inputs(time, signal, norm, working=np.array([[[1, 0], [1, 1]]], np.uint8))
    np.testing.assert_array_equal(dead[0, ..., 3], [[1.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="need the station positions and the plane fit's axis"):
        normalization.transform_inputs(time, signal, {**norm, "channels": ["time", "residual"]})


def test_channel_selection_by_hand():
    norm = {"channels": ["time", "signal", "mask"]}
    x = np.zeros((2, 3, 3, 3), np.float32) + np.array([10.0, 20.0, 30.0], np.float32)  # channel k: 10 (k + 1)
    for inputs, values in [
        (["time", "signal"], [10, 20]),
        (["time", "signal", "mask"], [10, 20, 30]),
        (["mask", "time"], [30, 10]),  # the model's order
        (["signal"], [20]),
    ]:
        picked = normalization.select_channels(x, norm, inputs)
        assert picked.shape == (2, 3, 3, len(inputs))
        np.testing.assert_array_equal(picked[0, 0, 0], values)
    with pytest.raises(
        ValueError, match="input channel 'mask' is not in the prepared data .channels time, signal."
    ):
        normalization.select_channels(x[..., :2], {"channels": ["time", "signal"]}, ["time", "mask"])
    with pytest.raises(ValueError, match="inputs have 2 channels, the normalization names 3"):
        normalization.select_channels(x[..., :2], norm, ["time"])


def test_targets_by_hand():
    norm = {
        "targets": {
            "energy": {
                "transforms": {"linear": {"mean": 10.0, "std": 5.0}, "log10": {"mean": 1.0, "std": 0.5}}
            }
        }
    }
    energy = np.array([5.0, 10.0, 100.0], np.float32)
    linear = registry.transform_target(energy, norm, "linear")
    log10 = registry.transform_target(energy, norm, "log10")
    assert linear.dtype == log10.dtype == np.float32
    np.testing.assert_array_equal(linear, [-1.0, 0.0, 18.0])  # (E - 10) / 5
    np.testing.assert_allclose(log10, [(np.log10(5) - 1) / 0.5, 0.0, 2.0], rtol=1e-7)  # (log10 E - 1) / 0.5
    np.testing.assert_allclose(registry.inverse_target([-1.0, 18.0], norm, "linear"), [5.0, 100.0])
    np.testing.assert_allclose(registry.inverse_target([0.0, 2.0], norm, "log10"), [10.0, 100.0], rtol=1e-12)
    split = {"x": np.ones((3, 2, 2, len(prep.CHANNELS)), np.float32), "energy": energy}
    x, y = prep.network_arrays(split, {**norm, "channels": list(prep.CHANNELS)}, ["mask"], "log10")
    assert x.shape == (3, 2, 2, 1)
    assert y.shape == (3, 1)  # the energy target is one output column
    np.testing.assert_array_equal(y[:, 0], log10)
    with pytest.raises(ValueError, match="target transform 'sqrt' has no statistics"):
        registry.transform_target(energy, norm, "sqrt")


def test_the_evaluated_energy_range_cuts_validation_and_test_only():
    """Energies 3-100 EeV, evaluated 10-50 EeV (log10 19.0-19.699): the validation and test
    splits keep only those, the training split every event, the same events as without the cut."""
    data = fake_showers(600, np.random.default_rng(11))
    full = prep.PreparationSettings.from_config({"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}})
    cut = prep.PreparationSettings.from_config(
        {
            "fractions": {"train": 0.6, "val": 0.2, "test": 0.2},
            "evaluated_log10_energy_ev": [19.0, np.log10(5e19)],
        }
    )
    every, _ = prep.prepare(data, full, np.random.default_rng(1))
    kept, _ = prep.prepare(data, cut, np.random.default_rng(1))
    np.testing.assert_array_equal(kept["train"]["index"], every["train"]["index"])
    for name in ("val", "test"):
        inside = (every[name]["energy"] >= 10.0) & (every[name]["energy"] < 50.0)
        np.testing.assert_array_equal(kept[name]["index"], every[name]["index"][inside])
        np.testing.assert_array_equal(kept[name]["x"], every[name]["x"][inside])
        assert 0 < inside.sum() < inside.size
    assert prep.evaluated(np.array([9.99, 10.0, 49.99, 50.0]), [19.0, np.log10(5e19)]).tolist() == [
        False,
        True,
        True,
        False,
    ]
    assert prep.evaluated(np.array([1.0, 1e3]), None).all()


def test_an_evaluated_range_beyond_the_simulated_one_is_a_config_error(test_config):
    from airshower.config import validate_config

    test_config["preparation"]["evaluated_log10_energy_ev"] = [18.4, 19.5]
    with pytest.raises(schema.ConfigError, match="evaluated_log10_energy_ev.*beyond the simulated"):
        validate_config(test_config)

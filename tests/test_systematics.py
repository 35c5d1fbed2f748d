"""Test variants: overrides reach the simulation settings, the detector (dead stations, signal
scale), the variants' own streams and size, files deterministic, and the shift metrics against
hand-computed cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from airshower import contract, io, normalization, preparation, schema, simulation
from airshower import systematics as sy

NOMINAL = schema.complete_section("simulation", {"n_events": 50000, "n_shards": 5})
SECTION = schema.complete_section("systematics", {"run": ["sibyll", "dead10", "scale+5"]})
SETTINGS = sy.SystematicsSettings.from_config(SECTION)
PLAIN = sy.VariantSettings(simulation={}, factors={}, dead_fraction=0.0, signal_scale=1.0)


def variant_sim(name: str, n_events: int = 7500) -> simulation.SimulationSettings:
    return sy.simulation_settings(NOMINAL, SETTINGS.variant(name), name, n_events)


def test_default_variants_and_run():
    assert list(SETTINGS.variants) == [
        "qgsjet", "sibyll", "iron", "dead5", "dead10", "dead20", "dead30", "scale+5", "scale-5", "jitter2",
    ]  # fmt: skip
    assert SETTINGS.run == ("sibyll", "dead10", "scale+5")
    assert schema.complete_section("systematics", {})["run"] == []  # none unless asked
    assert SETTINGS.variant("dead10").dead_fraction == 0.1
    assert SETTINGS.variant("scale-5").signal_scale == 0.95


@pytest.mark.parametrize(
    ("name", "changed"),
    [
        ("sibyll", {"interaction_model": "Sibyll2.1"}),
        ("qgsjet", {"interaction_model": "QGSJetII-04"}),
        ("iron", {"composition": simulation.Composition((56,), (1.0,))}),
        ("jitter2", {"timing": dataclasses.replace(variant_sim("dead5").timing, jitter_ns=120.0)}),
        ("dead10", {}),
        ("scale+5", {}),
    ],
)
def test_a_variant_changes_only_its_overrides(name, changed):
    nominal = simulation.SimulationSettings.from_config({**NOMINAL, "n_events": 7500, "n_shards": 1})
    assert variant_sim(name) == nominal.replace(**changed)


def test_variant_size_is_the_nominal_test_split():
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    assert sy.test_size(50000, fractions) == preparation.split_sizes(50000, fractions)["test"] == 7500
    section = sy.simulation_section(NOMINAL, SETTINGS.variant("sibyll"), "sibyll", 7500)
    assert (section["n_events"], section["n_shards"], section["block_size"]) == (7500, 1, 1000)
    assert NOMINAL["interaction_model"] == "EPOS-LHC"  # the nominal section is not touched


def test_merge_keeps_the_nominal_siblings():
    variant = dataclasses.replace(PLAIN, simulation={"timing": {"jitter_ns": 10.0}})
    section = sy.simulation_section(NOMINAL, variant, "v", 100)
    assert section["timing"] == {**NOMINAL["timing"], "jitter_ns": 10.0}


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ({"simulation": {"n_events": 5}}, "n_events"),
        ({"factors": {"timing.nothing": 2.0}}, "not a numeric key"),
        ({"factors": {"interaction_model": 2.0}}, "not a numeric key"),
        ({"simulation": {"interaction_model": "QGSJet"}}, "variant 'bad'"),
        ({"simulation": {"timing": {"jitter_ns": -1.0}}}, "jitter_ns"),
    ],
)
def test_invalid_variants_name_their_key(variant, message):
    def check():
        section = schema.complete_section("systematics", {"variants": {"bad": variant}})
        sy.check_config({"systematics": section, "simulation": NOMINAL})

    with pytest.raises(schema.ConfigError, match=message):
        check()


def test_schema_checks_names_and_run():
    with pytest.raises(schema.ConfigError, match="does not match"):
        schema.complete_section("systematics", {"variants": {"Bad_name": {}}})
    with pytest.raises(schema.ConfigError, match="dead_fraction"):
        schema.complete_section("systematics", {"variants": {"x": {"dead_fraction": 1.0}}})
    with pytest.raises(schema.ConfigError, match="not defined"):
        sy.SystematicsSettings.from_config({"run": ["nope"]})


def test_each_variant_has_its_own_streams():
    seeds = {name: sy.variant_seed(7, name) for name in SETTINGS.variants}
    assert len(set(seeds.values())) == len(seeds)
    assert sy.variant_seed(7, "sibyll") == seeds["sibyll"]  # deterministic
    assert sy.variant_seed(8, "sibyll") != seeds["sibyll"]
    assert all(0 <= s < 2**63 for s in seeds.values())  # an int64 file attribute
    a = sy.detector_generator(7, "dead10").random(4)
    np.testing.assert_array_equal(a, sy.detector_generator(7, "dead10").random(4))
    assert not np.array_equal(a, sy.detector_generator(7, "dead5").random(4))


def test_dead_stations_are_the_fraction_per_event_and_deterministic():
    dead = sy.dead_stations(500, 196, 0.1, np.random.default_rng(3))
    assert np.all(dead.sum(axis=1) == 20)  # round(19.6)
    assert np.all(sy.dead_stations(50, 196, 0.05, np.random.default_rng(3)).sum(axis=1) == 10)
    np.testing.assert_array_equal(dead, sy.dead_stations(500, 196, 0.1, np.random.default_rng(3)))
    assert not np.array_equal(dead, sy.dead_stations(500, 196, 0.1, np.random.default_rng(4)))
    assert abs(dead.mean(axis=0) - 0.102).max() < 0.1  # every station alike
    assert not sy.dead_stations(5, 196, 0.0, np.random.default_rng(3)).any()


TINY = schema.complete_section("simulation", {"n_events": 200, "block_size": 40})


def tiny(variant: sy.VariantSettings, name: str = "v", seed: int = 7):
    return sy.simulate_variant(TINY, variant, name, seed, 90)


@pytest.fixture(scope="module")
def plain():
    return tiny(PLAIN)[0]


def test_variant_simulation_is_deterministic_and_its_own(plain):
    again, section = tiny(PLAIN)
    for key, array in plain.items():
        np.testing.assert_array_equal(array, again[key], err_msg=key)
    assert len(plain["energy"]) == 90
    assert section["n_events"] == 90
    nominal = simulation.simulate_events(simulation.SimulationSettings.from_config(TINY), 7, [0, 1, 2])
    assert not np.array_equal(plain["energy"], nominal["energy"][:90])  # not the nominal showers
    assert not np.array_equal(plain["energy"], tiny(PLAIN, name="w")[0]["energy"])


def test_signal_scale_multiplies_the_signals_of_the_same_showers(plain):
    scaled, _ = tiny(dataclasses.replace(PLAIN, signal_scale=1.05))
    np.testing.assert_array_equal(np.isnan(scaled["signal"]), np.isnan(plain["signal"]))  # same trigger
    np.testing.assert_array_equal(scaled["signal"], (plain["signal"] * 1.05).astype(np.float32))
    np.testing.assert_array_equal(scaled["time"], plain["time"])


def test_dead_stations_are_written_as_silent_ones(plain):
    data, section = tiny(dataclasses.replace(PLAIN, dead_fraction=0.1))
    dead = sy.dead_stations(90, 196, 0.1, sy.detector_generator(7, "v")).reshape(90, 14, 14)
    silent = np.isnan(plain["signal"])
    np.testing.assert_array_equal(np.isnan(data["signal"]), silent | dead)
    np.testing.assert_array_equal(np.isnan(data["time"]), silent | dead)
    np.testing.assert_array_equal(data["signal"][~dead], plain["signal"][~dead])
    assert contract.check_showers(data, "variant", contract.shower_limits({"config": io.json.dumps(section)}))


def test_detector_zeroes_the_traces_of_dead_stations():
    data = {
        "time": np.zeros((3, 2, 2), np.float32),
        "signal": np.full((3, 2, 2), 10.0, np.float32),
        "trace_em": np.ones((3, 2, 2, 4), np.float32),
    }
    variant = dataclasses.replace(PLAIN, dead_fraction=0.5, signal_scale=2.0)
    dead = sy.apply_detector(data, variant, np.random.default_rng(0))
    assert np.all(dead.sum(axis=(1, 2)) == 2)
    assert np.all(data["trace_em"][dead] == 0)
    assert np.all(data["trace_em"][~dead] == 2.0)
    assert np.all(data["signal"][~dead] == 20.0)


def test_variant_files_are_deterministic_and_prepared_with_the_nominal_normalization(tmp_path):
    norm = {
        "channels": ["time", "signal", "mask", "working"],
        "signal": {"mean": 1.5, "std": 0.5},
        "time": {"mean": 0.0, "std": 2.0},
    }
    variant = dataclasses.replace(PLAIN, dead_fraction=0.05)
    paths = []
    for i in range(2):
        data, section = tiny(variant)
        path = tmp_path / f"showers{i}.h5"
        attrs = sy.variant_attrs("v", section, {"dead_fraction": 0.05}, 7)
        io.write_h5(path, data, units=io.shower_units(), attrs=attrs)
        paths.append(path)
    first, second = (io.read_showers(p) for p in paths)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    assert io.read_attrs(paths[0])["variant"] == "v"
    first["front_axis"] = first["axis"]  # the prepare job's plane fit (not used by these channels)
    test = sy.prepare_variant(first, norm)
    np.testing.assert_array_equal(
        test["x"], normalization.transform_inputs(first["time"], first["signal"], norm, first["working"])
    )
    assert test["x"][..., 3].mean() == pytest.approx(1 - round(0.05 * 196) / 196)  # the dead stations
    np.testing.assert_array_equal(test["index"], np.arange(90))
    assert set(test) == {"x", "index", *preparation.LABELS, "muon"}  # the simulation's muon label


# ---------------------------------------------------------------------------------------------
# shift metrics


def predictions(true, pred):
    return {"energy_true": np.asarray(true, float), "energy_pred": np.asarray(pred, float)}


def test_energy_shift_by_hand():
    """Nominal residuals -0.1, 0.1, 0, 0 (bias 0, std sqrt(0.02 / 3)); the variant's -0.1, 0.3,
    0.1, 0.1: bias 0.1 (a shift of 10 percentage points), std twice the nominal (+100 %)."""
    nominal = predictions([10, 20, 5, 40], [9, 22, 5, 40])
    variant = predictions([10, 20, 5, 40], [9, 26, 5.5, 44])
    out = sy.energy_shift(nominal, variant, np.random.default_rng(0), 50)
    bias, res = out["relative_bias"], out["relative_resolution"]
    assert bias["nominal"] == pytest.approx(0.0, abs=1e-12)
    assert bias["variant"] == pytest.approx(0.1)
    assert bias["shift"] == pytest.approx(0.1)
    assert res["nominal"] == pytest.approx(np.sqrt(0.02 / 3))
    assert res["variant"] == pytest.approx(2 * np.sqrt(0.02 / 3))
    assert res["shift"] == pytest.approx(1.0)
    assert res["relative"]
    assert not bias["relative"]


def test_a_signal_scale_shifts_the_calibrated_energy_bias():
    """E = A S^B: every signal x 1.05 gives every energy x 1.05^B, the bias shift
    (1.05^B - 1)(1 + nominal bias)."""
    b = 0.93
    assert sy.calibration_bias_shift(1.05, b) == pytest.approx(1.05**b - 1)
    rng = np.random.default_rng(1)
    true = rng.uniform(3, 100, 400)
    pred = true * rng.lognormal(0.02, 0.15, 400)
    out = sy.energy_shift(predictions(true, pred), predictions(true, pred * 1.05**b), rng, 20)
    nominal_bias = np.mean(pred / true - 1)
    assert out["relative_bias"]["shift"] == pytest.approx((1.05**b - 1) * (1 + nominal_bias))
    assert out["relative_resolution"]["shift"] == pytest.approx(1.05**b - 1)


def test_bootstrap_resamples_both_samples_independently():
    """The same sample as nominal and variant: the shift is 0, but its interval is that of two
    independent means, about -+ sqrt(2) sigma / sqrt(n) (a paired resample would give 0)."""
    sample = np.random.default_rng(2).normal(0, 1, 100)
    out = sy.bootstrap_shift(sample, sample, np.mean, np.random.default_rng(3), 2000)
    assert out["shift"] == 0.0
    low, high = out["interval"]
    half = np.sqrt(2) * sample.std() / np.sqrt(100)
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    constant = sy.bootstrap_shift(sample, sample + 1, lambda _: 3.0, np.random.default_rng(3), 10)
    assert constant["interval"] == [0.0, 0.0]


def test_bootstrap_takes_any_statistic_of_joint_arrays():
    nominal = {"a": np.arange(10.0), "b": np.arange(10.0)}
    variant = {"a": np.arange(10.0), "b": np.arange(10.0) + 2}
    out = sy.bootstrap_shift(
        nominal, variant, lambda s: np.mean(s["b"] - s["a"]), np.random.default_rng(0), 30
    )
    assert out["shift"] == 2.0
    assert out["interval"] == pytest.approx([2.0, 2.0])  # rows resampled together: b - a stays
    with pytest.raises(ValueError, match="length"):
        sy.bootstrap_shift({"a": np.ones(3), "b": np.ones(4)}, variant, np.size, np.random.default_rng(0), 2)


def test_simulation_section_rejects_a_size_override():
    variant = dataclasses.replace(PLAIN, simulation={"n_shards": 3})
    with pytest.raises(schema.ConfigError, match="test split"):
        sy.simulation_section(NOMINAL, variant, "v", 10)

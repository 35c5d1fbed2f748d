"""HDF5/JSON I/O: atomic writes, contract checks and errors that name file and dataset."""

from __future__ import annotations

import io as _io
import os
import stat
import zipfile

import numpy as np
import pytest

from airshower import io, normalization, predictionfile, preparation
from conftest import ROOT, fake_showers


def test_round_trip_keeps_values_units_and_attrs(tmp_path):
    data = fake_showers(50, np.random.default_rng(1))
    del data["front_axis"], data["ldf_s1000"]  # the prepare job's reference fit, not raw-shower datasets
    path = tmp_path / "s.h5"
    io.write_h5(path, data, units=io.shower_units(), attrs=io.provenance({"n_events": 50}, seed=3))
    back = io.read_showers(path)
    for key, value in data.items():
        np.testing.assert_array_equal(back[key], value)
    attrs = io.read_attrs(path)
    assert attrs["seed"] == 3
    assert '"n_events": 50' in attrs["config"]
    assert "numpy" in attrs["package_versions"]
    import h5py

    with h5py.File(path) as fh:
        assert fh["time"].attrs["unit"] == "us"
        assert fh["energy"].attrs["unit"] == "EeV"


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(io.DataError, match="nope.h5: file does not exist"):
        io.read_h5(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"this is not hdf5")
    with pytest.raises(io.DataError, match="bad.h5: not a readable HDF5 file"):
        io.read_h5(bad)


def test_damaged_files_say_what_to_run(tmp_path):
    """A truncated HDF5 file and an invalid JSON file exist and are newer than their inputs, so a
    plain rerun fails the same way: the message names the --forcerun that makes them again."""
    good = tmp_path / "predictions.h5"
    io.write_h5(good, {"energy_true": np.arange(5000.0)})
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(io.DataError, match=rf"cut.h5: not a readable HDF5 file .*--forcerun {cut}$"):
        io.read_h5(cut)
    broken = tmp_path / "normalization.json"
    broken.write_text('{"channels": ["time"')
    with pytest.raises(io.DataError, match=rf"not valid JSON .*--forcerun {broken}$"):
        io.read_json(broken)


def test_normalization_without_its_statistics_names_file_and_key(tmp_path):
    _, norm = preparation.prepare(
        fake_showers(100, np.random.default_rng(1)),
        preparation.PreparationSettings.from_config({"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}}),
        np.random.default_rng(2),
    )
    path = tmp_path / "normalization.json"
    io.write_json(path, norm)
    assert normalization.read_normalization(path) == io.read_json(path)
    io.write_json(path, {k: v for k, v in norm.items() if k != "signal"})
    with pytest.raises(
        io.DataError, match=rf"normalization.json: no statistics 'signal' .*--forcerun {path}"
    ):
        normalization.read_normalization(path)
    io.write_json(path, {**norm, "residual": {"mean": 0.0}})
    with pytest.raises(io.DataError, match="statistics 'residual' lack a numeric mean and std"):
        normalization.read_normalization(path)


def test_missing_dataset_and_nan_labels_are_named(tmp_path):
    data = fake_showers(10, np.random.default_rng(2))
    del data["xmax"]
    io.write_h5(tmp_path / "a.h5", data)
    with pytest.raises(io.DataError, match="a.h5: dataset 'xmax' is missing"):
        io.read_showers(tmp_path / "a.h5")
    data = fake_showers(10, np.random.default_rng(2))
    data["energy"][3] = np.nan
    io.write_h5(tmp_path / "b.h5", data)
    with pytest.raises(io.DataError, match="b.h5: dataset 'energy' has NaN"):
        io.read_showers(tmp_path / "b.h5")


def test_contract_shape_and_trigger_consistency():
    data = fake_showers(10, np.random.default_rng(3))
    data["time"][0, 0, 0] = np.nan
    data["signal"][0, 0, 0] = 5.0
    with pytest.raises(io.DataError, match="disagree on which stations triggered"):
        io.check_showers(data, "x.h5")
    data = fake_showers(10, np.random.default_rng(3))
    data["core"] = data["core"][:, :1]
    with pytest.raises(io.DataError, match="'core' has shape"):
        io.check_showers(data, "x.h5")


def test_failed_write_leaves_previous_file_untouched(tmp_path):
    path = tmp_path / "keep.json"
    io.write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        io.write_json(path, {"a": object()})
    assert io.read_json(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]  # no temp file left


def test_json_writes_nan_as_null(tmp_path):
    io.write_json(tmp_path / "m.json", {"x": float("nan"), "y": np.float32(2.5), "z": np.arange(2)})
    assert io.read_json(tmp_path / "m.json") == {"x": None, "y": 2.5, "z": [0, 1]}


def test_record_readers_name_what_is_missing(tmp_path):
    io.write_json(tmp_path / "summary.json", {"target": "core", "models": {"cnn": {"n_seeds": 1}}})
    assert io.read_table_models(tmp_path / "summary.json", ["cnn"]) == {"cnn": {"n_seeds": 1}}
    with pytest.raises(io.DataError, match="summary.json: no entry for model.s. fcn, baseline"):
        io.read_table_models(tmp_path / "summary.json", ["cnn", "fcn", "baseline"])
    with pytest.raises(io.DataError, match="summary.json: no variants, shifts: not a systematics summary"):
        io.read_record(tmp_path / "summary.json", ["variants", "models", "shifts"], "a systematics summary")
    io.write_json(tmp_path / "convergence.json", {"convergence": {"cnn": [{"seed": 1, "converged": True}]}})
    assert io.read_convergence(tmp_path / "convergence.json")["cnn"][0]["converged"]
    with pytest.raises(io.DataError, match="summary.json: no convergence: not a convergence record"):
        io.read_convergence(tmp_path / "summary.json")
    io.write_json(tmp_path / "calibration.json", {"A": 0.1, "B": 1.05})
    assert io.read_calibration_exponent(tmp_path / "calibration.json") == 1.05
    io.write_json(tmp_path / "bad.json", {"A": 0.1, "B": "x"})
    with pytest.raises(io.DataError, match="bad.json: no calibration exponent 'B'"):
        io.read_calibration_exponent(tmp_path / "bad.json")


def test_predictions_reader_names_a_required_reconstruction(tmp_path):
    n = 3
    truths = {
        "index": np.arange(n),
        "energy_true": np.full(n, 10.0),
        "zenith": np.zeros(n),
        "mass": np.ones(n),
        "xmax": np.full(n, 750.0),
        "axis_true": np.tile([0.0, 0.0, 1.0], (n, 1)),
        "core_true": np.zeros((n, 2)),
    }
    io.write_h5(tmp_path / "predictions.h5", {**truths, "energy_pred": np.full(n, 11.0)})
    assert "energy_pred" in predictionfile.read_predictions(
        tmp_path / "predictions.h5", require=["energy_pred"]
    )
    with pytest.raises(io.DataError, match="predictions.h5: no dataset.s. energy_sigma"):
        predictionfile.read_predictions(tmp_path / "predictions.h5", require=["energy_sigma"])


def test_merge_concatenates_in_order_and_keeps_extras(tmp_path):
    rng = np.random.default_rng(4)
    shards = [fake_showers(n, rng) for n in (7, 5, 9)]
    for i, shard in enumerate(shards):
        shard["trace_muon"] = np.full((len(shard["energy"]), 14, 14, 3), i, np.float32)
        io.write_h5(tmp_path / f"{i}.h5", shard, units=io.shower_units({"trace_muon": "VEM"}))
    merged, units = io.merge_showers([tmp_path / f"{i}.h5" for i in range(3)])
    assert len(merged["energy"]) == 21
    assert merged["signal"].shape == (21, 14, 14)
    np.testing.assert_array_equal(merged["energy"], np.concatenate([s["energy"] for s in shards]))
    np.testing.assert_array_equal(merged["trace_muon"][:, 0, 0, 0], np.repeat([0, 1, 2], [7, 5, 9]))
    np.testing.assert_array_equal(merged["detector"], shards[0]["detector"])
    assert units["trace_muon"] == "VEM"
    assert units["xmax"] == "g/cm^2"


def test_merge_rejects_inconsistent_shards(tmp_path):
    rng = np.random.default_rng(5)
    a, b = fake_showers(4, rng), fake_showers(4, rng)
    b["detector"] = b["detector"] + 1
    io.write_h5(tmp_path / "a.h5", a)
    io.write_h5(tmp_path / "b.h5", b)
    with pytest.raises(io.DataError, match="b.h5: dataset 'detector' differs"):
        io.merge_showers([tmp_path / "a.h5", tmp_path / "b.h5"])


def test_atomic_write_gets_umask_permissions_not_0600(tmp_path):
    """Results are shared on clusters: a written file is group/world readable as the umask allows."""
    old = os.umask(0o022)
    try:
        io.write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644


# --- physical ranges: checked when a file is read, naming file, dataset and the first event

SIMULATED = {"config": '{"log10_energy_ev": [18.5, 20.0]}'}  # provenance: 3.162 to 100 EeV


def _showers(n=20, seed=6):
    data = fake_showers(n, np.random.default_rng(seed))
    data["energy"] = np.linspace(10**0.5, 100, n).astype(np.float32)  # the edges included
    return data


def _write_read(tmp_path, data, attrs=SIMULATED):
    io.write_h5(tmp_path / "showers.h5", data, units=io.shower_units(), attrs=attrs)
    return io.read_showers(tmp_path / "showers.h5")


def test_energies_at_the_edges_of_the_simulated_range_pass(tmp_path):
    data = _showers()
    data["energy"][0] = np.nextafter(np.float32(10**0.5), np.float32(0))  # a float32 step below
    assert data["energy"][0] < 10**0.5
    assert data["energy"][-1] == 100
    assert len(_write_read(tmp_path, data)["energy"]) == 20


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1e30, "1e+30 EeV"), (-5.0, "-5 EeV"), (0.0, "0 EeV"), (3.1, "3.1 EeV"), (101.0, "101 EeV")],
)
def test_energy_outside_the_simulated_range_names_file_and_event(tmp_path, value, shown):
    data = _showers()
    data["energy"][[7, 12]] = value
    with pytest.raises(io.DataError) as info:
        _write_read(tmp_path, data)
    assert str(info.value) == (
        f"{tmp_path / 'showers.h5'}: dataset 'energy' must be inside the simulated range [3.162, 100] EeV "
        "(simulation.log10_energy_ev = [18.5, 20] from the file's provenance): 2 of 20 events fail this, "
        f"the first is event 7 ({shown})"
    )


def test_without_provenance_the_schema_limits_apply(tmp_path):
    data = _showers()
    data["energy"][3] = 200.0  # outside the default study's range, inside the schema's
    assert _write_read(tmp_path, data, attrs={})["energy"][3] == 200.0
    data["energy"][3] = 1e30
    with pytest.raises(
        io.DataError, match=r"\[0.001, 1e\+04\] EeV \(.*the schema's limits.*event 3 \(1e\+30 EeV\)"
    ):
        _write_read(tmp_path, data, attrs={})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "signal",
            1e30,
            r"'signal' must be finite, >= 0 and <= 1e\+08 VEM where a station triggered \(10 x "
            r"\(station.saturation_vem \+ trigger.threshold_vem\)\): 1 of 20 events fail this, "
            r"the first is event 4 \(1e\+30 VEM at station 0\)",
        ),
        ("signal", -1.0, r"'signal' must be finite, >= 0 .* event 4 \(-1 VEM at station 0\)"),
        ("signal", np.inf, r"'signal' must be finite, >= 0 .* event 4 \(inf VEM at station 0\)"),
        (
            "time",
            np.inf,
            r"'time' must be finite where a station triggered .* event 4 \(inf us at station 0\)",
        ),
    ],
)
def test_impossible_station_values_name_event_and_station(tmp_path, name, value, message):
    data = _showers()
    data["time"][4, 0, 0], data["signal"][4, 0, 0] = 1.0, 100.0  # station 0 of event 4 triggered
    data[name][4, 0, 0] = value
    with pytest.raises(io.DataError, match=message):
        _write_read(tmp_path, data)


def test_infinity_in_time_and_signal_is_not_a_silent_station(tmp_path):
    data = _showers()
    data["time"][2, 3, 4] = data["signal"][2, 3, 4] = np.inf
    with pytest.raises(io.DataError, match=r"'time' must be finite .* event 2 \(inf us at station 46\)"):
        _write_read(tmp_path, data)


@pytest.mark.parametrize(
    ("name", "index", "value", "message"),
    [
        (
            "zenith",
            5,
            np.radians(95.0),
            r"'zenith' must be in \[0, 90\) deg: 1 of 20 .* event 5 \(1.65806 rad = 95 deg\)",
        ),
        ("zenith", 5, -0.1, r"'zenith' must be in \[0, 90\) deg: .* event 5 \(-0.1 rad"),
        (
            "xmax",
            9,
            -10.0,
            r"'xmax' must be positive: 1 of 20 events fail this, the first is event 9 \(-10 g/cm\^2\)",
        ),
        ("axis", 11, [0.0, 0.6, 0.9], r"'axis' must be unit vectors .* event 11 \(\|axis\| = 1.08167\)"),
    ],
)
def test_impossible_labels_name_file_dataset_and_event(tmp_path, name, index, value, message):
    data = _showers()
    data[name][index] = value
    with pytest.raises(io.DataError, match="showers.h5: dataset " + message):
        _write_read(tmp_path, data)


def test_float32_axis_rounding_passes():
    axis = np.random.default_rng(7).normal(size=(100_000, 3))
    axis = (axis / np.linalg.norm(axis, axis=1, keepdims=True)).astype(np.float32)
    io.check_labels({"axis": axis, "zenith": np.zeros(3, np.float32)}, "x.h5")


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "large.yaml"])
def test_simulated_showers_of_every_shipped_config_pass(tmp_path, name):
    from airshower import config, simulation

    cfg = config.load_config(ROOT / "config" / name)
    section = dict(cfg["simulation"], n_events=2000, n_shards=1, block_size=1000)
    data = simulation.simulate_shard(simulation.SimulationSettings.from_config(section), cfg["seed"], 0)
    io.write_h5(tmp_path / "s.h5", data, units=io.shower_units(), attrs=io.provenance(section, 1))
    assert len(io.read_showers(tmp_path / "s.h5")["energy"]) == 2000


def test_split_and_prediction_labels_are_checked_when_read(tmp_path):
    """Files without the simulation's provenance: the schema's limits, whatever reads them."""
    io.write_h5(tmp_path / "train.h5", {"energy": np.array([5.0, -2.0, 7.0]), "index": np.arange(3)})
    with pytest.raises(
        io.DataError, match=r"train.h5: dataset 'energy' must be inside .* event 1 \(-2 EeV\)"
    ):
        io.read_h5(tmp_path / "train.h5", ["index", "energy"])
    pred = {"energy_true": np.array([5.0, 1e30]), "energy_pred": np.array([-1.0, 5.0])}
    io.write_h5(tmp_path / "predictions.h5", pred)
    with pytest.raises(
        io.DataError, match=r"predictions.h5: dataset 'energy_true' .* event 1 \(1e\+30 EeV\)"
    ):
        io.read_h5(tmp_path / "predictions.h5")
    pred["energy_true"][1] = 50.0  # a negative prediction is a (bad) result, not a broken file
    io.write_h5(tmp_path / "predictions.h5", pred)
    assert io.read_h5(tmp_path / "predictions.h5")["energy_pred"][0] == -1.0


def _test_split(n: int = 4) -> dict[str, np.ndarray]:
    """The labels of a prepared test split (predictionfile.PREDICTION_LABELS)."""
    zenith = np.full(n, 0.3)
    return {
        "energy": np.linspace(5.0, 50.0, n),
        "index": np.arange(n),
        "zenith": zenith,
        "mass": np.ones(n),
        "xmax": np.full(n, 750.0),
        "axis": np.column_stack([np.sin(zenith), np.zeros(n), np.cos(zenith)]),
        "core": np.column_stack([np.linspace(-100.0, 100.0, n), np.zeros(n)]),
        "muon": np.linspace(0.9, 1.3, n),
    }


TRUTHS = set(predictionfile.PREDICTION_UNITS) - {"index"}  # what read_predictions gives of every file


def test_predictions_may_carry_energy_sigma_and_readers_handle_both(tmp_path):
    test = _test_split()
    plain = predictionfile.prediction_datasets(test, {"energy_pred": test["energy"] * 1.1})
    assert set(plain) == set(predictionfile.PREDICTION_UNITS) | {"energy_pred"}
    predictionfile.write_predictions(tmp_path / "plain.h5", plain, {"model": "fcn"})
    assert set(predictionfile.read_predictions(tmp_path / "plain.h5")) == TRUTHS | {"energy_pred"}

    sigma = np.array([0.5, 1, 2, 4], dtype=np.float32)  # a network's float32 output
    with_sigma = predictionfile.prediction_datasets(
        test, {"energy_pred": test["energy"] * 1.1, "energy_sigma": sigma}
    )
    assert with_sigma["energy_sigma"].dtype == np.float64
    predictionfile.write_predictions(tmp_path / "gauss.h5", with_sigma, {"model": "gauss"})
    got = predictionfile.read_predictions(tmp_path / "gauss.h5")
    assert set(got) == TRUTHS | {"energy_pred", "energy_sigma"}
    np.testing.assert_array_equal(got["energy_sigma"], [0.5, 1, 2, 4])
    np.testing.assert_allclose(got["energy_pred"], test["energy"] * 1.1)
    import h5py

    with h5py.File(tmp_path / "gauss.h5") as fh:
        assert fh["energy_sigma"].attrs["unit"] == "EeV"
        assert fh["energy_pred"].attrs["unit"] == "EeV"


def test_the_truths_are_the_test_labels_under_their_prediction_names():
    test = _test_split()
    out = predictionfile.prediction_datasets(test)
    assert set(out) == set(predictionfile.PREDICTION_UNITS)  # no reconstruction: truths only
    assert set(predictionfile.PREDICTION_LABELS.values()) == set(predictionfile.PREDICTION_UNITS)
    for label, name in predictionfile.PREDICTION_LABELS.items():
        np.testing.assert_array_equal(out[name], test[label])
    assert out["energy_true"].dtype == np.float64
    assert out["index"].dtype == np.int64
    assert out["axis_true"].shape == (4, 3)
    assert out["core_true"].shape == (4, 2)
    assert not set(predictionfile.PREDICTION_UNITS) & set(predictionfile.OPTIONAL_PREDICTION_UNITS)


def test_every_target_reconstruction_is_written_with_its_unit_and_read_back(tmp_path):
    """A multi-target network's file: every truth, and the reconstructions of its targets (float64)."""
    from airshower.targets import TARGETS

    test = _test_split()
    predicted = {
        "energy_pred": test["energy"].astype(np.float32),
        "axis_pred": test["axis"][:, ::-1].astype(np.float32),
        "core_pred": test["core"] + 10.0,
        "xmax_pred": np.full(4, 700.0, np.float32),
        "mass_prob": np.tile([0.25, 0.75], (4, 1)),
        "muon_pred": np.full(4, 1.1, np.float32),
    }
    assert set(predicted) == {t.predicted for t in TARGETS.values()}  # the registry's names
    out = predictionfile.prediction_datasets(test, predicted)
    assert all(out[name].dtype == np.float64 for name in predicted)
    predictionfile.write_predictions(tmp_path / "multi.h5", out, {"model": "multi"})
    got = predictionfile.read_predictions(tmp_path / "multi.h5")
    assert set(got) == TRUTHS | set(predicted)
    for name, values in predicted.items():
        np.testing.assert_array_equal(got[name], values.astype(np.float64))
    import h5py

    with h5py.File(tmp_path / "multi.h5") as fh:
        for name in predicted:
            assert fh[name].attrs["unit"] == predictionfile.OPTIONAL_PREDICTION_UNITS[name], name
        for name in predictionfile.PREDICTION_UNITS:
            assert fh[name].attrs["unit"] == predictionfile.PREDICTION_UNITS[name], name

    # a model without the energy target: its file has no energy_pred, and the reader does not ask
    direction_only = predictionfile.prediction_datasets(test, {"axis_pred": predicted["axis_pred"]})
    predictionfile.write_predictions(tmp_path / "direction.h5", direction_only, {"model": "direction"})
    assert set(predictionfile.read_predictions(tmp_path / "direction.h5")) == TRUTHS | {"axis_pred"}


def test_energy_sigma_length_and_values_are_checked(tmp_path):
    test = _test_split()
    energy = {"energy_pred": test["energy"]}
    with pytest.raises(ValueError, match="3 predictions 'energy_sigma' for 4 test events"):
        predictionfile.prediction_datasets(test, {**energy, "energy_sigma": np.ones(3)})
    with pytest.raises(ValueError, match="3 predictions 'axis_pred' for 4 test events"):
        predictionfile.prediction_datasets(test, {**energy, "axis_pred": np.ones((3, 3))})
    with pytest.raises(ValueError, match="'energy_sigma' without 'energy_pred'"):
        predictionfile.prediction_datasets(test, {"energy_sigma": np.ones(4)})
    with pytest.raises(ValueError, match="do not match the contract"):  # an unknown extra needs its unit
        predictionfile.write_predictions(
            tmp_path / "p.h5", {**predictionfile.prediction_datasets(test, energy), "w": np.ones(4)}, {}
        )
    sigma = np.array([1.0, np.nan, 1.0, np.inf])
    bad = predictionfile.prediction_datasets(test, {**energy, "energy_sigma": sigma})
    predictionfile.write_predictions(tmp_path / "p.h5", bad, {})
    with pytest.raises(io.DataError, match=r"p.h5: dataset 'energy_sigma' has 2 NaN or infinite values"):
        predictionfile.read_predictions(tmp_path / "p.h5")
    short = predictionfile.prediction_datasets(test, energy)
    short["energy_sigma"] = np.ones(3)
    io.write_h5(tmp_path / "short.h5", short)
    with pytest.raises(io.DataError, match=r"short.h5: dataset 'energy_sigma' has 3 entries, energy_true 4"):
        predictionfile.read_predictions(tmp_path / "short.h5")


def test_merge_checks_each_shard_against_its_provenance(tmp_path):
    good, bad = _showers(), _showers()
    bad["energy"][6] = 150.0
    io.write_h5(tmp_path / "0.h5", good, attrs=SIMULATED)
    io.write_h5(tmp_path / "1.h5", bad, attrs=SIMULATED)
    with pytest.raises(io.DataError, match=r"1.h5: dataset 'energy' .* event 6 \(150 EeV\)"):
        io.merge_showers([tmp_path / "0.h5", tmp_path / "1.h5"])


@pytest.mark.slow
def test_damaged_model_file_is_named_damaged(tmp_path):
    keras = pytest.importorskip("keras")
    from airshower import training

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    training.save_model(model, tmp_path / "model.keras")
    whole = (tmp_path / "model.keras").read_bytes()
    assert training.load_model(tmp_path / "model.keras").count_params() == 4
    (tmp_path / "model.keras").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(io.DataError) as info:
        training.load_model(tmp_path / "model.keras")
    assert str(info.value) == (
        f"{tmp_path / 'model.keras'}: model file is damaged ({len(whole) // 2} bytes, not a complete "
        ".keras zip archive: cut short or overwritten); retrain this model and seed: run the workflow "
        f"again with --forcerun {tmp_path / 'model.keras'}"
    )
    assert "File not found" not in str(info.value)
    with zipfile.ZipFile(_io.BytesIO(whole)) as archive:
        first = archive.infolist()[0]
    start = first.header_offset + 30 + len(first.filename) + len(first.extra)
    flipped = bytearray(whole)
    flipped[start] ^= 0xFF  # one byte of the first entry's data
    (tmp_path / "model.keras").write_bytes(bytes(flipped))
    with pytest.raises(
        io.DataError, match=rf"model file is damaged .*entry '{first.filename}' fails its checksum"
    ):
        training.load_model(tmp_path / "model.keras")

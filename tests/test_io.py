"""HDF5/JSON I/O: atomic writes, contract checks and errors that name file and dataset."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from airshower import io
from conftest import fake_showers


def test_round_trip_keeps_values_units_and_attrs(tmp_path):
    data = fake_showers(50, np.random.default_rng(1))
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


def test_merge_concatenates_in_order_and_keeps_extras(tmp_path):
    rng = np.random.default_rng(4)
    shards = [fake_showers(n, rng) for n in (7, 5, 9)]
    for i, shard in enumerate(shards):
        shard["trace_muon"] = np.full((len(shard["energy"]), 3), i, np.float32)
        io.write_h5(tmp_path / f"{i}.h5", shard, units=io.shower_units({"trace_muon": "VEM"}))
    merged, units = io.merge_showers([tmp_path / f"{i}.h5" for i in range(3)])
    assert len(merged["energy"]) == 21
    assert merged["signal"].shape == (21, 14, 14)
    np.testing.assert_array_equal(merged["energy"], np.concatenate([s["energy"] for s in shards]))
    np.testing.assert_array_equal(merged["trace_muon"][:, 0], np.repeat([0, 1, 2], [7, 5, 9]))
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

"""A shower file made elsewhere, checked before the study uses it (airshower.showerfile.import_showers):
each kind of mistake a converter makes stops with the file, the dataset and what is wrong, and
nothing is written; a good file is copied byte for byte."""

import shutil

import h5py
import numpy as np
import pytest

from airshower import showerfile
from airshower.contract import DataError
from conftest import ROOT

EXAMPLE = ROOT / "resources" / "example_showers.h5"
ARRAY = {"n_side": 14, "spacing_m": 750.0, "altitude_m": 1400.0}


def broken(tmp_path, change):
    """A copy of the example file with ``change(fh)`` applied."""
    path = tmp_path / "showers.h5"
    shutil.copy(EXAMPLE, path)
    with h5py.File(path, "r+") as fh:
        change(fh)
    return path


def replace(fh, name, values):
    attrs = dict(fh[name].attrs)
    del fh[name]
    fh[name] = values
    fh[name].attrs.update(attrs)


def test_a_good_file_is_copied_byte_for_byte(tmp_path):
    n = showerfile.import_showers(EXAMPLE, tmp_path / "out.h5", ARRAY)
    assert n == 3000
    assert (tmp_path / "out.h5").read_bytes() == EXAMPLE.read_bytes()
    assert showerfile.shower_file_shape(EXAMPLE) == {
        "n_events": 3000,
        "n_stations": 196,
        "n_bins": 0,
        "datasets": showerfile.shower_file_shape(EXAMPLE)["datasets"],
    }


def _signal_negative(fh):
    signal = fh["signal"][()]
    event, station = 2500, np.flatnonzero(np.isfinite(signal[2500]))[0]
    signal.reshape(3000, -1)[event, station] = -3.0
    replace(fh, "signal", signal)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda fh: fh["time"].attrs.__setitem__("unit", "ns"),
            r"dataset 'time' is in 'ns', the contract wants 'us'",
        ),
        (lambda fh: fh["energy"].attrs.__delitem__("unit"), r"dataset 'energy' has no 'unit' attribute"),
        (lambda fh: fh.__delitem__("xmax"), r"no dataset 'xmax'"),
        (
            lambda fh: replace(fh, "detector", fh["detector"][()] * 2),
            r"station spacing 1500.0 m, config .* 750.0 m",
        ),
        (
            lambda fh: replace(
                fh, "energy", np.where(np.arange(3000) == 7, np.nan, fh["energy"][()]).astype("float32")
            ),
            r"'energy'",
        ),
        (_signal_negative, r"dataset 'signal' .* the first is event 2500 \(-3 VEM at station \d+\)"),
    ],
    ids=["time in ns", "no unit", "missing dataset", "other array", "NaN energy", "negative signal"],
)
def test_a_converters_mistake_stops_naming_the_dataset(tmp_path, change, message):
    source = broken(tmp_path, change)
    with pytest.raises(DataError, match=message):
        showerfile.import_showers(source, tmp_path / "out.h5", ARRAY)
    assert not (tmp_path / "out.h5").exists()
    assert not list(tmp_path.glob(".out.h5*"))  # no temporary left behind

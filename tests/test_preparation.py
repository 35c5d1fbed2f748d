"""Split and normalization: sizes, disjointness, no leak from val/test, exact round trips."""

from __future__ import annotations

import numpy as np
import pytest

from airshower import config
from airshower import preparation as prep
from conftest import fake_showers


def settings(**kw):
    base = {"fractions": {"train": 0.7, "val": 0.15, "test": 0.15}}
    base.update(kw)
    return prep.PreparationSettings.from_config(base)


def test_settings_defaults_from_the_schema_and_transform_enum_is_the_registry():
    s = settings()
    assert s == prep.PreparationSettings(
        fractions={"train": 0.7, "val": 0.15, "test": 0.15}, mask_channel=False, target_transform="linear"
    )
    schema = config.load_schema()["properties"]["preparation"]["properties"]
    assert schema["target_transform"]["enum"] == list(prep.TARGET_TRANSFORMS)
    with pytest.raises(config.ConfigError, match="preparation.target_transform"):
        settings(target_transform="sqrt")


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
    assert norm["target"]["mean"] == pytest.approx(data["energy"][tr].astype(np.float64).mean(), rel=1e-12)
    # standardized on train: mean 0, std 1 over triggered stations / events
    x = splits["train"]["x"]
    trig = np.isfinite(data["signal"][tr])
    assert x[..., 1][trig].mean() == pytest.approx(0, abs=1e-5)
    assert x[..., 1][trig].std() == pytest.approx(1, abs=1e-5)
    assert splits["train"]["y"].mean() == pytest.approx(0, abs=1e-5)
    assert splits["train"]["y"].std() == pytest.approx(1, abs=1e-5)
    # silent stations are exactly 0 and finite everywhere
    for split in splits.values():
        assert np.all(np.isfinite(split["x"]))
    assert np.all(x[~trig] == 0)


@pytest.mark.parametrize("transform", ["linear", "log10"])
def test_target_round_trip(transform):
    data = fake_showers(200, np.random.default_rng(5))
    splits, norm = prep.prepare(data, settings(target_transform=transform), np.random.default_rng(6))
    for split in splits.values():
        back = prep.inverse_target(split["y"], norm)
        np.testing.assert_allclose(back, split["energy"], rtol=1e-5)


def test_time_channel_is_relative_and_mask_channel_optional():
    data = fake_showers(100, np.random.default_rng(7))
    shifted = dict(data, time=data["time"] + 123.0)  # a global time offset carries no information
    s = settings(mask_channel=True)
    a, norm = prep.prepare(data, s, np.random.default_rng(8))
    b, _ = prep.prepare(shifted, s, np.random.default_rng(8))
    np.testing.assert_allclose(a["test"]["x"], b["test"]["x"], atol=1e-3)
    assert norm["channels"] == ["time", "signal", "mask"]
    mask = a["test"]["x"][..., 2]
    np.testing.assert_array_equal(mask, np.isfinite(data["signal"][a["test"]["index"]]))

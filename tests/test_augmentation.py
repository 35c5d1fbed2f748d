"""Station dropout and signal-scale augmentation: exact in the prepared units (the same as
preparing the modified event), deterministic batches, and Keras kept out of ``import airshower``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from airshower import augmentation as aug
from airshower import normalization
from conftest import fake_showers

SETTINGS = aug.AugmentationSettings(station_dropout=0.3, signal_scale=0.1)


def norm_of(channels, time_mean=0.0) -> dict:
    """A normalization as preparation writes it (the statistics the inputs use)."""
    return {
        "channels": list(channels),
        "signal": {"transform": "log10(1 + S/VEM)", "mean": 1.7, "std": 0.45},
        "time": {"transform": "t - mean_event(t), in us", "mean": time_mean, "std": 1.9},
    }


@pytest.fixture
def showers():
    data = fake_showers(40, np.random.default_rng(3))
    return data["time"].astype(np.float64), data["signal"].astype(np.float64)


CHANNEL_SETS = [["time", "signal", "mask"], ["signal", "time"], ["mask", "signal"], ["time", "mask"]]


@pytest.mark.parametrize("channels", CHANNEL_SETS)
def test_signal_scale_equals_preparing_the_scaled_event(showers, channels):
    time_us, signal = showers
    norm = norm_of(channels)
    x = normalization.transform_inputs(time_us, signal, norm)
    factor = np.full(len(x), 1.05)
    factor[::3] = 0.9  # one factor per event
    expected = normalization.transform_inputs(time_us, signal * factor[:, None, None], norm)
    got = aug.scale_signals(x, channels, norm, factor)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)
    if "signal" in channels:  # a factor of 1 changes nothing
        np.testing.assert_allclose(aug.scale_signals(x, channels, norm, np.ones(len(x))), x, atol=2e-6)


@pytest.mark.parametrize("channels", CHANNEL_SETS)
@pytest.mark.parametrize("time_mean", [0.0, 0.3])
def test_dropout_equals_preparing_the_event_with_silent_stations(showers, channels, time_mean):
    time_us, signal = showers
    norm = norm_of(channels, time_mean)
    x = normalization.transform_inputs(time_us, signal, norm)
    dead = np.random.default_rng(5).random(signal.shape) < 0.25
    expected = normalization.transform_inputs(
        np.where(dead, np.nan, time_us), np.where(dead, np.nan, signal), norm
    )
    got = aug.drop_stations(x, channels, norm, dead)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)
    # dropped stations look exactly like silent ones: every channel 0
    assert np.all(got[dead] == 0)


def test_dropout_recentres_the_time_by_hand():
    """Three triggered stations at 1, 2, 6 us (mean 3): dropping the one at 6 us puts the other
    two at -0.5 and +0.5 us."""
    time_us = np.full((1, 14, 14), np.nan)
    signal = np.full((1, 14, 14), np.nan)
    time_us[0, 0, :3] = [1.0, 2.0, 6.0]
    signal[0, 0, :3] = 50.0
    norm = norm_of(["time", "signal", "mask"])
    x = normalization.transform_inputs(time_us, signal, norm)
    np.testing.assert_allclose(x[0, 0, :3, 0] * 1.9, [-2.0, -1.0, 3.0], atol=1e-6)
    dead = np.zeros((1, 14, 14), bool)
    dead[0, 0, 2] = True
    got = aug.drop_stations(x, norm["channels"], norm, dead)
    np.testing.assert_allclose(got[0, 0, :3, 0] * 1.9, [-0.5, 0.5, 0.0], atol=1e-6)
    np.testing.assert_array_equal(got[0, 0, :3, 2], [1.0, 1.0, 0.0])
    # every station dropped: the event is all zeros
    assert not aug.drop_stations(x, norm["channels"], norm, np.ones_like(dead)).any()


def test_triggered_stations_from_any_channel(showers):
    time_us, signal = showers
    truth = np.isfinite(signal)
    for channels in CHANNEL_SETS:
        x = normalization.transform_inputs(time_us, signal, norm_of(channels))
        np.testing.assert_array_equal(aug.triggered(x, channels), truth)


def test_draws_stay_in_their_ranges():
    dead, factor = aug.draw(SETTINGS, (2000, 14, 14), np.random.default_rng(1))
    rates = dead.mean(axis=(1, 2))
    assert rates.max() < 0.3 + 0.12
    assert 0.1 < rates.mean() < 0.2
    assert factor.min() >= 0.9
    assert factor.max() <= 1.1
    assert abs(factor.mean() - 1.0) < 0.01
    off = aug.AugmentationSettings(0.0, 0.0)
    assert not off.enabled
    dead, factor = aug.draw(off, (50, 14, 14), np.random.default_rng(1))
    assert not dead.any()
    assert np.all(factor == 1.0)


def batches(x, y, settings=SETTINGS, seed=11, batch_size=16):
    return aug.AugmentedBatches(x, y, ["time", "signal", "mask"], norm_of(["time", "signal", "mask"]),
                                settings, batch_size, seed)  # fmt: skip


@pytest.fixture
def arrays(showers):
    time_us, signal = showers
    x = normalization.transform_inputs(time_us, signal, norm_of(["time", "signal", "mask"]))
    return x, np.arange(len(x), dtype=np.float32)


def test_batches_are_deterministic_and_cover_every_event(arrays):
    x, y = arrays
    a, b = batches(x, y), batches(x, y)
    assert len(a) == 3  # 40 events in batches of 16
    for epoch in (0, 1):
        seen = []
        for i in range(len(a)):
            (xa, ya), (xb, yb) = a.batch(epoch, i), b.batch(epoch, i)
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
            seen.extend(ya.astype(int))
        assert sorted(seen) == list(range(len(x)))  # a permutation per epoch
    assert not np.array_equal(a.batch(0, 0)[1], a.batch(1, 0)[1])  # reshuffled
    assert not np.array_equal(a.batch(0, 0)[0], batches(x, y, seed=12).batch(0, 0)[0])
    # any batch of any epoch, in any order, is the same
    np.testing.assert_array_equal(batches(x, y).batch(1, 2)[0], a.batch(1, 2)[0])


def test_batches_augment_their_rows_and_keep_dict_targets(arrays):
    x, y = arrays
    targets = {"energy": y, "core": np.stack([y, -y], axis=1)}
    xa, ya = batches(x, targets).batch(0, 1)
    rows = ya["energy"].astype(int)
    np.testing.assert_array_equal(ya["core"][:, 1], -ya["energy"])
    assert xa.shape == (16, 14, 14, 3)
    assert not np.array_equal(xa, x[rows])  # augmented
    plain, _ = batches(x, targets, settings=aug.AugmentationSettings(0.0, 0.0)).batch(0, 1)
    np.testing.assert_array_equal(plain, x[rows])  # off: the rows themselves
    with pytest.raises(ValueError, match="targets"):
        batches(x, y[:-1])


def test_import_airshower_does_not_import_keras():
    code = (
        "import sys, airshower, airshower.augmentation, airshower.systematics; print('keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_keras_fits_the_dataset_and_advances_the_epoch(arrays):
    keras = pytest.importorskip("keras")
    x, y = arrays
    seen = []

    class Record(aug.AugmentedBatches):
        def batch(self, epoch, index):
            seen.append(epoch)
            return super().batch(epoch, index)

    data = aug._dataset_class()(
        Record(x, y, ["time", "signal", "mask"], norm_of(["time", "signal", "mask"]), SETTINGS, 16, 3)
    )
    model = keras.Sequential([keras.Input((14, 14, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=2)
    model.fit(data, epochs=3, verbose=0)
    assert data.epoch == 2
    assert seen[-9:] == [0] * 3 + [1] * 3 + [2] * 3  # every batch of an epoch drawn for it
    assert aug.augmented_dataset(x, y, ["time", "signal", "mask"], norm_of(["time"]), SETTINGS, 16, 3,
                                 initial_epoch=5).epoch == 5  # fmt: skip

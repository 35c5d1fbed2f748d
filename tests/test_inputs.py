"""The input channels beyond time, signal and mask: the working stations, the residual to the plane
fit's front, the station coordinates and the plane fit's axis; the direction head that corrects
the fit; and a dead station that reads as dead, not as silent, from the data file to the network.
"""

from __future__ import annotations

import numpy as np
import pytest

from airshower import (
    augmentation,
    contract,
    geometry,
    inputs,
    io,
    normalization,
    preparation,
    systematics,
    widths,
)
from airshower import baseline as bl
from airshower import simulation as sim
from airshower.schema import ConfigError
from conftest import fake_showers

C = geometry.C_M_PER_US
SPLIT = preparation.PreparationSettings.from_config({"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}})


def plane_front_showers(n: int, seed: int = 3) -> dict[str, np.ndarray]:
    """Fake showers whose arrival times are exactly those of a plane front along their axis."""
    gen = np.random.default_rng(seed)
    showers = fake_showers(n, gen)
    pos = showers["detector"].astype(np.float64).reshape(14, 14, 3)
    t0 = gen.uniform(-5, 5, n)
    times = t0[:, None, None] - np.einsum("nc,ijc->nij", showers["axis"].astype(np.float64), pos) / C
    showers["time"] = np.where(np.isfinite(showers["signal"]), times, np.nan).astype(np.float32)
    return showers


def channel(x: np.ndarray, norm: dict, name: str) -> np.ndarray:
    return x[..., list(norm["channels"]).index(name)]


def test_every_channel_has_one_kind():
    kinds = [
        inputs.TRIGGERED_CHANNELS,
        ("working",),
        inputs.GEOMETRY_CHANNELS,
        inputs.FRONT_CHANNELS,
        inputs.LDF_CHANNELS,
    ]
    assert sorted(c for kind in kinds for c in kind) == sorted(inputs.CHANNELS)
    assert preparation.CHANNELS == inputs.CHANNELS  # the schema's enum: tests/test_preparation.py


def test_a_plane_front_leaves_no_residual():
    showers = plane_front_showers(200)
    residual = inputs.front_residual_ns(showers["time"], showers["detector"], showers["axis"])
    triggered = np.isfinite(showers["signal"])
    assert np.all(np.isnan(residual[~triggered]))
    # float32 times of up to 20 us: rounding of ~ 1e-3 ns
    assert np.max(np.abs(residual[triggered])) < 0.01
    # a front 1 deg off leaves residuals of the order of 10 km sin(1 deg) / c = 580 ns
    tilted = geometry.axis_vector(showers["azimuth"], showers["zenith"] + np.radians(1.0))
    off = inputs.front_residual_ns(showers["time"], showers["detector"], tilted)
    assert np.nanmax(np.abs(off)) > 100


def test_residual_of_a_hand_computed_event():
    """Three stations, a vertical reference: the residual is the time minus its mean, in ns."""
    time_us = np.full((1, 14, 14), np.nan)
    time_us[0, 0, :3] = [1.0, 1.5, 3.5]
    pos = np.zeros((14 * 14, 3))
    got = inputs.front_residual_ns(time_us, pos, np.array([[0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(got[0, 0, :3], [-1000.0, -500.0, 1500.0], atol=1e-9)
    # the axis along +x: the front reaches x = 300 m 1 us before x = 0 (t = t0 - u.x / c)
    pos[1] = [300.0, 0.0, 0.0]
    time_us[0, 0, :3] = [0.0, -300.0 / C, 0.0]
    pos[2] = [0.0, 300.0, 0.0]
    got = inputs.front_residual_ns(time_us, pos, np.array([[1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(got[0, 0, :3], [0.0, 0.0, 0.0], atol=1e-9)


def test_the_plane_fit_of_a_plane_front_is_its_axis_and_is_nan_without_stations():
    showers = plane_front_showers(300)
    settings = bl.BaselineSettings.from_config({})
    axis, _ = bl.reference_fit(showers["time"], showers["signal"], showers["detector"], settings)
    n_trig = np.isfinite(showers["signal"]).reshape(300, -1).sum(axis=1)
    fitted = n_trig >= settings.min_stations
    assert fitted.all()
    assert np.degrees(geometry.opening_angle(axis, showers["axis"])).max() < 1e-3
    silent = {k: v.copy() for k, v in showers.items()}
    silent["signal"][:5, :, 2:] = np.nan  # events 0-4: two columns left, of which keep two stations
    silent["signal"][:5, :, :2] = np.nan
    silent["signal"][:5, 0, :2] = 10.0
    silent["time"] = np.where(np.isfinite(silent["signal"]), 0.0, np.nan).astype(np.float32)
    out, cost = bl.with_reference_fit(silent, settings)
    assert np.isnan(out["front_axis"][:5]).all()
    assert cost["n_failed"] == 5
    assert cost["n_events"] == 300
    assert cost["seconds"] >= 0


def test_every_channel_of_a_prepared_event():
    gen = np.random.default_rng(5)
    showers = fake_showers(300, gen)
    working = np.ones(showers["signal"].shape, np.uint8)
    working[:, 0, 0] = 0  # station (0, 0) dead in every event
    showers["signal"][:, 0, 0] = np.nan
    showers["time"][:, 0, 0] = np.nan
    showers["working"] = working
    settings = preparation.PreparationSettings.from_config(
        {"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}}
    )
    splits, norm = preparation.prepare(showers, settings, gen)
    assert norm["channels"] == list(inputs.CHANNELS)
    x, idx = splits["test"]["x"], splits["test"]["index"]
    triggered = np.isfinite(showers["signal"][idx])
    for name in inputs.TRIGGERED_CHANNELS:
        assert np.all(channel(x, norm, name)[~triggered] == 0), name
    np.testing.assert_array_equal(channel(x, norm, "working"), working[idx])
    np.testing.assert_array_equal(channel(x, norm, "mask"), triggered)
    # the dead station is silent in the mask and dead in working; a silent one works
    assert channel(x, norm, "mask")[:, 0, 0].max() == 0
    assert channel(x, norm, "working")[:, 0, 0].max() == 0
    silent = ~triggered & (working[idx] == 1)
    assert silent.any()
    assert np.all(channel(x, norm, "working")[silent] == 1)
    # the front channels are the fit's axis at every station, the coordinates standardized
    for c, name in enumerate(inputs.FRONT_CHANNELS):
        plane = channel(x, norm, name)
        np.testing.assert_allclose(
            plane, np.broadcast_to(showers["front_axis"][idx, c, None, None], plane.shape), rtol=1e-6
        )
    # the LDF channel: the standardized log10 S(1000) of the event at every station
    log_s1000 = (np.log10(showers["ldf_s1000"][idx]) - norm["ldf_s1000"]["mean"]) / norm["ldf_s1000"]["std"]
    plane = channel(x, norm, "ldf_s1000")
    np.testing.assert_allclose(
        plane, np.broadcast_to(log_s1000[:, None, None], plane.shape), rtol=1e-5, atol=1e-6
    )
    sx = channel(x, norm, "station_x")[0]
    assert abs(sx.mean()) < 1e-6
    assert abs(sx.std() - 1) < 1e-6
    assert sx[1, 0] > sx[0, 0]
    assert sx[0, 1] == sx[0, 0]
    # the residual of triggered stations has unit spread on the training split
    r = channel(splits["train"]["x"], norm, "residual")[
        np.isfinite(showers["signal"][splits["train"]["index"]])
    ]
    assert abs(r.std() - 1) < 0.02


def test_preparing_without_the_reference_fit_says_what_is_missing():
    showers = fake_showers(50, np.random.default_rng(1))
    del showers["front_axis"], showers["ldf_s1000"]
    settings = preparation.PreparationSettings.from_config(
        {"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}}
    )
    with pytest.raises(ValueError, match="lack front_axis, ldf_s1000, the reference fit"):
        preparation.prepare(showers, settings, np.random.default_rng(1))


def test_dead_stations_of_a_variant_are_marked_dead_in_the_file(tmp_path):
    gen = np.random.default_rng(2)
    data = fake_showers(40, gen)
    del data["front_axis"]
    variant = systematics.VariantSettings(simulation={}, factors={}, dead_fraction=0.1, signal_scale=1.0)
    dead = systematics.apply_detector(data, variant, np.random.default_rng(3))
    assert dead.reshape(40, -1).sum(axis=1).tolist() == [20] * 40  # round(0.1 x 196)
    np.testing.assert_array_equal(data["working"], ~dead)
    path = tmp_path / "showers.h5"
    io.write_h5(path, data, units=io.shower_units(), attrs=io.provenance({"n_events": 40}, seed=3))
    back = io.read_showers(path)
    np.testing.assert_array_equal(back["working"], (~dead).astype(np.uint8))
    assert np.isnan(back["signal"][dead]).all()
    # a variant without dead stations writes no list: every station works
    plain = fake_showers(10, gen)
    scale = systematics.VariantSettings(simulation={}, factors={}, dead_fraction=0.0, signal_scale=1.05)
    systematics.apply_detector(plain, scale, gen)
    assert "working" not in plain


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["working"].__setitem__((3, 2, 2), 2), "must be 0 .dead. or 1 .working.: 1 of 20 events"),
        (lambda d: d.__setitem__("working", d["working"].astype(np.int16)), "dtype int16, expected uint8"),
        (lambda d: d.__setitem__("working", d["working"][:, :13]), "has shape"),
    ],
)
def test_a_broken_list_of_working_stations_names_file_and_dataset(tmp_path, edit, message):
    data = fake_showers(20, np.random.default_rng(4))
    del data["front_axis"]
    data["working"] = np.ones(data["signal"].shape, np.uint8)
    edit(data)
    path = tmp_path / "showers.h5"
    io.write_h5(path, data, units=io.shower_units(), attrs=io.provenance({"n_events": 20}, seed=3))
    with pytest.raises(contract.DataError, match=rf"{path}: dataset 'working' .*{message}"):
        io.read_showers(path)


def test_a_dead_station_with_a_signal_is_refused():
    data = fake_showers(20, np.random.default_rng(4))
    data["working"] = np.ones(data["signal"].shape, np.uint8)
    i, j = np.argwhere(np.isfinite(data["signal"][7]))[0]
    data["working"][7, i, j] = 0
    with pytest.raises(contract.DataError, match="first is event 7 .station"):
        contract.check_showers(data, "f.h5")


FRONT_SETTINGS = bl.BaselineSettings.from_config({})


def reference_fit(time_us, signal_vem, positions_m, ldf=True):
    return bl.reference_fit(time_us, signal_vem, positions_m, FRONT_SETTINGS, ldf=ldf)


def refit_of(showers) -> augmentation.ReferenceFit:
    return augmentation.ReferenceFit(showers["detector"].astype(np.float64), reference_fit)


def test_station_dropout_marks_the_dropped_stations_dead_as_preparation_would():
    """Dropping stations of prepared inputs equals preparing the event with those stations dead,
    its reference fit (plane and LDF) made again without them (as the prepare job fits a dead
    variant's)."""
    showers = fake_showers(60, np.random.default_rng(6))
    _, norm = preparation.prepare(showers, SPLIT, np.random.default_rng(6))
    x = preparation.split_inputs(showers, slice(None), norm)
    dead = np.random.default_rng(7).random(showers["signal"].shape) < 0.3
    front = refit_of(showers)
    got = augmentation.drop_stations(x, norm["channels"], norm, dead, front)
    edited = {**showers, "working": (~dead).astype(np.uint8)}
    for key in ("time", "signal"):
        edited[key] = np.where(dead, np.nan, showers[key]).astype(np.float32)
    edited["front_axis"], edited["ldf_s1000"] = reference_fit(
        edited["time"], edited["signal"], showers["detector"]
    )
    assert np.isfinite(edited["ldf_s1000"]).sum() > 50  # most events keep a fit
    assert "ldf_s1000" in norm["channels"]
    expected = preparation.split_inputs(edited, slice(None), norm)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    with pytest.raises(ValueError, match="station positions and the baseline's fit"):
        augmentation.drop_stations(x, norm["channels"], norm, dead)
    with pytest.raises(ValueError, match="needs the time channel"):
        augmentation.drop_stations(x[..., 1:], norm["channels"][1:], norm, dead, front)


def test_dropping_a_late_station_refits_the_front_by_hand():
    """Four stations on a plane front along a 30 deg axis and a fifth 400 ns late: the front of
    all five is tilted, its residuals non-zero; dropped, the late one leaves the exact axis and
    residuals of 0. With two stations left there is no fit: the axis reads vertical."""
    showers = fake_showers(1, np.random.default_rng(2))
    pos = showers["detector"].astype(np.float64).reshape(14, 14, 3)
    axis = geometry.axis_vector(np.array([0.7]), np.array([np.radians(30.0)]))[0]
    hit = [(5, 5), (5, 6), (6, 5), (6, 6), (7, 7)]
    time_us = np.full((1, 14, 14), np.nan)
    signal = np.full((1, 14, 14), np.nan)
    for i, j in hit:
        time_us[0, i, j] = 2.0 - pos[i, j] @ axis / C
        signal[0, i, j] = 40.0
    time_us[0, 7, 7] += 0.4
    front = refit_of(showers)
    full, s1000 = reference_fit(time_us, signal, showers["detector"])
    assert np.degrees(np.arccos(full[0] @ axis)) > 1.0  # the late station tilts the fit
    events = {**showers, "time": time_us, "signal": signal, "front_axis": full, "ldf_s1000": s1000}
    _, norm = preparation.prepare(fake_showers(30, np.random.default_rng(4)), SPLIT, np.random.default_rng(4))
    x = preparation.split_inputs(events, slice(None), norm)
    assert np.abs(channel(x, norm, "residual")[0, 7, 7]) * norm["residual"]["std"] > 30.0  # ns
    dead = np.zeros((1, 14, 14), bool)
    dead[0, 7, 7] = True
    got = augmentation.drop_stations(x, norm["channels"], norm, dead, front)
    fitted = np.stack([channel(got, norm, c)[0, 0, 0] for c in inputs.FRONT_CHANNELS])
    np.testing.assert_allclose(fitted, axis, atol=1e-6)
    residual_ns = channel(got, norm, "residual")[0] * norm["residual"]["std"] + norm["residual"]["mean"]
    np.testing.assert_allclose([residual_ns[i, j] for i, j in hit[:4]], 0.0, atol=0.01)
    assert residual_ns[7, 7] == 0.0
    assert channel(got, norm, "working")[0, 7, 7] == 0.0
    dead[0, 5, 5] = dead[0, 5, 6] = True  # two stations left, below min_stations (3)
    got = augmentation.drop_stations(x, norm["channels"], norm, dead, front)
    np.testing.assert_array_equal([channel(got, norm, c)[0, 0, 0] for c in inputs.FRONT_CHANNELS], [0, 0, 1])
    assert np.all(channel(got, norm, "ldf_s1000") == 0.0)  # no LDF fit either: the training mean


def test_the_ldf_channel_is_the_fits_s1000_of_an_exact_lateral_distribution():
    """A vertical shower at the array's centre whose signals follow the baseline's LDF exactly,
    S = 80 VEM (r / 1000 m)^-5.7: the reference fit finds S(1000) = 80 VEM, the channel holds its
    standardized log10 at every station; without the stations beyond 1.2 km the refit still
    finds 80 VEM (the signals are exact), without all but two of them it has no fit (0)."""
    showers = fake_showers(1, np.random.default_rng(2))
    pos = showers["detector"].astype(np.float64).reshape(14, 14, 3)
    r = np.hypot(pos[..., 0], pos[..., 1])
    near = r < 2000.0
    signal = np.where(near, 80.0 * (np.maximum(r, 150.0) / 1000.0) ** -5.7, np.nan)[None]
    time_us = np.where(near, 1.0, np.nan)[None]
    axis, s1000 = reference_fit(time_us, signal, showers["detector"])
    np.testing.assert_allclose(axis[0], [0.0, 0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(s1000, [80.0], rtol=1e-6)
    plane_only, no_s1000 = reference_fit(time_us, signal, showers["detector"], ldf=False)
    np.testing.assert_array_equal(plane_only, axis)  # the same plane fit, without the LDF's cost
    assert np.isnan(no_s1000).all()
    events = {**showers, "time": time_us, "signal": signal, "front_axis": axis, "ldf_s1000": s1000}
    _, norm = preparation.prepare(fake_showers(30, np.random.default_rng(4)), SPLIT, np.random.default_rng(4))
    x = preparation.split_inputs(events, slice(None), norm)
    stats = norm["ldf_s1000"]
    np.testing.assert_allclose(
        channel(x, norm, "ldf_s1000"), (np.log10(80.0) - stats["mean"]) / stats["std"], rtol=1e-6
    )
    dead = (r > 1200.0)[None] & near[None]
    assert 0 < dead.sum() < near.sum() - 3
    got = augmentation.drop_stations(x, norm["channels"], norm, dead, refit_of(showers))
    log_s1000 = channel(got, norm, "ldf_s1000")[0] * stats["std"] + stats["mean"]
    np.testing.assert_allclose(10.0**log_s1000, 80.0, rtol=1e-4)
    alive = np.argwhere(near)
    dead = near[None].copy()
    dead[0, alive[0][0], alive[0][1]] = dead[0, alive[1][0], alive[1][1]] = False
    got = augmentation.drop_stations(x, norm["channels"], norm, dead, refit_of(showers))
    assert np.all(channel(got, norm, "ldf_s1000") == 0.0)


def test_the_correction_head_starts_at_the_plane_fit(tmp_path):
    from airshower import models, training

    chans = ["residual", "mask", *inputs.FRONT_CHANNELS]
    spec = {
        "family": "cnn",
        "blocks": [{"filters": [4]}],
        "head": "flatten",
        "targets": ["energy", "direction"],
        "direction_head": "correction",
    }
    model = models.build_model(spec, (14, 14, len(chans)), input_channels=chans)
    gen = np.random.default_rng(0)
    x = gen.normal(size=(8, 14, 14, len(chans))).astype(np.float32)
    axis = geometry.axis_vector(gen.uniform(-3, 3, 8), gen.uniform(0, 1, 8)).astype(np.float32)
    x[..., 2:] = axis[:, None, None, :]
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(pred["direction"], axis, atol=1e-5)  # the float32 mean of 196 equal values
    path = tmp_path / "m.keras"
    training.save_model(model, path)
    np.testing.assert_allclose(training.load_model(path).predict(x, verbose=0)["direction"], axis, atol=1e-5)
    with pytest.raises(ConfigError, match="lacks front_uz"):
        models.build_model(spec, (14, 14, 4), input_channels=["residual", "mask", "front_ux", "front_uy"])


@pytest.mark.slow
def test_a_small_network_learns_the_correction_to_the_plane_fit():
    """On a curved (spherical) front the plane fit misses by ~ 0.9 deg; a small CNN that sees the
    residuals to it and corrects its axis does better on showers it has not seen. Its width head
    (``widths``) tells the better-measured showers from the others: the half with the smaller
    predicted width has the smaller errors, and the width calibrated on the validation split
    covers about 68 % of the test showers."""
    from airshower import training

    data = sim.simulate_events(
        sim.SimulationSettings.from_config(
            {"n_events": 3000, "block_size": 1000, "shower_front": "spherical", "noise": {"enabled": False}}
        ),
        seed=21,
        blocks=[0, 1, 2],
    )
    data, _ = bl.with_reference_fit(data, bl.BaselineSettings.from_config({}))
    ok = np.all(np.isfinite(data["front_axis"]), axis=1)
    settings = preparation.PreparationSettings.from_config(
        {"fractions": {"train": 0.7, "val": 0.15, "test": 0.15}}
    )
    splits, norm = preparation.prepare(
        {k: v[ok] if k != "detector" else v for k, v in data.items()}, settings, np.random.default_rng(1)
    )
    chans = ["residual", "mask", "signal", *inputs.FRONT_CHANNELS]
    train_settings = training.TrainingSettings.from_config(
        {
            "seeds": [1],
            "epochs": 12,
            "batch_size": 64,
            "learning_rate": 0.003,
            "early_stopping_patience": 12,
            "reduce_lr": {"patience": 12},
            "threads": 1,
            "gpus": 0,
            "inputs": chans,
        }
    )
    spec = {
        "family": "cnn",
        "blocks": [{"filters": [16], "pool": "avg"}, {"filters": [16]}],
        "head": "flatten",
        "dense_units": [32],
        "targets": ["direction"],
        "direction_head": "correction",
        "widths": ["direction"],
    }
    arrays = [
        a
        for s in ("train", "val")
        for a in preparation.network_arrays(splits[s], norm, chans, "linear", ["direction"])
    ]
    r = training.train(*arrays, "correction", spec, train_settings, 3, 1)
    x_test = normalization.select_channels(splits["test"]["x"], norm, chans)
    y, _ = training.predict(r.model, x_test, 256)
    axis_net = training.reconstruct(y, norm, ["direction"], "linear")["axis_pred"]
    truth = splits["test"]["axis"]
    fit = x_test[:, 0, 0, 3:6]
    psi_fit = np.quantile(np.degrees(geometry.opening_angle(fit, truth)), 0.68)
    psi_net = np.quantile(np.degrees(geometry.opening_angle(axis_net, truth)), 0.68)
    print(f"\npsi68 on {len(truth)} test showers: plane fit {psi_fit:.3f} deg, network {psi_net:.3f} deg")
    assert psi_fit > 0.5
    assert psi_net < 0.8 * psi_fit
    # the width: in deg, informative, and calibrated on the validation split to ~ 68 % coverage
    test = {"axis_true": truth, **training.reconstruct(y, norm, ["direction"], "linear")}
    x_val = normalization.select_channels(splits["val"]["x"], norm, chans)
    y_val, _ = training.predict(r.model, x_val, 256)
    val = {"axis_true": splits["val"]["axis"], **training.reconstruct(y_val, norm, ["direction"], "linear")}
    psi = np.degrees(geometry.opening_angle(test["axis_pred"], truth))
    certain = test["axis_sigma"] <= np.median(test["axis_sigma"])
    assert np.all((test["axis_sigma"] > 0.01) & (test["axis_sigma"] < 10.0))
    sigma = widths.apply(test, widths.fit(val, "scale"))["axis_sigma_calibrated"]
    covered = np.mean(psi <= widths.region(2) * sigma)
    halves = [np.quantile(psi[c], 0.68) for c in (certain, ~certain)]
    print(
        f"psi68 of the more and the less certain half {halves[0]:.3f}, {halves[1]:.3f} deg; "
        f"coverage {covered:.3f}"
    )
    assert halves[0] < 0.9 * halves[1]
    assert covered == pytest.approx(widths.NOMINAL, abs=0.06)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"targets": ["energy", "direction"], "training": {"inputs": ["time", "signal", "front_ux"]}},
            "'models.corr.direction_head'.*lacks front_uy, front_uz",
        ),
        (
            {"targets": ["energy"], "training": {"inputs": ["time", *inputs.FRONT_CHANNELS]}},
            "corrects the direction, which is not among the model's targets",
        ),
    ],
)
def test_a_correction_head_without_its_reference_is_a_config_error(test_config, spec, message):
    from airshower.config import validate_config

    test_config["models"]["corr"] = {
        "family": "cnn",
        "blocks": [{"filters": [4]}],
        "direction_head": "correction",
        **spec,
    }
    with pytest.raises(ConfigError, match=message):
        validate_config(test_config)

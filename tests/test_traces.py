"""The traces study's pieces: the recorded trace as input channels (normalized on the training
split, 0 where silent or dead, scaled and dropped by the augmentation), the trace network (one
encoder shared by every station), the streaming merge of trace shards, the muon target's metrics
and the merit factors of Xmax and R_mu combined, against hand-computed values."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from airshower import augmentation, inputs, io, models, normalization, preparation, statistics
from airshower import simulation as sim
from airshower.evaluation import muon as muon_metrics
from airshower.schema import ConfigError
from conftest import fake_showers

N_BINS = 6
SPLIT = preparation.PreparationSettings.from_config({"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}})


def with_traces(showers: dict, seed: int = 5) -> dict:
    """Fake showers with a recorded trace of N_BINS bins whose sum is the signal (0 where silent)."""
    gen = np.random.default_rng(seed)
    shape = showers["signal"].shape
    weights = gen.dirichlet(np.ones(N_BINS), size=shape)
    signal = np.nan_to_num(showers["signal"].astype(np.float64))
    showers["trace"] = (weights * signal[..., None]).astype(np.float32)
    return showers


@pytest.fixture(scope="module")
def prepared():
    showers = with_traces(fake_showers(200, np.random.default_rng(2)))
    splits, norm = preparation.prepare(showers, SPLIT, np.random.default_rng(3))
    return showers, splits, norm


def test_trace_channels_are_normalized_on_the_training_split(prepared):
    showers, splits, norm = prepared
    bins = list(inputs.trace_channels(N_BINS))
    assert (
        norm["channels"][-N_BINS:]
        == bins
        == ["trace_00", "trace_01", "trace_02", "trace_03", "trace_04", "trace_05"]
    )
    tr = splits["train"]["index"]
    on = np.isfinite(showers["signal"][tr])
    values = np.log10(1.0 + np.maximum(showers["trace"][tr][on].astype(np.float64), 0.0))
    assert norm["trace"]["mean"] == pytest.approx(values.mean(), rel=1e-10)
    assert norm["trace"]["std"] == pytest.approx(values.std(), rel=1e-10)
    assert norm["trace"]["n_bins"] == N_BINS
    # the prepared channel of bin 2 of one triggered station, by hand; silent stations 0
    test = splits["test"]
    x = test["x"]
    event, (i, j) = 0, np.argwhere(np.isfinite(showers["signal"][test["index"][0]]))[0]
    raw = showers["trace"][test["index"][event], i, j, 2]
    expected = (np.log10(1.0 + max(raw, 0.0)) - norm["trace"]["mean"]) / norm["trace"]["std"]
    assert x[event, i, j, norm["channels"].index("trace_02")] == pytest.approx(expected, rel=1e-5)
    silent = ~np.isfinite(showers["signal"][test["index"]])
    assert np.all(x[..., -N_BINS:][silent] == 0.0)


def test_the_trace_input_names_every_bin_and_needs_traces(prepared):
    _, splits, norm = prepared
    picked = normalization.select_channels(splits["val"]["x"], norm, ["signal", "trace"])
    assert picked.shape[-1] == 1 + N_BINS
    np.testing.assert_array_equal(picked[..., 1:], splits["val"]["x"][..., -N_BINS:])
    assert inputs.split_trace(["signal", "trace", "mask"], 2 + N_BINS) == ([0, 7], [1, 2, 3, 4, 5, 6])
    assert inputs.split_trace(["signal", "mask"], 2) == ([0, 1], [])
    plain = {"channels": ["time", "signal", "mask"]}
    with pytest.raises(ValueError, match="store_traces: true"):
        normalization.select_channels(np.zeros((1, 14, 14, 3), np.float32), plain, ["time", "trace"])


def test_dropping_and_scaling_act_on_the_trace_too(prepared):
    _, splits, norm = prepared
    channels = inputs.expand(["signal", "mask", "trace"], norm["channels"])
    x = normalization.select_channels(splits["val"]["x"], norm, ["signal", "mask", "trace"])
    on = x[..., 1] > 0.5
    dead = np.zeros(on.shape, bool)
    dead[0][on[0]] = True  # every triggered station of event 0
    dropped = augmentation.drop_stations(x, channels, norm, dead)
    assert np.all(dropped[0, ..., 2:] == 0.0)
    np.testing.assert_array_equal(dropped[1:], x[1:])
    # a factor 2 on the signal: each bin S_b -> 2 S_b, log10(1 + 2 S_b) standardized
    scaled = augmentation.scale_signals(x, channels, norm, np.full(len(x), 2.0))
    stats = norm["trace"]
    s_b = 10.0 ** (x[..., 2:].astype(np.float64) * stats["std"] + stats["mean"]) - 1.0
    expected = (np.log10(1.0 + 2.0 * s_b) - stats["mean"]) / stats["std"]
    np.testing.assert_allclose(scaled[..., 2:][on], expected[on], rtol=1e-4, atol=1e-5)


def test_the_trace_encoder_is_one_network_for_every_station():
    """Two stations with the same trace get the same features; the encoder's weights do not grow
    with the array (one (1, k) kernel per filter)."""
    spec = {
        "family": "cnn",
        "blocks": [{"filters": [4], "pool": "none"}],
        "head": "flatten",
        "trace_encoder": {"filters": [3], "kernel_size": 3, "pool_size": 2, "features": 2},
    }
    names = ["signal", "trace"]
    model = models.build_model(spec, (14, 14, 1 + N_BINS), input_channels=names)
    features = model.get_layer("array_features")
    import keras

    probe = keras.Model(model.input, features.output)
    x = np.zeros((1, 14, 14, 1 + N_BINS), np.float32)
    pulse = np.linspace(0.0, 1.0, N_BINS, dtype=np.float32)
    x[0, 2, 3, 1:] = pulse
    x[0, 9, 11, 1:] = pulse
    x[0, 9, 11, 0] = 5.0  # another signal: the trace features do not see it
    out = np.asarray(probe(x))
    assert out.shape == (1, 14, 14, 1 + 2)
    np.testing.assert_allclose(out[0, 2, 3, 1:], out[0, 9, 11, 1:], rtol=1e-6)
    assert out[0, 9, 11, 0] == 5.0  # the image channel passes unchanged
    encoder_weights = sum(int(np.prod(w.shape)) for w in model.get_layer("trace_features").weights)
    assert encoder_weights == (3 * (N_BINS // 2)) * 2 + 2
    with pytest.raises(ConfigError, match="lacks 'trace'"):
        models.build_model(spec, (14, 14, 2), input_channels=["time", "signal"])


def test_the_streaming_merge_writes_what_the_in_memory_merge_gives(tmp_path):
    settings = sim.SimulationSettings.from_config(
        {"n_events": 90, "block_size": 30, "n_shards": 3, "store_traces": True}
    )
    paths = []
    for shard in range(3):
        paths.append(tmp_path / f"{shard}.h5")
        io.write_h5(paths[-1], sim.simulate_shard(settings, 4, shard), units=io.shower_units())
    merged, _ = io.merge_showers(paths)
    assert io.merge_shower_files(paths, tmp_path / "showers.h5", attrs={"seed": 4}) == 90
    written = io.read_h5(tmp_path / "showers.h5", ranges=False)
    assert set(written) == set(merged)
    for name, values in merged.items():
        np.testing.assert_array_equal(written[name], values, err_msg=name)
    assert io.read_attrs(tmp_path / "showers.h5")["seed"] == 4
    # a damaged shard names itself and leaves no output behind
    (tmp_path / "1.h5").write_bytes(b"not hdf5")
    with pytest.raises(io.DataError, match=r"1\.h5"):
        io.merge_shower_files(paths, tmp_path / "again.h5")
    assert not (tmp_path / "again.h5").exists()


def test_fisher_merit_factor_by_hand():
    """Two uncorrelated observables of merit factors 3 and 4 combine to 5 (sqrt(9 + 16))."""
    gen = np.random.default_rng(1)
    n = 200_000
    a = np.column_stack([gen.normal(0.0, 1.0, n), gen.normal(0.0, 1.0, n)])
    b = np.column_stack([gen.normal(3.0 * np.sqrt(2), 1.0, n), gen.normal(4.0 * np.sqrt(2), 1.0, n)])
    assert statistics.merit_factor(a[:, 0], b[:, 0]) == pytest.approx(3.0, rel=0.01)
    assert statistics.fisher_merit_factor(a, b) == pytest.approx(5.0, rel=0.01)
    # one column: the plain merit factor
    assert statistics.fisher_merit_factor(a[:, :1], b[:, :1]) == pytest.approx(
        statistics.merit_factor(a[:, 0], b[:, 0]), rel=1e-3
    )
    assert np.isnan(statistics.fisher_merit_factor(a[:2], b[:2]))


def test_muon_metrics_against_hand_computed_values():
    gen = np.random.default_rng(2)
    n = 4000
    true = gen.choice([0.9, 1.3], n) * gen.normal(1.0, 0.05, n)
    pred = {
        "energy_true": 10 ** gen.uniform(0.5, 2.0, n),
        "muon": true,
        "muon_pred": true + 0.02 + gen.normal(0, 0.05, n),
    }
    from test_target_metrics import settings, streams

    run = streams(0)
    rec = muon_metrics.muon_metrics(pred, settings(50), {}, run(6), substream=lambda *i: run(6, *i))
    residual = pred["muon_pred"] - pred["muon"]
    assert rec["overall"]["bias_pct"]["value"] == pytest.approx(100 * residual.mean(), rel=1e-12)
    assert rec["overall"]["resolution_pct"]["value"] == pytest.approx(100 * residual.std(ddof=1), rel=1e-12)
    assert rec["overall"]["bias_pct"]["value"] == pytest.approx(2.0, abs=0.3)
    assert rec["overall"]["resolution_pct"]["value"] == pytest.approx(5.0, abs=0.3)
    # the true spread is that of the two masses and the 5 % fluctuations: 1 - 0.05^2 / var(true)
    assert rec["overall"]["resolved_fraction"]["value"] == pytest.approx(1 - 0.05**2 / true.var(), abs=0.01)


def test_trace_inputs_are_checked_with_the_config(test_config):
    from airshower.config import validate_config

    config = dict(test_config)
    config["models"] = {
        "traces": {
            "family": "cnn",
            "blocks": [{"filters": [4]}],
            "trace_encoder": {"filters": [4]},
            "training": {"inputs": ["signal", "trace"]},
        }
    }
    with pytest.raises(ConfigError, match="store_traces: true"):
        validate_config(config)
    config["simulation"] = {**config["simulation"], "store_traces": True}
    validated = validate_config(config)
    assert validated["models"]["traces"]["trace_encoder"] == {
        "filters": [4],
        "kernel_size": 5,
        "pool_size": 2,
        "features": 8,
        "activation": "relu",
    }
    config["models"]["traces"]["training"] = {"inputs": ["signal"]}
    with pytest.raises(ConfigError, match="trace_encoder.*lacks 'trace'"):
        validate_config(config)


@pytest.mark.parametrize("traced", [False, True])
def test_preparing_block_by_block_gives_what_preparing_in_memory_gives(tmp_path, traced):
    """The same splits, labels and statistics (to 1e-12) and the same inputs (to float32
    rounding), with blocks of 37 events of 300 (dead stations and traces where the file has them)."""
    from airshower import baseline

    gen = np.random.default_rng(8)
    showers = fake_showers(300, gen, masses=(1, 56))
    showers["working"] = (gen.random(showers["signal"].shape) > 0.05).astype(np.uint8)
    showers["working"][np.isfinite(showers["signal"])] = 1
    if traced:
        showers = with_traces(showers)
    del showers["front_axis"], showers["ldf_s1000"]
    io.write_h5(tmp_path / "showers.h5", showers, units=io.shower_units())
    front = baseline.BaselineSettings.from_config({})

    def fronts(time_us, signal, detector):
        return baseline.reference_fit(time_us, signal, detector, front)

    read = io.read_showers(tmp_path / "showers.h5", traces=True)
    read["front_axis"], read["ldf_s1000"] = fronts(read["time"], read["signal"], read["detector"])
    splits, norm = preparation.prepare(read, SPLIT, np.random.default_rng(9))
    outputs = {s: tmp_path / f"{s}.h5" for s in preparation.SPLITS}
    blockwise = preparation.prepare_in_blocks(
        tmp_path / "showers.h5",
        outputs,
        SPLIT,
        np.random.default_rng(9),
        fronts,
        {"seed": 9},
        block_events=37,
    )
    assert list(blockwise) == list(norm)
    assert blockwise["channels"] == norm["channels"]
    assert blockwise["targets"] == norm["targets"]
    for key in ("signal", "time", "residual", "station_x", "station_y", *(["trace"] if traced else [])):
        for stat in ("mean", "std"):
            assert blockwise[key][stat] == pytest.approx(norm[key][stat], rel=1e-12, abs=1e-15), (key, stat)
    for stat in ("mean", "std"):  # the LDF fit's iterations on blocks packed otherwise: rounding
        assert blockwise["ldf_s1000"][stat] == pytest.approx(norm["ldf_s1000"][stat], rel=1e-9), stat
    for name, split in splits.items():
        written = io.read_h5(outputs[name])
        assert set(written) == set(split)
        for label, values in split.items():
            if label == "x":
                np.testing.assert_allclose(written["x"], values, rtol=1e-5, atol=1e-6)
            else:
                np.testing.assert_array_equal(written[label], values)
        assert io.read_attrs(outputs[name])["seed"] == 9


def test_a_broken_block_names_the_file_and_its_events(tmp_path):
    showers = fake_showers(100, np.random.default_rng(1))
    del showers["front_axis"], showers["ldf_s1000"]
    showers["signal"][60, 3, 3] = -5.0  # a negative signal in the second block
    io.write_h5(tmp_path / "showers.h5", showers, units=io.shower_units())
    outputs = {s: tmp_path / f"{s}.h5" for s in preparation.SPLITS}
    with pytest.raises(
        io.DataError, match=r"showers.h5: dataset 'signal' .* \(in events 50 to 99, counted from 50\)"
    ):
        preparation.prepare_in_blocks(
            tmp_path / "showers.h5",
            outputs,
            SPLIT,
            np.random.default_rng(2),
            lambda t, _s, _d: (np.zeros((len(t), 3)), np.ones(len(t))),
            block_events=50,
        )
    assert not any(path.exists() for path in outputs.values())  # nothing half-written


def test_training_inputs_read_from_disk(tmp_path):
    """The split files as the network's inputs: the same bytes (and fingerprint) as in memory,
    every event once per epoch in an order drawn per epoch, and a fit that learns from them."""
    import zlib

    from airshower import training
    from airshower.training import stream

    gen = np.random.default_rng(12)
    showers = fake_showers(400, gen)
    showers["signal"] = showers["signal"] * (showers["energy"] / 10.0)[:, None, None]
    splits, norm = preparation.prepare(showers, SPLIT, gen)
    for name, split in splits.items():
        io.write_h5(tmp_path / f"{name}.h5", split, units=preparation.split_units())
    inputs = ["signal", "mask"]
    channels = normalization.channel_indices(norm, inputs)
    disk = {s: stream.SplitInputs(tmp_path / f"{s}.h5", channels) for s in ("train", "val")}
    memory = {s: normalization.select_channels(splits[s]["x"], norm, inputs) for s in ("train", "val")}
    assert disk["train"].shape == memory["train"].shape
    np.testing.assert_array_equal(disk["train"].read(5, 17), memory["train"][5:17])
    assert disk["train"].crc32() == zlib.crc32(np.ascontiguousarray(memory["train"]).data)

    y = np.arange(len(disk["train"]), dtype=np.float32)
    batches = stream.DiskBatches(disk["train"], y, batch_size=32, seed=np.random.SeedSequence(3))
    for epoch in (0, 1):
        seen = np.concatenate([batches.batch(epoch, i)[1] for i in range(len(batches))])
        np.testing.assert_array_equal(np.sort(seen), y)  # every event once
    assert not np.array_equal(batches.order(0), batches.order(1))
    np.testing.assert_array_equal(
        batches.order(1), stream.DiskBatches(disk["train"], y, 32, np.random.SeedSequence(3)).order(1)
    )
    x_batch, y_batch = batches.batch(1, 0)
    start = int(batches.order(1)[0]) * 32
    np.testing.assert_array_equal(x_batch, memory["train"][start : start + 32])

    settings = training.TrainingSettings.from_config(
        {
            "seeds": [1],
            "epochs": 4,
            "batch_size": 32,
            "learning_rate": 0.01,
            "inputs": inputs,
            "target_transform": "log10",
        }
    )
    targets = {s: preparation.network_arrays(splits[s], norm, inputs, "log10")[1] for s in ("train", "val")}
    spec = {"family": "cnn", "blocks": [{"filters": [4], "pool": "avg"}], "head": "flatten"}
    result = training.train(
        disk["train"], targets["train"], disk["val"], targets["val"], "disk", spec, settings, 3, 1
    )
    losses = [row["val_loss"] for row in result.history]
    assert len(losses) == 4
    assert all(np.isfinite(losses))
    assert min(losses) < 1.0  # beats predicting the mean of the standardized energy
    arrays = (memory["train"], targets["train"], memory["val"], targets["val"])
    assert training.fingerprint(
        spec, {}, 1, (disk["train"], targets["train"], disk["val"], targets["val"])
    ) == (training.fingerprint(spec, {}, 1, arrays))


def test_prediction_from_disk_is_the_prediction_in_memory(tmp_path):
    import keras

    from airshower import training
    from airshower.training import stream

    showers = fake_showers(150, np.random.default_rng(4))
    splits, norm = preparation.prepare(showers, SPLIT, np.random.default_rng(5))
    io.write_h5(tmp_path / "test.h5", splits["test"], units=preparation.split_units())
    inputs = ["signal", "mask"]
    spec = {
        "family": "cnn",
        "blocks": [{"filters": [4], "pool": "avg"}],
        "head": "flatten",
        "targets": ["energy", "xmax"],
    }
    keras.utils.set_random_seed(2)
    model = models.build_model(spec, (14, 14, 2))
    disk = stream.SplitInputs(tmp_path / "test.h5", normalization.channel_indices(norm, inputs))
    from_disk, rate = training.predict(model, disk, batch_size=16)
    in_memory, _ = training.predict(
        model, normalization.select_channels(splits["test"]["x"], norm, inputs), 16
    )
    assert rate > 0
    for target in ("energy", "xmax"):
        np.testing.assert_allclose(from_disk[target], in_memory[target], rtol=1e-6, atol=1e-7)
    # damaged inputs are named with what to run
    disk.close()
    with h5py.File(tmp_path / "test.h5", "r+") as fh:
        fh["x"][3, 0, 0, 0] = np.nan
    with pytest.raises(io.DataError, match=r"test.h5: dataset 'x' has NaN .*--forcerun"):
        training.predict(model, stream.SplitInputs(tmp_path / "test.h5", [0, 1]), 16)

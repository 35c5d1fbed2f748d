"""The target registry (airshower.targets): each target's transform and its inverse, statistics of
the training split only, the network arrays and reconstructions of a model of several targets,
the weighted sum of the targets' losses, and a multi-target network that learns on a small
sample of the toy simulation. (The heads: test_models.py; every backend: test_backends.py; the
config checks: test_config.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from airshower import geometry, models, normalization, predictionfile, preparation, training
from airshower import targets as registry
from airshower.training.losses import target_losses
from conftest import fake_showers

EVERY_TARGET = list(registry.TARGETS)


def unit_axes(n: int, seed: int = 0) -> np.ndarray:
    gen = np.random.default_rng(seed)
    return geometry.axis_vector(gen.uniform(-np.pi, np.pi, n), gen.uniform(0, 1.0, n)).astype(np.float64)


# --- the registry ----------------------------------------------------------------------------------


def test_every_target_names_its_datasets_in_the_contracts():
    assert EVERY_TARGET == ["energy", "direction", "core", "xmax", "mass", "muon"]
    for name, target in registry.TARGETS.items():
        assert target.name == name
        assert registry.get(name) is target
        assert target.label in preparation.LABELS + preparation.OPTIONAL_LABELS, name  # a split has its truth
        assert predictionfile.PREDICTION_LABELS[target.label] == target.truth, name
        assert target.truth in predictionfile.PREDICTION_UNITS, name
        assert target.predicted in predictionfile.OPTIONAL_PREDICTION_UNITS, name
    assert set(registry.BASELINE_TARGETS) <= set(registry.TARGETS)
    assert registry.labels_needed(["direction", "core"]) == ["axis", "core"]
    with pytest.raises(
        ValueError, match=r"unknown target 'charge' \(use energy, direction, core, xmax, mass, muon\)"
    ):
        registry.get("charge")


def test_every_target_but_the_energy_has_its_own_loss():
    settings = training.TrainingSettings.from_config(
        {"seeds": [1], "epochs": 1, "batch_size": 8, "learning_rate": 0.01, "loss": "huber"}
    )
    assert target_losses(EVERY_TARGET, settings) == {
        "energy": "huber",  # the model's training.loss
        "direction": "mse",
        "core": "mse",
        "xmax": "mse",
        "mass": "sparse_categorical_crossentropy",
        "muon": "mse",
    }
    assert [t.activation for t in registry.TARGETS.values()] == [None, None, None, None, "softmax", None]


# --- each target's transform and inverse -----------------------------------------------------------


@pytest.mark.parametrize("transform", registry.TARGET_TRANSFORMS)
def test_energy_round_trip(transform):
    gen = np.random.default_rng(1)
    energy = gen.uniform(3, 100, 500).astype(np.float32)
    target = registry.get("energy")
    stats = target.fit(energy)
    assert stats == registry.fit_target_transforms(energy)
    assert set(stats["transforms"]) == set(registry.TARGET_TRANSFORMS)
    assert target.n_outputs(stats) == 1
    y = target.encode(energy, stats, transform)
    assert (y.shape, y.dtype) == ((500, 1), np.float32)
    assert y.mean() == pytest.approx(0, abs=1e-5)
    assert y.std() == pytest.approx(1, abs=1e-5)
    forward = {"linear": lambda e: e, "log10": np.log10}[transform]
    moments = stats["transforms"][transform]
    expected = (forward(energy.astype(np.float64)) - moments["mean"]) / moments["std"]
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-5, atol=1e-6)
    back = target.decode(y, stats, transform)
    assert (back.shape, back.dtype) == ((500,), np.float64)
    np.testing.assert_allclose(back, energy, rtol=1e-5)
    np.testing.assert_allclose(target.decode(y[:, 0], stats, transform), back)  # (N,) as well


def test_direction_decode_normalizes_and_encode_decode_gives_the_axis_back():
    target = registry.get("direction")
    axis = unit_axes(200)
    assert target.fit(axis) == {}  # of order one already: nothing to standardize
    assert target.n_outputs({}) == 3
    y = target.encode(axis, {})
    assert (y.shape, y.dtype) == ((200, 3), np.float32)
    np.testing.assert_array_equal(y, axis.astype(np.float32))
    back = target.decode(y, {})
    assert (back.shape, back.dtype) == ((200, 3), np.float64)
    np.testing.assert_allclose(back, axis, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), 1.0, rtol=1e-12)
    # any length: the direction of the output; none at all: the vertical
    raw = np.array([[0.0, 0.0, 5.0], [3.0, 0.0, 4.0], [-1e-3, 1e-3, 0.0], [0.0, 0.0, 0.0]])
    expected = [[0, 0, 1], [0.6, 0, 0.8], [-np.sqrt(0.5), np.sqrt(0.5), 0], [0, 0, 1]]
    np.testing.assert_allclose(target.decode(raw, {}), expected, rtol=1e-12)
    np.testing.assert_allclose(target.decode(3.0 * axis, {}), axis, rtol=1e-12)


def test_core_is_standardized_per_axis_and_comes_back():
    target = registry.get("core")
    gen = np.random.default_rng(2)
    core = np.column_stack([gen.normal(100.0, 300.0, 400), gen.normal(-50.0, 600.0, 400)])
    stats = target.fit(core)
    np.testing.assert_allclose(stats["mean"], core.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], core.std(axis=0), rtol=1e-12)
    assert target.n_outputs(stats) == 2
    y = target.encode(core, stats)
    assert (y.shape, y.dtype) == ((400, 2), np.float32)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-5)
    back = target.decode(y, stats)
    assert (back.shape, back.dtype) == ((400, 2), np.float64)
    np.testing.assert_allclose(back, core, rtol=1e-5, atol=1e-3)
    by_hand = {"mean": [10.0, -20.0], "std": [2.0, 4.0]}
    np.testing.assert_array_equal(target.encode(np.array([[12.0, -28.0]]), by_hand), [[1.0, -2.0]])
    np.testing.assert_array_equal(target.decode(np.array([[1.0, -2.0]]), by_hand), [[12.0, -28.0]])


def test_xmax_is_a_standardized_scalar():
    target = registry.get("xmax")
    xmax = np.array([650.0, 700.0, 750.0, 800.0, 850.0])
    stats = target.fit(xmax)
    assert stats == {"mean": 750.0, "std": pytest.approx(np.sqrt(5000.0))}
    assert target.n_outputs(stats) == 1
    y = target.encode(xmax, stats)
    assert (y.shape, y.dtype) == ((5, 1), np.float32)
    np.testing.assert_allclose(y[:, 0], (xmax - 750.0) / np.sqrt(5000.0), rtol=1e-6)
    back = target.decode(y, stats)
    assert (back.shape, back.dtype) == ((5,), np.float64)  # (N,) like xmax itself
    np.testing.assert_allclose(back, xmax, rtol=1e-6)
    with pytest.raises(ValueError, match=r"target 'xmax': the training split's true values have no spread"):
        target.fit(np.full(10, 750.0))


def test_mass_encodes_the_class_index_and_decodes_probabilities():
    target = registry.get("mass")
    masses = np.array([56, 1, 4, 1, 56, 4], np.int16)
    stats = target.fit(masses)
    assert stats == {"classes": [1, 4, 56]}  # ascending: the columns of mass_prob
    assert target.n_outputs(stats) == 3
    y = target.encode(masses, stats)
    assert (y.shape, y.dtype) == ((6, 1), np.float32)
    np.testing.assert_array_equal(y[:, 0], [2, 0, 1, 0, 2, 1])
    prob = np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]], np.float32)
    back = target.decode(prob, stats)
    assert (back.shape, back.dtype) == ((2, 3), np.float64)
    np.testing.assert_array_equal(back, prob.astype(np.float64))
    with pytest.raises(ValueError, match="mass number 14") as info:
        target.encode(np.array([1, 4, 14, 26]), stats)
    assert str(info.value) == (
        "target 'mass': mass number 14 (event 2) is not a class of the training split ([1, 4, 56])"
    )
    with pytest.raises(ValueError, match=r"one mass number only \(\[56\]\)"):
        target.fit(np.full(5, 56, np.int16))


# --- statistics from the training split only -------------------------------------------------------


def test_fit_all_uses_only_what_it_is_given():
    showers = fake_showers(300, np.random.default_rng(3), masses=(1, 4, 56))
    train = {name: values[:200] for name, values in showers.items()}
    stats = registry.fit_all(train)
    assert list(stats) == EVERY_TARGET
    assert stats["energy"] == registry.fit_target_transforms(train["energy"])
    np.testing.assert_allclose(stats["core"]["mean"], train["core"].astype(np.float64).mean(axis=0))
    assert stats["xmax"]["mean"] == pytest.approx(train["xmax"].astype(np.float64).mean(), rel=1e-12)
    assert stats["xmax"]["std"] == pytest.approx(train["xmax"].astype(np.float64).std(), rel=1e-12)
    assert stats["mass"] == {"classes": [1, 4, 56]}
    everything = registry.fit_all(showers)
    assert everything["xmax"] != stats["xmax"]  # the held-out events would change it
    assert everything["energy"] != stats["energy"]
    # a label the split lacks: no statistics of its target
    assert list(registry.fit_all({"energy": train["energy"], "xmax": train["xmax"]})) == ["energy", "xmax"]
    # one mass number: no mass entry (the config refuses a mass target then), the rest as before
    single = dict(train, mass=np.full(200, 56, np.int16))
    assert list(registry.fit_all(single)) == ["energy", "direction", "core", "xmax", "muon"]
    # any other target that cannot be fitted is an error
    with pytest.raises(ValueError, match="target 'core'"):
        registry.fit_all(dict(train, core=np.zeros((200, 2))))


def test_the_normalization_holds_the_targets_of_the_training_split():
    showers = fake_showers(400, np.random.default_rng(4), masses=(1, 56))
    settings = preparation.PreparationSettings.from_config(
        {"fractions": {"train": 0.7, "val": 0.15, "test": 0.15}}
    )
    splits, norm = preparation.prepare(showers, settings, np.random.default_rng(5))
    tr = splits["train"]["index"]
    assert norm["targets"] == registry.fit_all(
        {label: showers[label][tr] for label in preparation.labels_of(showers)}
    )
    assert norm["targets"]["mass"] == {"classes": [1, 56]}
    assert "target" not in norm


def test_missing_statistics_say_prepare_the_data_again():
    norm = {"targets": {"energy": {}, "direction": {}}}
    with pytest.raises(ValueError, match="prepare the data again") as info:
        registry.statistics_of(norm, "xmax")
    assert str(info.value) == (
        "target 'xmax' has no statistics in the normalization (has energy, direction): prepare the data again"
    )
    with pytest.raises(ValueError, match=r"\(has none\): prepare the data again with two or more mass"):
        registry.statistics_of({}, "mass")  # a normalization.json of before the targets
    with pytest.raises(ValueError, match="prepare the data again"):
        registry.output_units(norm, ["energy", "core"])
    assert registry.statistics_of(norm, "direction") == {}


# --- a model's network arrays and its reconstructions ----------------------------------------------


@pytest.fixture(scope="module")
def prepared():
    showers = fake_showers(300, np.random.default_rng(6), masses=(1, 4, 56))
    settings = preparation.PreparationSettings.from_config(
        {"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}}
    )
    return preparation.prepare(showers, settings, np.random.default_rng(7))


def test_network_arrays_of_one_and_of_several_targets(prepared):
    splits, norm = prepared
    split = splits["val"]
    n = len(split["index"])
    x, y = preparation.network_arrays(split, norm, ["time", "signal"], "log10")
    assert x.shape == (n, 14, 14, 2)
    assert (y.shape, y.dtype) == ((n, 1), np.float32)  # the energy alone: one array
    np.testing.assert_array_equal(y[:, 0], registry.transform_target(split["energy"], norm, "log10"))
    _, xmax = preparation.network_arrays(split, norm, ["mask"], "log10", targets=("xmax",))
    assert xmax.shape == (n, 1)
    _, ys = preparation.network_arrays(split, norm, ["mask"], "linear", targets=EVERY_TARGET)
    assert list(ys) == EVERY_TARGET
    units = registry.output_units(norm, EVERY_TARGET)
    assert units == {"energy": 1, "direction": 3, "core": 2, "xmax": 1, "mass": 3, "muon": 1}
    for name in EVERY_TARGET:
        expected = registry.get(name).encode(
            split[registry.get(name).label], registry.statistics_of(norm, name), "linear"
        )
        np.testing.assert_array_equal(ys[name], expected)
        assert ys[name].shape == (n, 1 if name == "mass" else units[name]), name
        assert ys[name].dtype == np.float32, name
    assert set(np.unique(ys["mass"])) <= {0.0, 1.0, 2.0}


def test_decode_and_reconstruct_give_the_predictions_datasets(prepared):
    """Outputs that are the encoded truths decode to the truths (the energy to float32 precision),
    under the names of predictionfile.OPTIONAL_PREDICTION_UNITS."""
    splits, norm = prepared
    test = splits["test"]
    n = len(test["index"])
    _, ys = preparation.network_arrays(test, norm, ["mask"], "log10", targets=EVERY_TARGET)
    probabilities = np.eye(3)[ys["mass"][:, 0].astype(int)]
    outputs = {**ys, "energy": ys["energy"][:, 0].astype(np.float64), "mass": probabilities}
    others = EVERY_TARGET[1:]
    decoded = registry.decode({t: outputs[t] for t in others}, norm, others, "log10")
    assert list(decoded) == ["axis_pred", "core_pred", "xmax_pred", "mass_prob", "muon_pred"]
    reconstructed = training.reconstruct(outputs, norm, EVERY_TARGET, "log10")
    assert set(reconstructed) == {"energy_pred", *decoded}
    np.testing.assert_allclose(reconstructed["energy_pred"], test["energy"], rtol=1e-5)
    np.testing.assert_allclose(reconstructed["axis_pred"], test["axis"], atol=1e-6)
    np.testing.assert_allclose(reconstructed["core_pred"], test["core"], rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(reconstructed["xmax_pred"], test["xmax"], rtol=1e-5)
    classes = np.array(norm["targets"]["mass"]["classes"])
    np.testing.assert_array_equal(classes[reconstructed["mass_prob"].argmax(axis=1)], test["mass"])
    # a model of one target other than the energy: its array, its reconstruction only
    alone = training.reconstruct(ys["xmax"], norm, ["xmax"], "log10")
    assert list(alone) == ["xmax_pred"]
    assert alone["xmax_pred"].shape == (n,)
    # what the predict job writes
    datasets = predictionfile.prediction_datasets(test, reconstructed)
    assert set(datasets) == set(predictionfile.PREDICTION_UNITS) | set(reconstructed)


# --- the total loss of several targets -------------------------------------------------------------


def tiny_batch(n: int = 8, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    gen = np.random.default_rng(seed)
    x = gen.normal(size=(n, 14, 14, 2)).astype("float32")
    y = {
        "energy": gen.normal(size=(n, 1)),
        "direction": unit_axes(n, seed),
        "core": gen.normal(size=(n, 2)),
        "xmax": gen.normal(size=(n, 1)),
        "mass": gen.integers(0, 3, (n, 1)),
        "muon": gen.normal(size=(n, 1)),
    }
    return x, {k: v.astype("float32") for k, v in y.items()}


def loss_terms(pred: dict, y: dict) -> dict[str, float]:
    """Each target's loss by hand: the mean squared error, the mass' cross-entropy."""
    terms = {
        t: float(np.mean((pred[t] - y[t]) ** 2)) for t in ("energy", "direction", "core", "xmax", "muon")
    }
    picked = pred["mass"][np.arange(len(y["mass"])), y["mass"][:, 0].astype(int)]
    terms["mass"] = float(-np.mean(np.log(picked)))
    return terms


def test_loss_weights_scale_their_targets_term_in_the_total_loss():
    """total = sum over targets of weight * loss; a target not named weighs 1. A weight 2 on the
    direction adds the direction's loss once more."""
    import keras

    spec = {"family": "dense", "units": [8], "targets": EVERY_TARGET}
    x, y = tiny_batch()
    base = {"seeds": [1], "epochs": 1, "batch_size": 8, "learning_rate": 0.01}
    totals = {}
    for key, weights in {"none": {}, "direction2": {"direction": 2.0}, "mass_half": {"mass": 0.5}}.items():
        settings = training.TrainingSettings.from_config({**base, "loss_weights": weights})
        assert dict(settings.loss_weights) == weights
        keras.utils.set_random_seed(1)
        model = models.build_model(spec, (14, 14, 2), n_outputs={"mass": 3})
        training.compile_model(model, settings, targets=tuple(EVERY_TARGET))
        got = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
        terms = loss_terms(model.predict(x, verbose=0), y)
        for target, term in terms.items():  # Keras' per-target losses, unweighted
            assert got[f"{target}_loss"] == pytest.approx(term, rel=1e-5), (key, target)
        by_hand = sum(weights.get(t, 1.0) * term for t, term in terms.items())
        assert got["loss"] == pytest.approx(by_hand, rel=1e-5), key
        totals[key] = (got["loss"], terms)
    (plain, terms) = totals["none"]  # the same seeded weights: the same terms
    assert totals["direction2"][0] == pytest.approx(plain + terms["direction"], rel=1e-5)
    assert totals["mass_half"][0] == pytest.approx(plain - 0.5 * terms["mass"], rel=1e-5)


def test_a_single_target_model_compiles_its_loss_alone():
    import keras

    x, y = tiny_batch()
    settings = training.TrainingSettings.from_config(
        {"seeds": [1], "epochs": 1, "batch_size": 8, "learning_rate": 0.01, "loss": "mae"}
    )
    model = models.build_model({"family": "dense", "units": [8]}, (14, 14, 2))
    training.compile_model(model, settings)  # targets: the energy
    assert not isinstance(model.loss, dict)
    got = model.evaluate(x, y["energy"], batch_size=8, verbose=0)
    assert got == pytest.approx(np.mean(np.abs(model.predict(x, verbose=0) - y["energy"])), rel=1e-5)
    keras.utils.set_random_seed(2)
    xmax = models.build_model({"family": "dense", "units": [8], "targets": ["xmax"]}, (14, 14, 2))
    training.compile_model(xmax, settings, targets=("xmax",))
    got = xmax.evaluate(x, y["xmax"], batch_size=8, verbose=0)  # its own loss: mse, not mae
    assert got == pytest.approx(np.mean((xmax.predict(x, verbose=0) - y["xmax"]) ** 2), rel=1e-5)


class Interrupted(Exception):
    """Raised by a callback: a job killed between epochs."""


def test_a_multi_target_training_resumes_as_if_never_interrupted(prepared, tmp_path):
    """Dict targets through the checkpoint: killed before its last epoch, resumed, the same
    history as a run straight through."""
    import keras

    splits, norm = prepared
    settings = training.TrainingSettings.from_config(
        {
            "seeds": [1],
            "epochs": 3,
            "batch_size": 32,
            "learning_rate": 0.01,
            "early_stopping_patience": 50,
            "reduce_lr": {"patience": 50},
            "loss_weights": {"core": 2.0},
        }
    )
    arrays = [
        a
        for s in ("train", "val")
        for a in preparation.network_arrays(splits[s], norm, settings.inputs, "linear", EVERY_TARGET)
    ]
    spec = {"family": "dense", "units": [8], "targets": EVERY_TARGET}
    units = registry.output_units(norm, EVERY_TARGET)

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # noqa: ARG002 - Keras' callback signature
            if epoch == 2:
                raise Interrupted

    checkpoint = tmp_path / "checkpoint"
    with pytest.raises(Interrupted):
        training.train(
            *arrays, "m", spec, settings, 3, 1, checkpoint_dir=checkpoint, callbacks=[Stop()], n_outputs=units
        )
    resumed = training.train(*arrays, "m", spec, settings, 3, 1, checkpoint_dir=checkpoint, n_outputs=units)
    straight = training.train(*arrays, "m", spec, settings, 3, 1, n_outputs=units)
    assert resumed.info["resumed_from_epoch"] == 2
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in straight.history]


# --- a multi-target network learns on the toy simulation -------------------------------------------


def opening_angle_68(axis: np.ndarray, truth: np.ndarray) -> float:
    return float(np.quantile(np.degrees(geometry.opening_angle(axis, truth)), 0.68))


@pytest.mark.slow
def test_a_multi_target_cnn_learns_on_a_small_sample():
    """2,400 showers of the toy simulation (protons and iron), 8 epochs of a small CNN with every
    target (~20 s on 2 cores): the validation loss falls, and the direction beats the mean axis of
    the training split by far (measured: 68 % of the test events within 5.9 deg, 43.7 deg for the
    mean axis), the core the mean core (62 m against 620 m) and the mass a coin (70 %)."""
    from airshower import baseline, simulation

    composition = {"mass_numbers": [1, 56], "fractions": [0.5, 0.5]}
    sim = simulation.SimulationSettings.from_config(
        {"n_events": 2400, "block_size": 800, "composition": composition}
    )
    showers = simulation.simulate_events(sim, seed=3, blocks=range(3))
    showers, _ = baseline.with_reference_fit(showers, baseline.BaselineSettings.from_config({}))
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    splits, norm = preparation.prepare(
        showers,
        preparation.PreparationSettings.from_config({"fractions": fractions}),
        np.random.default_rng(1),
    )
    settings = training.TrainingSettings.from_config(
        {
            "seeds": [1],
            "epochs": 8,
            "batch_size": 64,
            "learning_rate": 0.003,
            "early_stopping_patience": 50,
            "reduce_lr": {"patience": 50},
            "inputs": ["time", "signal", "mask"],
            "target_transform": "log10",
        }
    )
    spec = {
        "family": "cnn",
        "blocks": [{"filters": [16], "pool": "avg"}, {"filters": [16]}],
        "head": "flatten",
        "dense_units": [16],
        "targets": EVERY_TARGET,
    }
    arrays = [
        a
        for s in ("train", "val")
        for a in preparation.network_arrays(splits[s], norm, settings.inputs, "log10", EVERY_TARGET)
    ]
    units = registry.output_units(norm, EVERY_TARGET)
    result = training.train(*arrays, "multi", spec, settings, study_seed=3, seed=1, n_outputs=units)
    val_loss = [row["val_loss"] for row in result.history]
    assert len(val_loss) == 8
    assert np.isfinite(val_loss).all()
    assert min(val_loss) < 0.85 * val_loss[0]
    assert sorted(result.model.output_names) == sorted(EVERY_TARGET)

    test = splits["test"]
    x = normalization.select_channels(test["x"], norm, settings.inputs)
    y, rate = training.predict(result.model, x, batch_size=256)
    assert rate > 0
    assert set(y) == set(EVERY_TARGET)
    reco = training.reconstruct(y, norm, EVERY_TARGET, "log10")
    assert set(reco) == {t.predicted for t in registry.TARGETS.values()}
    truth = test["axis"].astype(np.float64)
    mean_axis = splits["train"]["axis"].astype(np.float64).mean(axis=0)
    mean_axis /= np.linalg.norm(mean_axis)
    network, constant = (
        opening_angle_68(reco["axis_pred"], truth),
        opening_angle_68(np.broadcast_to(mean_axis, truth.shape), truth),
    )
    assert network < 0.35 * constant, (network, constant)
    core_true = test["core"].astype(np.float64)
    core_network = np.quantile(np.linalg.norm(reco["core_pred"] - core_true, axis=1), 0.68)
    core_mean = np.quantile(np.linalg.norm(core_true - splits["train"]["core"].mean(axis=0), axis=1), 0.68)
    assert core_network < 0.5 * core_mean, (core_network, core_mean)
    np.testing.assert_allclose(reco["mass_prob"].sum(axis=1), 1.0, rtol=1e-5)
    classes = np.array(norm["targets"]["mass"]["classes"])
    assert np.mean(classes[reco["mass_prob"].argmax(axis=1)] == test["mass"]) > 0.6
    assert np.isfinite(reco["energy_pred"]).all()
    assert (reco["energy_pred"] > 0).all()

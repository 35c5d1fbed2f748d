"""Every Keras backend (TensorFlow, JAX, PyTorch): each model family trains on each target
transform and predicts, a checkpoint resumes, the default presets fit, the runtime settings act,
the hexagonal convolution sees its six neighbours, and the GPU benchmark runs without TensorFlow
and Snakemake. The workflow's own jobs run under JAX in tests/test_deploy.py.

Keras fixes its backend at import, so each backend runs in its own process: this file run as a
script (``python tests/test_backends.py DATA_DIR``) does the work of one backend and prints a JSON
record; the tests check it. A backend that is not installed is skipped, except under CI
(``CI`` set), where ``make test`` installs requirements-test.txt and a skip would hide a gap.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from airshower import config, normalization, preparation, study, training
from airshower import targets as registry

ROOT = Path(__file__).resolve().parents[1]
INPUT = (14, 14, 2)
# The smallest member of every family of airshower.models (held to models.FAMILIES below).
FAMILIES = {
    "dense": {"family": "dense", "units": [16], "dropout": 0.1},
    "cnn": {
        "family": "cnn",
        "blocks": [{"filters": [4], "pool": "avg", "batch_norm": True}],
        "head": "flatten",
    },
    "resnet": {
        "family": "resnet",
        "stem_filters": 4,
        "stages": [{"filters": 4, "blocks": 1}, {"filters": 8, "blocks": 1}],
    },
}
TRAINING = {
    "seeds": [1],
    "epochs": 3,
    "batch_size": 32,
    "learning_rate": 0.01,
    "early_stopping_patience": 50,
    "reduce_lr": {"patience": 50},
    "threads": 1,
    "gpus": 0,
}
CHILD_ENV = {"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def require(backend: str) -> None:
    """Skip when the backend is not installed; fail instead under CI, which installs them all."""
    if backend == "tensorflow" or importlib.util.find_spec(backend) is not None:
        return
    message = f"Keras backend '{backend}' is not installed (make test installs requirements-test.txt)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run_child(backend: str, args: list[str], timeout_s: int = 600) -> subprocess.CompletedProcess:
    """``python ARGS`` with KERAS_BACKEND=backend, one thread, no GPU; fails the test if it fails."""
    env = {**os.environ, **CHILD_ENV, "KERAS_BACKEND": backend}
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    assert proc.returncode == 0, f"{backend}: {' '.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


# --- the child: one backend's work ---------------------------------------------------------------


class Interrupted(Exception):
    """Raised by the child's stop callback: a job killed between epochs."""


def learnable_data(n: int = 320) -> tuple[dict, dict]:
    """Prepared splits of fake showers whose signals scale with the energy (so a fit can learn)."""
    from conftest import fake_showers

    gen = np.random.default_rng(11)
    showers = fake_showers(n, gen)
    showers["signal"] = showers["signal"] * (showers["energy"] / 10.0)[:, None, None]
    settings = preparation.PreparationSettings.from_config(
        {"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}}
    )
    return preparation.prepare(showers, settings, gen)


def settings_for(target: str = "linear", **overrides) -> training.TrainingSettings:
    return training.TrainingSettings.from_config({**TRAINING, "target_transform": target, **overrides})


def fit_arrays(data: tuple[dict, dict], settings: training.TrainingSettings) -> list[np.ndarray]:
    """x_train, y_train, x_val, y_val of the model's inputs and target transform."""
    splits, norm = data
    inputs, target = settings.inputs, settings.target_transform
    return [a for s in ("train", "val") for a in preparation.network_arrays(splits[s], norm, inputs, target)]


def predicted_energies(model, data: tuple[dict, dict], settings: training.TrainingSettings) -> tuple:
    """Predicted energies and widths (None for a point output) in EeV of the test split."""
    splits, norm = data
    x = normalization.select_channels(splits["test"]["x"], norm, settings.inputs)
    y, _ = training.predict(model, x, settings.batch_size)
    reconstructed = training.reconstruct(y, norm, ["energy"], settings.target_transform)
    return reconstructed["energy_pred"], reconstructed.get("energy_sigma")


def fit_every_family(data: tuple[dict, dict]) -> dict:
    """Each family on each target transform, and with a gaussian output: validation losses and the
    test predictions in EeV."""
    runs = [(family, target, "point") for target in registry.TARGET_TRANSFORMS for family in FAMILIES]
    runs += [(family, "log10", "gaussian") for family in FAMILIES]
    out = {}
    for family, target, output in runs:
        loss = training.OUTPUT_LOSSES.get(output, "mse")
        settings = settings_for(target, loss=loss)
        spec = {**FAMILIES[family], "output": output}
        r = training.train(*fit_arrays(data, settings), family, spec, settings, 3, 1)
        energy, sigma = predicted_energies(r.model, data, settings)
        out[f"{family}/{target}/{output}"] = {
            "n_parameters": r.info["n_parameters"],
            "backend": r.info["backend"],
            "val_loss": [row["val_loss"] for row in r.history],
            "energy_finite": bool(np.all(np.isfinite(energy))),
            "sigma_positive": None if sigma is None else bool(np.all(sigma > 0)),
            "n_predictions": len(energy),
        }
    return out


def cosine_fit_on_every_channel(data: tuple[dict, dict]) -> dict:
    """The cosine learning-rate schedule and all three input channels: rates, input shape, losses."""
    settings = settings_for(learning_rate_schedule="cosine", inputs=list(preparation.CHANNELS))
    r = training.train(*fit_arrays(data, settings), "cnn", FAMILIES["cnn"], settings, 3, 1)
    return {
        "input_channels": int(r.model.input_shape[-1]),
        "learning_rate": [row["learning_rate"] for row in r.history],
        "val_loss": [row["val_loss"] for row in r.history],
    }


def repeat_fit(data: tuple[dict, dict]) -> list[list[float]]:
    """The validation losses of two fits of one model with one seed, one after the other."""
    settings = settings_for()
    runs = [training.train(*fit_arrays(data, settings), "cnn", FAMILIES["cnn"], settings, 3, 1) for _ in "ab"]
    return [[row["val_loss"] for row in r.history] for r in runs]


def resume_after_interruption(tmp: Path, data: tuple[dict, dict]) -> dict:
    """Interrupted before its last epoch, then run again: where it resumed and what it kept."""
    import keras

    settings = settings_for()

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # noqa: ARG002 - Keras' callback signature
            if epoch == settings.epochs - 1:
                raise Interrupted

    arrays = fit_arrays(data, settings)
    ckpt = tmp / "checkpoint"
    try:
        training.train(
            *arrays, "cnn", FAMILIES["cnn"], settings, 3, 1, checkpoint_dir=ckpt, callbacks=[Stop()]
        )
        interrupted = False
    except Interrupted:
        interrupted = True
    written = training.load_checkpoint(ckpt / training.CHECKPOINT)["state"]
    resumed = training.train(*arrays, "cnn", FAMILIES["cnn"], settings, 3, 1, checkpoint_dir=ckpt)
    saved = tmp / "model.keras"
    training.save_model(resumed.model, saved)
    in_memory, _ = predicted_energies(resumed.model, data, settings)
    loaded, _ = predicted_energies(training.load_model(saved), data, settings)
    return {
        "interrupted": interrupted,
        "epochs_done_at_interruption": written["epochs_done"],
        "history_at_interruption": written["history"],
        "resumed_from_epoch": resumed.info["resumed_from_epoch"],
        "history": resumed.history,
        "epochs_run": resumed.info["epochs_run"],
        "saved_vs_memory_max_diff_eev": float(np.max(np.abs(in_memory - loaded))),
    }


PRESET_CONFIGS = ("config.yaml", "large.yaml")  # the default study's networks, and cnn_pyramid


def presets() -> dict[str, tuple[dict, training.TrainingSettings]]:
    """Every network of the shipped studies: name -> (spec, merged training settings)."""
    out = {}
    for name in PRESET_CONFIGS:
        cfg = config.load_config(ROOT / "config" / name)
        for model, spec in cfg["models"].items():
            section = study.training_settings(cfg, model)
            out.setdefault(model, (spec, training.TrainingSettings.from_config(section)))
    return out


def fit_presets() -> dict:
    """One epoch of every preset on 16 events, with its inputs and training settings."""
    from airshower import models

    gen = np.random.default_rng(0)
    out = {}
    for name, (spec, settings) in presets().items():
        shape = (*INPUT[:2], len(settings.inputs))
        x = gen.normal(size=(16, *shape)).astype("float32")
        targets = tuple(spec.get("targets", ["energy"]))
        model = models.build_model(
            spec, shape, name=name, n_outputs={"mass": 2}, input_channels=settings.inputs
        )
        units = {t: 1 if t == "mass" else models.DEFAULT_OUTPUT_UNITS[t] for t in targets}
        ys = {
            t: gen.integers(0, 2, (16, 1)) if t == "mass" else gen.normal(size=(16, k))
            for t, k in units.items()
        }
        ys = {t: v.astype("float32") for t, v in ys.items()}
        y = ys if len(targets) > 1 else ys[targets[0]]
        training.compile_model(model, settings, steps_per_epoch=2, targets=targets)
        loss = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]
        out[name] = {"n_parameters": models.count_parameters(model), "loss": float(loss)}
    return out


def mixed_precision_fit() -> dict:
    """configure_runtime with mixed precision, then a CNN trains: policy, dtypes, optimizer, loss."""
    from airshower import models

    runtime = training.configure_runtime(1, 0, mixed_precision=True)
    model = models.build_model(FAMILIES["cnn"], INPUT)
    training.compile_model(model, settings_for())
    gen = np.random.default_rng(1)
    x, y = gen.normal(size=(64, *INPUT)).astype("float32"), gen.normal(size=(64, 1)).astype("float32")
    losses = model.fit(x, y, batch_size=32, epochs=2, verbose=0).history["loss"]
    return {
        "runtime": runtime,
        "hidden_compute_dtype": model.layers[1].compute_dtype,
        "output_compute_dtype": model.get_layer("energy").compute_dtype,
        "optimizer": type(model.optimizer).__name__,
        "prediction_dtype": str(model.predict(x[:4], verbose=0).dtype),
        "losses": [float(v) for v in losses],
    }


MULTI_TARGETS = ["energy", "direction", "core", "xmax", "mass"]
MULTI_WEIGHTS = {"direction": 2.0, "mass": 0.5}


def multi_target_fit(tmp: Path) -> dict:
    """A CNN of every target (airshower.targets; two mass classes) trained one epoch with loss
    weights, its total loss against the weighted sum of its targets' losses by hand, its
    reconstructions, and the saved model reloaded."""
    from airshower import targets as registry
    from conftest import fake_showers

    gen = np.random.default_rng(12)
    showers = fake_showers(160, gen, masses=(1, 56))
    prep = preparation.PreparationSettings.from_config({"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}})
    splits, norm = preparation.prepare(showers, prep, gen)
    settings = settings_for("log10", epochs=1, loss_weights=MULTI_WEIGHTS)
    spec = {**FAMILIES["cnn"], "targets": MULTI_TARGETS}
    arrays = [
        a
        for s in ("train", "val")
        for a in preparation.network_arrays(splits[s], norm, settings.inputs, "log10", MULTI_TARGETS)
    ]
    units = registry.output_units(norm, MULTI_TARGETS)
    r = training.train(*arrays, "multi", spec, settings, 3, 1, n_outputs=units)
    x_val, y_val = arrays[2], arrays[3]
    got = r.model.evaluate(x_val, y_val, batch_size=len(x_val), verbose=0, return_dict=True)
    pred = r.model.predict(x_val, verbose=0)
    terms = {t: float(np.mean((pred[t] - y_val[t]) ** 2)) for t in MULTI_TARGETS if t != "mass"}
    picked = pred["mass"][np.arange(len(x_val)), y_val["mass"][:, 0].astype(int)]
    terms["mass"] = float(-np.mean(np.log(picked)))
    x_test = normalization.select_channels(splits["test"]["x"], norm, settings.inputs)
    y, _ = training.predict(r.model, x_test, settings.batch_size)
    reco = training.reconstruct(y, norm, MULTI_TARGETS, "log10")
    saved = tmp / "multi.keras"
    training.save_model(r.model, saved)
    loaded, _ = training.predict(training.load_model(saved), x_test, settings.batch_size)
    return {
        "output_names": sorted(r.model.output_names),
        "n_parameters": r.info["n_parameters"],
        "n_outputs": units,
        "val_loss": [row["val_loss"] for row in r.history],
        "loss": float(got["loss"]),
        "target_losses": {t: float(got[f"{t}_loss"]) for t in MULTI_TARGETS},
        "terms_by_hand": terms,
        "reconstructed": {k: list(v.shape) for k, v in reco.items()},
        "all_finite": bool(all(np.isfinite(v).all() for v in reco.values())),
        "axis_norm_max_error": float(np.max(np.abs(np.linalg.norm(reco["axis_pred"], axis=1) - 1))),
        "mass_prob_sum_max_error": float(np.max(np.abs(reco["mass_prob"].sum(axis=1) - 1))),
        "saved_vs_memory_max_diff": float(max(np.max(np.abs(loaded[t] - y[t])) for t in MULTI_TARGETS)),
        "n_test": len(x_test),
    }


def trace_fit(tmp: Path) -> dict:
    """The trace network (a cnn with a trace_encoder) on fake showers whose 8-bin traces sum to
    their signals, which scale with the energy: its fit, and its model saved and loaded."""
    from conftest import fake_showers

    gen = np.random.default_rng(12)
    showers = fake_showers(320, gen)
    showers["signal"] = showers["signal"] * (showers["energy"] / 10.0)[:, None, None]
    weights = gen.dirichlet(np.ones(8), size=showers["signal"].shape)
    showers["trace"] = (weights * np.nan_to_num(showers["signal"])[..., None]).astype(np.float32)
    prep = preparation.PreparationSettings.from_config({"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}})
    splits, norm = preparation.prepare(showers, prep, gen)
    settings = settings_for("log10", inputs=["time", "mask", "trace"], epochs=5)
    # the traces study's CNN has no batch normalization: with it, five epochs on 192 showers leave
    # its moving statistics behind under JAX (the validation loss rises while the training's falls)
    spec = {
        "family": "cnn",
        "blocks": [{"filters": [4], "pool": "avg"}],
        "head": "flatten",
        "trace_encoder": {"filters": [4], "kernel_size": 3, "pool_size": 2, "features": 3},
    }
    arrays = [
        a
        for s in ("train", "val")
        for a in preparation.network_arrays(splits[s], norm, settings.inputs, "log10")
    ]
    r = training.train(*arrays, "traces", spec, settings, 3, 1, norm=norm)
    x_test = normalization.select_channels(splits["test"]["x"], norm, settings.inputs)
    y, _ = training.predict(r.model, x_test, settings.batch_size)
    saved = tmp / "traces.keras"
    training.save_model(r.model, saved)
    loaded, _ = training.predict(training.load_model(saved), x_test, settings.batch_size)
    return {
        "input_channels": int(x_test.shape[-1]),
        "val_loss": [row["val_loss"] for row in r.history],
        "saved_vs_memory_max_diff": float(np.max(np.abs(loaded - y))),
    }


# --- the hexagonal convolution (airshower.hexconv) ------------------------------------------------


def rotate60(image: np.ndarray, centre: int) -> np.ndarray:
    """``image`` (H, W, ...) of the hexagonal grid in axial coordinates turned by 60 degrees about
    pixel [centre, centre]: the offset (di, dj) goes to (-dj, di + dj) (the six neighbour
    directions (1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1) each to the next). Pixels that
    would leave the image must be zero."""
    out = np.zeros_like(image)
    for i, j in zip(*np.nonzero(np.any(image.reshape(*image.shape[:2], -1) != 0, axis=-1)), strict=True):
        di, dj = i - centre, j - centre
        out[centre - dj, centre + di + dj] = image[i, j]
    return out


def hexagonal_fit(tmp: Path) -> dict:
    """What a hexagonal kernel sees (an impulse's response), whether the layer turns with the grid
    (a footprint and the kernel turned by 60 degrees give the response turned by 60 degrees; a
    square convolution's isotropic 3 x 3 kernel does not), and a hexagonal CNN saved and reloaded."""
    import keras

    from airshower import models
    from airshower.geometry import hexagonal_kernel_mask
    from airshower.hexconv import HexConv2D

    impulse = np.zeros((1, 7, 7, 1), np.float32)
    impulse[0, 3, 3, 0] = 1.0
    seen = HexConv2D(1, 3, padding="same", use_bias=False, kernel_initializer="ones")(impulse)
    offsets = sorted(
        (int(i) - 3, int(j) - 3)
        for i, j in zip(*np.nonzero(keras.ops.convert_to_numpy(seen)[0, :, :, 0]), strict=True)
    )

    gen = np.random.default_rng(5)
    x = np.zeros((1, 9, 9, 2), np.float32)
    for di in range(-2, 3):
        for dj in range(-2, 3):
            if abs(di + dj) <= 2:  # within two steps of the centre: stays on the image when turned
                x[0, 4 + di, 4 + dj] = gen.normal(size=2)
    layer = HexConv2D(3, 3, padding="same", use_bias=False, kernel_initializer="glorot_uniform")
    y = keras.ops.convert_to_numpy(layer(x))[0]
    acting = (
        keras.ops.convert_to_numpy(layer.kernel) * hexagonal_kernel_mask(3)[:, :, None, None]
    )  # the weights that act
    turned_kernel = rotate60(acting, 1)
    turned = HexConv2D(3, 3, padding="same", use_bias=False)
    turned.build(x.shape)
    turned.kernel.assign(turned_kernel)
    y_turned = keras.ops.convert_to_numpy(turned(rotate60(x[0], 4)[None]))[0]
    square = keras.layers.Conv2D(1, 3, padding="same", use_bias=False, kernel_initializer="ones")
    s = keras.ops.convert_to_numpy(square(x[..., :1]))[0]
    s_turned = keras.ops.convert_to_numpy(square(rotate60(x[0, :, :, :1], 4)[None]))[0]

    spec = {
        "family": "cnn",
        "convolution": "hexagonal",
        "blocks": [{"filters": [4], "pool": "avg"}],
        "head": "flatten",
    }
    model = models.build_model(spec, INPUT)
    path = tmp / "hexagonal.keras"
    training.save_model(model, path)
    batch = gen.normal(size=(8, *INPUT)).astype(np.float32)
    reloaded = training.load_model(path)
    return {
        "impulse_offsets": offsets,
        "turned_max_diff": float(np.max(np.abs(y_turned - rotate60(y, 4)))),
        "response_scale": float(np.max(np.abs(y))),
        "square_turned_max_diff": float(np.max(np.abs(s_turned - rotate60(s, 4)))),
        "reloaded_max_diff": float(
            np.max(
                np.abs(keras.ops.convert_to_numpy(reloaded(batch)) - keras.ops.convert_to_numpy(model(batch)))
            )
        ),
    }


def child(tmp: Path) -> dict:
    """The record of one backend (KERAS_BACKEND of this process)."""
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    runtime = training.configure_runtime(1, 0)
    data = learnable_data()
    return {
        "runtime": runtime,
        "environment": {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS")},
        "fits": fit_every_family(data),
        "cosine": cosine_fit_on_every_channel(data),
        "repeat": repeat_fit(data),
        "resume": resume_after_interruption(tmp, data),
        "presets": fit_presets(),
        "multi": multi_target_fit(tmp),
        "traces": trace_fit(tmp),
        "hexagonal": hexagonal_fit(tmp),
        "mixed_precision": mixed_precision_fit(),  # last: it changes the global policy
    }


# --- the tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["tensorflow", "jax", "torch"])
def backend_run(request, tmp_path_factory) -> tuple[str, dict, str]:
    """(backend, its child record, its log) for every installed backend."""
    backend = request.param
    require(backend)
    proc = run_child(backend, [__file__, str(tmp_path_factory.mktemp(backend))])
    return backend, json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_families_are_those_of_the_builders():
    from airshower import models

    assert list(FAMILIES) == list(models.FAMILIES)


@pytest.mark.slow
def test_runtime_reports_backend_and_hides_gpus(backend_run):
    backend, out, log = backend_run
    assert out["runtime"] == {"backend": backend, "devices": ["cpu:0"], "precision": "float32"}
    assert out["environment"]["CUDA_VISIBLE_DEVICES"] == ""
    assert out["environment"]["JAX_PLATFORMS"] == "cpu"
    assert f"Keras backend {backend} on cpu:0, precision float32, 1 threads" in log


@pytest.mark.slow
def test_every_family_and_target_trains_and_predicts(backend_run):
    """Three epochs on signals that scale with the energy: every fit beats predicting the mean,
    whose MSE is 1 (the standardized target's variance) and whose gaussian NLL is 0.5 at best."""
    from airshower import models

    backend, out, _ = backend_run
    expected = [f"{f}/{t}/point" for t in registry.TARGET_TRANSFORMS for f in FAMILIES]
    assert list(out["fits"]) == expected + [f"{f}/log10/gaussian" for f in FAMILIES]
    for key, fit in out["fits"].items():
        family, _, output = key.split("/")
        model = models.build_model({**FAMILIES[family], "output": output}, INPUT)
        assert fit["n_parameters"] == models.count_parameters(model), key
        assert fit["backend"] == backend, key
        assert len(fit["val_loss"]) == TRAINING["epochs"], key
        assert all(math.isfinite(v) for v in fit["val_loss"]), key
        assert min(fit["val_loss"]) < {"point": 1.0, "gaussian": 0.5}[output], key
        assert fit["sigma_positive"] is (None if output == "point" else True), key
        assert fit["energy_finite"], key
        assert fit["n_predictions"] == 64, key  # the test split of 320 events (20 %)


@pytest.mark.slow
def test_cosine_schedule_and_every_input_channel(backend_run):
    _, out, _ = backend_run
    c = out["cosine"]
    assert c["input_channels"] == len(preparation.CHANNELS)
    rates = c["learning_rate"]
    assert rates[0] == pytest.approx(TRAINING["learning_rate"])
    assert rates[0] > rates[1] > rates[2] > 1e-5  # decays over the epochs, towards final_learning_rate
    assert min(c["val_loss"]) < 1.0


@pytest.mark.slow
def test_the_trace_network_trains_and_reloads(backend_run):
    """Every station's trace through one shared encoder: the signals (in the traces' sums) scale
    with the energy, so five epochs beat the mean (MSE 1); the saved model predicts the same."""
    _, out, _ = backend_run
    t = out["traces"]
    assert t["input_channels"] == 2 + 8  # time, mask and the 8 bins
    assert all(math.isfinite(v) for v in t["val_loss"])
    assert min(t["val_loss"]) < 1.0
    assert t["saved_vs_memory_max_diff"] < 1e-5


@pytest.mark.slow
def test_a_hexagonal_kernel_sees_six_neighbours_and_turns_with_the_grid(backend_run):
    """The 3 x 3 hexagonal kernel sees a station and its six neighbours on the axial image, not
    the two corners at sqrt(3) spacings; a footprint turned by 60 degrees (and the kernel with it)
    gives the response turned by 60 degrees, which a square convolution's isotropic kernel does
    not; a hexagonal CNN reloads under the backend that saved it."""
    _, out, _ = backend_run
    h = out["hexagonal"]
    assert [tuple(o) for o in h["impulse_offsets"]] == sorted(
        [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1)]
    )
    assert h["response_scale"] > 0.1
    assert h["turned_max_diff"] < 1e-5 * h["response_scale"] + 1e-6
    assert h["square_turned_max_diff"] > 0.1
    assert h["reloaded_max_diff"] < 1e-6


@pytest.mark.slow
def test_same_seed_same_result_on_the_cpu(backend_run):
    _, out, _ = backend_run
    first, second = out["repeat"]
    assert first == second
    assert len(first) == TRAINING["epochs"]


@pytest.mark.slow
def test_checkpoint_resumes_under_the_same_backend(backend_run):
    _, out, _ = backend_run
    r = out["resume"]
    last = TRAINING["epochs"] - 1
    assert r["interrupted"]
    assert r["epochs_done_at_interruption"] == last
    assert r["resumed_from_epoch"] == last
    assert r["epochs_run"] == TRAINING["epochs"]
    assert [row["epoch"] for row in r["history"]] == list(range(TRAINING["epochs"]))
    assert r["history"][:last] == r["history_at_interruption"]
    assert r["saved_vs_memory_max_diff_eev"] < 1e-4


@pytest.mark.slow
def test_every_preset_trains_with_its_parameter_count(backend_run):
    from airshower import models

    _, out, _ = backend_run
    expected = presets()
    assert list(out["presets"]) == list(expected)
    assert "cnn_pyramid" in expected
    for name, (spec, settings) in expected.items():
        shape = (*INPUT[:2], len(settings.inputs))
        model = models.build_model(
            spec, shape, name=name, n_outputs={"mass": 2}, input_channels=settings.inputs
        )
        assert out["presets"][name]["n_parameters"] == models.count_parameters(model), name
        assert math.isfinite(out["presets"][name]["loss"]), name


@pytest.mark.slow
def test_a_model_of_every_target_trains_with_its_loss_weights(backend_run):
    """One epoch of a CNN of every target: one output per target, a finite validation loss that is
    the weighted sum of the targets' losses (direction x2, mass x0.5; by hand from the
    predictions), every reconstruction, and the saved model predicting the same."""
    from airshower import models

    _, out, _ = backend_run
    m = out["multi"]
    assert m["output_names"] == sorted(MULTI_TARGETS)
    assert m["n_outputs"] == {"energy": 1, "direction": 3, "core": 2, "xmax": 1, "mass": 2}
    spec = {**FAMILIES["cnn"], "targets": MULTI_TARGETS}
    model = models.build_model(spec, INPUT, n_outputs=m["n_outputs"])
    assert m["n_parameters"] == models.count_parameters(model)
    assert len(m["val_loss"]) == 1
    assert all(math.isfinite(v) for v in m["val_loss"])
    for target, term in m["terms_by_hand"].items():
        assert m["target_losses"][target] == pytest.approx(term, rel=1e-4), target
    weighted = sum(MULTI_WEIGHTS.get(t, 1.0) * term for t, term in m["terms_by_hand"].items())
    assert m["loss"] == pytest.approx(weighted, rel=1e-4)
    assert m["loss"] == pytest.approx(m["val_loss"][0], rel=1e-4)  # the same validation batch
    n = m["n_test"]
    assert m["reconstructed"] == {
        "energy_pred": [n],
        "axis_pred": [n, 3],
        "core_pred": [n, 2],
        "xmax_pred": [n],
        "mass_prob": [n, 2],
    }
    assert m["all_finite"]
    assert m["axis_norm_max_error"] < 1e-12
    assert m["mass_prob_sum_max_error"] < 1e-5
    assert m["saved_vs_memory_max_diff"] < 1e-5


@pytest.mark.slow
def test_mixed_precision_acts(backend_run):
    backend, out, _ = backend_run
    m = out["mixed_precision"]
    assert m["runtime"]["precision"] == "mixed_float16"
    assert m["runtime"]["backend"] == backend
    assert (m["hidden_compute_dtype"], m["output_compute_dtype"]) == ("float16", "float32")
    assert m["optimizer"] == "LossScaleOptimizer"
    assert m["prediction_dtype"] == "float32"
    assert all(math.isfinite(v) for v in m["losses"])


@pytest.mark.parametrize(
    ("current", "gpus", "expected"),
    [
        (None, 0, ""),
        ("0,1", 0, ""),
        (None, 2, "0,1"),
        ("", 1, ""),
        ("3,5,7", 2, "3,5"),
        ("GPU-ab", 1, "GPU-ab"),
    ],
)
def test_visible_gpus_follow_the_gpu_count(current, gpus, expected):
    assert training.runtime.visible_gpus(current, gpus) == expected


BLOCKED = (
    "import runpy, sys\n"
    "sys.modules['tensorflow'] = sys.modules['snakemake'] = None  # importing them fails\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_gpu_benchmark_runs_without_tensorflow_and_snakemake(backend, tmp_path):
    """scripts/bench/gpu.py on a tiny set, on the CPU: every network of the default study timed."""
    require(backend)
    output = tmp_path / "gpu.json"
    study_file = ROOT / "config" / "config.yaml"  # large.yaml's cnn_pyramid would take a minute on a CPU
    args = ["--config", str(study_file), "--events", "600", "--steps", "3", "--warmup-steps", "1"]
    args += ["--batch-size", "8", "--output", str(output)]
    proc = run_child(backend, ["-c", BLOCKED, "scripts/bench/gpu.py", *args])
    record = json.loads(output.read_text())
    cfg = config.load_config(study_file)
    assert record["backend"] == backend
    assert record["devices"] == ["cpu:0"]
    n_train = preparation.split_sizes(600, cfg["preparation"]["fractions"])["train"]
    assert record["n_train"] == n_train == 204  # 34 % of 600
    assert list(record["models"]) == list(cfg["models"])
    for name, row in record["models"].items():
        assert row["batch_size"] == 8, name
        assert row["inputs"] == study.training_settings(cfg, name)["inputs"], name
        assert row["timed_steps"] == row["steps_per_execution"] * math.ceil(3 / row["steps_per_execution"])
        assert row["samples_per_s"] > 0, name
        assert row["epoch_s"] == pytest.approx(math.ceil(n_train / 8) * 8 / row["samples_per_s"], rel=1e-9)
        assert name in proc.stdout


if __name__ == "__main__":
    print(json.dumps(child(Path(sys.argv[1]))))

"""Every Keras backend (TensorFlow, JAX, PyTorch): each model family trains on each target
transform and predicts, a checkpoint resumes, the default presets fit, the runtime settings act,
the GPU benchmark runs without TensorFlow and Snakemake, and the tiny study runs under JAX.

Keras fixes its backend at import, so each backend runs in its own process: this file run as a
script (``python tests/test_backends.py DATA_DIR``) does the work of one backend and prints a JSON
record; the tests check it. A backend that is not installed is skipped, except under CI
(``CI`` set), where ``make test`` installs requirements-test.txt and a skip would hide a gap.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from airshower import config, preparation, training

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


def learnable_splits(target: str, n: int = 320) -> tuple[dict, dict]:
    """Prepared splits of fake showers whose signals scale with the energy (so a fit can learn)."""
    from conftest import fake_showers

    gen = np.random.default_rng(11)
    showers = fake_showers(n, gen)
    showers["signal"] = showers["signal"] * (showers["energy"] / 10.0)[:, None, None]
    section = {"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}, "target_transform": target}
    settings = preparation.PreparationSettings.from_config(section)
    return preparation.prepare(showers, settings, gen)


def fit_every_family(settings: training.TrainingSettings) -> dict:
    """Each family on each target transform: the validation losses and the test predictions in EeV."""
    out = {}
    for target in preparation.TARGET_TRANSFORMS:
        splits, norm = learnable_splits(target)
        tr, va, te = splits["train"], splits["val"], splits["test"]
        for family, spec in FAMILIES.items():
            r = training.train(tr["x"], tr["y"], va["x"], va["y"], family, spec, settings, 3, 1)
            y, _ = training.predict(r.model, te["x"], settings.batch_size)
            energy = preparation.inverse_target(y, norm)
            out[f"{family}/{target}"] = {
                "n_parameters": r.info["n_parameters"],
                "backend": r.info["backend"],
                "val_loss": [row["val_loss"] for row in r.history],
                "energy_finite": bool(np.all(np.isfinite(energy))),
                "n_predictions": len(energy),
            }
    return out


def repeat_fit(settings: training.TrainingSettings) -> list[list[float]]:
    """The validation losses of two fits of one model with one seed, one after the other."""
    splits, _ = learnable_splits("linear")
    tr, va = splits["train"], splits["val"]
    runs = [
        training.train(tr["x"], tr["y"], va["x"], va["y"], "cnn", FAMILIES["cnn"], settings, 3, 1)
        for _ in "ab"
    ]
    return [[row["val_loss"] for row in r.history] for r in runs]


def resume_after_interruption(tmp: Path, settings: training.TrainingSettings) -> dict:
    """Interrupted before its last epoch, then run again: where it resumed and what it kept."""
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # noqa: ARG002 - Keras' callback signature
            if epoch == settings.epochs - 1:
                raise Interrupted

    splits, _ = learnable_splits("linear")
    data = (splits["train"]["x"], splits["train"]["y"], splits["val"]["x"], splits["val"]["y"])
    ckpt = tmp / "checkpoint"
    try:
        training.train(*data, "cnn", FAMILIES["cnn"], settings, 3, 1, checkpoint_dir=ckpt, callbacks=[Stop()])
        interrupted = False
    except Interrupted:
        interrupted = True
    written = training.load_checkpoint(ckpt / training.CHECKPOINT)["state"]
    resumed = training.train(*data, "cnn", FAMILIES["cnn"], settings, 3, 1, checkpoint_dir=ckpt)
    saved = tmp / "model.keras"
    training.save_model(resumed.model, saved)
    x = splits["test"]["x"]
    y_memory, _ = training.predict(resumed.model, x, 32)
    y_loaded, _ = training.predict(training.load_model(saved), x, 32)
    return {
        "interrupted": interrupted,
        "epochs_done_at_interruption": written["epochs_done"],
        "history_at_interruption": written["history"],
        "resumed_from_epoch": resumed.info["resumed_from_epoch"],
        "history": resumed.history,
        "epochs_run": resumed.info["epochs_run"],
        "saved_vs_memory_max_diff": float(np.max(np.abs(y_memory - y_loaded))),
    }


def fit_presets() -> dict:
    """One epoch of every preset of the default study on 16 events: parameters and loss."""
    from airshower import models

    cfg = config.load_config(ROOT / "config" / "config.yaml")
    gen = np.random.default_rng(0)
    x, y = gen.normal(size=(16, *INPUT)).astype("float32"), gen.normal(size=(16, 1)).astype("float32")
    out = {}
    for name, spec in cfg["models"].items():
        model = models.build_model(spec, INPUT, name=name)
        training.compile_model(
            model, training.TrainingSettings.from_config(config.training_settings(cfg, name))
        )
        loss = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]
        out[name] = {"n_parameters": models.count_parameters(model), "loss": float(loss)}
    return out


def mixed_precision_fit(settings: training.TrainingSettings) -> dict:
    """configure_runtime with mixed precision, then a CNN trains: policy, dtypes, optimizer, loss."""
    from airshower import models

    runtime = training.configure_runtime(1, 0, mixed_precision=True)
    model = models.build_model(FAMILIES["cnn"], INPUT)
    training.compile_model(model, settings)
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


def child(tmp: Path) -> dict:
    """The record of one backend (KERAS_BACKEND of this process)."""
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    runtime = training.configure_runtime(1, 0)
    settings = training.TrainingSettings.from_config(TRAINING)
    return {
        "runtime": runtime,
        "environment": {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS")},
        "fits": fit_every_family(settings),
        "repeat": repeat_fit(settings),
        "resume": resume_after_interruption(tmp, settings),
        "presets": fit_presets(),
        "mixed_precision": mixed_precision_fit(settings),  # last: it changes the global policy
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
    """Three epochs on signals that scale with the energy: every fit beats the mean (val_loss < 1)."""
    from airshower import models

    backend, out, _ = backend_run
    assert sorted(out["fits"]) == sorted(f"{f}/{t}" for f in FAMILIES for t in preparation.TARGET_TRANSFORMS)
    for key, fit in out["fits"].items():
        family = key.split("/")[0]
        expected = models.count_parameters(models.build_model(FAMILIES[family], INPUT))
        assert fit["n_parameters"] == expected, key
        assert fit["backend"] == backend, key
        assert len(fit["val_loss"]) == TRAINING["epochs"], key
        assert all(math.isfinite(v) for v in fit["val_loss"]), key
        assert min(fit["val_loss"]) < 1.0, key  # the standardized target's variance
        assert fit["energy_finite"], key
        assert fit["n_predictions"] == 64, key  # the test split of 320 events (20 %)


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
    assert r["saved_vs_memory_max_diff"] < 1e-5


@pytest.mark.slow
def test_default_presets_train_with_their_parameter_counts(backend_run):
    from airshower import models

    _, out, _ = backend_run
    cfg = config.load_config(ROOT / "config" / "config.yaml")
    assert list(out["presets"]) == list(cfg["models"])
    for name, spec in cfg["models"].items():
        expected = models.count_parameters(models.build_model(spec, INPUT, name=name))
        assert out["presets"][name]["n_parameters"] == expected, name
        assert math.isfinite(out["presets"][name]["loss"]), name


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
    """bench/gpu.py on a tiny set, on the CPU: every preset of the default study timed."""
    require(backend)
    output = tmp_path / "gpu.json"
    args = [
        "--events",
        "600",
        "--steps",
        "3",
        "--warmup-steps",
        "1",
        "--batch-size",
        "8",
        "--output",
        str(output),
    ]
    proc = run_child(backend, ["-c", BLOCKED, "bench/gpu.py", *args])
    record = json.loads(output.read_text())
    cfg = config.load_config(ROOT / "config" / "config.yaml")
    assert record["backend"] == backend
    assert record["devices"] == ["cpu:0"]
    assert record["n_train"] == 420  # 70 % of 600
    assert list(record["models"]) == list(cfg["models"])
    for name, row in record["models"].items():
        assert row["batch_size"] == 8, name
        assert row["timed_steps"] == row["steps_per_execution"] * math.ceil(3 / row["steps_per_execution"])
        assert row["samples_per_s"] > 0, name
        assert row["epoch_s"] == pytest.approx(math.ceil(420 / 8) * 8 / row["samples_per_s"], rel=1e-9)
        assert name in proc.stdout


@pytest.mark.workflow
@pytest.mark.slow
def test_tiny_study_runs_under_jax(tmp_path, monkeypatch):
    """`KERAS_BACKEND=jax make run CONFIG=config/test.yaml`: finite resolutions, trained by JAX."""
    from conftest import copy_repo, snakemake

    require("jax")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    workdir = copy_repo(tmp_path)
    snakemake(workdir, "--configfile", "config/test.yaml", "--cores", "2")
    with open(workdir / "results" / "summary.csv") as fh:
        rows = {row["model"]: row for row in csv.DictReader(fh)}
    assert set(rows) == {"fcn", "cnn", "baseline"}
    assert all(math.isfinite(float(row["resolution_eev"])) for row in rows.values())
    infos = sorted((workdir / "results" / "models").glob("*/seed*/training.json"))
    assert len(infos) == 3  # fcn x 2 seeds, cnn x 1
    assert {json.loads(p.read_text())["backend"] for p in infos} == {"jax"}
    log = (workdir / "logs" / "train" / "fcn" / "seed1.log").read_text()
    assert "Keras backend jax on cpu:0" in log


if __name__ == "__main__":
    print(json.dumps(child(Path(sys.argv[1]))))

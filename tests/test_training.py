"""Training: settings from the schema, losses, learning, seeding, checkpoints and resume (also after a
killed job, a damaged checkpoint or a killed Snakemake), predictions."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import psutil
import pytest

from airshower import config, io, models, predictionfile, schema, study, training
from airshower import targets as registry

ROOT = Path(__file__).resolve().parents[1]
TINY_DENSE = {"family": "dense", "units": [16], "activation": "elu", "dropout": 0.1}
TINY_CNN = {"family": "cnn", "blocks": [{"filters": [4], "pool": "avg"}], "head": "flatten", "dropout": 0.1}


def settings(**kw) -> training.TrainingSettings:
    base = {
        "seeds": [1],
        "epochs": 3,
        "batch_size": 32,
        "learning_rate": 0.003,
        "early_stopping_patience": 50,
        "reduce_lr": {"patience": 50},
    }
    base.update(kw)
    return training.TrainingSettings.from_config(base)


def synthetic(n: int, seed: int = 0, side: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Images whose mean signal channel is the standardized target (plus 5 % noise)."""
    gen = np.random.default_rng(seed)
    y = gen.normal(size=n).astype(np.float32)
    x = gen.normal(scale=0.5, size=(n, side, side, 2)).astype(np.float32)
    x[..., 1] += y[:, None, None]
    return x, (y + 0.05 * gen.normal(size=n)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return (*synthetic(512, 0), *synthetic(128, 1))


def weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


def test_settings_take_their_defaults_from_the_schema():
    s = training.TrainingSettings.from_config(
        {
            "seeds": [1],
            "epochs": 5,
            "batch_size": 8,
            "learning_rate": 1,
            "loss": "huber",
            "reduce_lr": {"factor": 0.3},
        }
    )
    assert (s.seeds, s.epochs, s.batch_size, s.learning_rate, s.loss) == ((1,), 5, 8, 1.0, "huber")
    assert s.reduce_lr == training.ReduceLR(factor=0.3, patience=3, min_lr=1e-5)
    assert (s.early_stopping_patience, s.threads, s.gpus, s.steps_per_execution) == (6, 1, 0, 32)
    assert (s.jit_compile, s.mixed_precision) == (False, False)
    assert (s.learning_rate_schedule, s.final_learning_rate) == ("plateau", 1e-5)
    assert (s.inputs, s.target_transform) == (("time", "signal"), "linear")  # the seed lecture's recipe
    with pytest.raises(schema.ConfigError, match="training.loss"):
        training.TrainingSettings.from_config(
            {"seeds": [1], "epochs": 1, "batch_size": 1, "learning_rate": 0.1, "loss": "l2"}
        )
    with pytest.raises(schema.ConfigError, match="training"):
        training.TrainingSettings.from_config(
            {"epochs": 1, "batch_size": 1, "learning_rate": 0.1}
        )  # no seeds


def test_model_overrides_get_no_defaults_and_the_merge_keeps_the_global_values():
    """Defaults sit in the top-level ``training`` only: ``$defs/training`` also validates the
    per-model overrides, where a filled default would override the global value."""

    def defaults(node):
        if isinstance(node, dict):
            return ("default" in node) + sum(defaults(v) for v in node.values())
        return sum(defaults(v) for v in node) if isinstance(node, list) else 0

    assert defaults(schema.load_schema()["$defs"]["training"]) == 0
    cfg = config.load_config(ROOT / "config" / "test.yaml")
    cfg["models"]["cnn"]["training"] = {"reduce_lr": {"factor": 0.25}, "epochs": 1}
    cfg = config.validate_config(cfg)
    assert cfg["models"]["cnn"]["training"] == {"epochs": 1, "reduce_lr": {"factor": 0.25}}
    merged = training.TrainingSettings.from_config(study.training_settings(cfg, "cnn"))
    glob = training.TrainingSettings.from_config(cfg["training"])
    assert merged.reduce_lr == training.ReduceLR(0.25, glob.reduce_lr.patience, glob.reduce_lr.min_lr)
    assert (merged.epochs, merged.early_stopping_patience) == (1, glob.early_stopping_patience)


def test_schema_loss_and_schedule_enums_are_the_registries():
    props = schema.load_schema()["$defs"]["training"]["properties"]
    assert props["loss"]["enum"] == list(training.LOSSES)
    assert props["learning_rate_schedule"]["enum"] == list(training.LEARNING_RATE_SCHEDULES)


def test_cosine_final_learning_rate_above_the_initial_one_is_refused():
    with pytest.raises(schema.ConfigError) as info:
        settings(learning_rate_schedule="cosine", learning_rate=1e-3, final_learning_rate=2e-3)
    assert str(info.value) == (
        "config key 'training.final_learning_rate': 0.002 is above the learning_rate 0.001; "
        "the cosine schedule decays from learning_rate to final_learning_rate"
    )
    assert (
        settings(learning_rate=1e-3, final_learning_rate=2e-3).learning_rate_schedule == "plateau"
    )  # unused


def test_result_neutral_settings_leave_the_fingerprint_alone():
    from dataclasses import asdict

    fields = set(asdict(settings()))
    assert set(training.RESULT_NEUTRAL) <= fields
    x, y = synthetic(16)
    key = training.fingerprint(TINY_DENSE, asdict(settings()), 1, (x, y))
    neutral = settings(seeds=[1, 2], threads=2, gpus=1, steps_per_execution=4)
    assert training.fingerprint(TINY_DENSE, asdict(neutral), 1, (x, y)) == key
    for changed in (
        settings(loss="mae"),
        settings(reduce_lr={"factor": 0.25}),
        settings(jit_compile=True),
        settings(inputs=["time", "signal", "mask"]),
        settings(target_transform="log10"),
        settings(learning_rate_schedule="cosine"),
    ):
        assert training.fingerprint(TINY_DENSE, asdict(changed), 1, (x, y)) != key
    assert training.fingerprint(TINY_DENSE, asdict(settings()), 2, (x, y)) != key
    assert training.fingerprint(TINY_DENSE, asdict(settings()), 1, (x, y + 1)) != key


def test_loss_values():
    y_true, y_pred = np.array([[0.0], [0.0]], "float32"), np.array([[0.5], [3.0]], "float32")
    expected = {
        "mse": (0.25 + 9.0) / 2,
        "mae": (0.5 + 3.0) / 2,
        "huber": (0.5 * 0.25 + (3.0 - 0.5)) / 2,  # delta 1: quadratic below, linear above
        "log_cosh": (np.log(np.cosh(0.5)) + np.log(np.cosh(3.0))) / 2,
    }
    assert set(expected) | {"gaussian_nll"} == set(training.LOSSES)  # gaussian_nll: the test below
    for name, value in expected.items():
        assert float(training.make_loss(name)(y_true, y_pred)) == pytest.approx(value, rel=1e-5), name
    with pytest.raises(ValueError, match="unknown loss 'l2'"):
        training.make_loss("l2")


def test_gaussian_nll_by_hand():
    """mean(0.5 ((y - mu) / sigma)^2 + log sigma), log sigma the raw width clipped to [-7, 5],
    under the installed backend, in a compiled model's loss as well."""
    import keras

    y = np.array([0.0, 1.0, -0.5, 2.0, 0.3], "float32")
    raw = np.array([[0.5, np.log(0.5)], [1.0, 0.0], [0.0, 10.0], [1.9, -9.0], [0.3, 1.2]], "float32")
    log_sigma = np.clip(raw[:, 1].astype(float), -7.0, 5.0)
    terms = 0.5 * ((y - raw[:, 0]) / np.exp(log_sigma)) ** 2 + log_sigma
    # by hand: 0.5 (0.5 / 0.5)^2 + ln 0.5, 0 + 0, 0.5 (0.5 e^-5)^2 + 5, 0.5 (0.1 e^7)^2 - 7, 0 + 1.2
    by_hand = [0.5 + np.log(0.5), 0.0, 0.125 * np.exp(-10) + 5, 0.005 * np.exp(14) - 7, 1.2]
    np.testing.assert_allclose(terms, by_hand, rtol=1e-6)
    loss = training.make_loss("gaussian_nll")
    for y_true in (y, y[:, None]):  # (N,) or the (N, 1) column train() fits
        got = float(
            keras.ops.convert_to_numpy(
                loss(keras.ops.convert_to_tensor(y_true), keras.ops.convert_to_tensor(raw))
            )
        )
        assert got == pytest.approx(np.mean(by_hand), rel=1e-5)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Identity()])
    model.compile(loss=loss)
    assert model.evaluate(raw, y, batch_size=5, verbose=0) == pytest.approx(np.mean(by_hand), rel=1e-5)


def test_output_and_loss_must_go_together(data):
    assert set(training.OUTPUT_LOSSES) <= set(models.OUTPUTS) - {"point"}
    assert set(training.OUTPUT_LOSSES.values()) <= set(training.LOSSES)
    training.check_output_loss("gaussian", "gaussian_nll", "u")
    for loss in set(training.LOSSES) - {"gaussian_nll"}:
        training.check_output_loss("point", loss, "u")
    with pytest.raises(schema.ConfigError) as info:
        training.check_output_loss("gaussian", "mse", "cnn_u")
    assert str(info.value) == (
        "config key 'models.cnn_u.output': gaussian is trained with loss gaussian_nll, but the model's "
        "training.loss is mse: set `loss: gaussian_nll` in models.cnn_u.training"
    )
    with pytest.raises(schema.ConfigError) as info:
        training.check_output_loss("point", "gaussian_nll", "cnn")
    assert str(info.value) == (
        "config key 'models.cnn.output': point, but the model's training.loss is gaussian_nll, which "
        "needs output: gaussian; set `output: gaussian` in models.cnn or use another loss "
        "(mse, mae, huber, log_cosh)"
    )
    with pytest.raises(schema.ConfigError, match="'models.tiny.output': point, but"):
        training.train(*data, "tiny", TINY_DENSE, settings(loss="gaussian_nll"), study_seed=3, seed=1)


def test_keras_seed_depends_on_study_seed_model_and_seed():
    seeds = {training.keras_seed(s, m, k) for s in (1, 2) for m in ("fcn", "cnn") for k in (1, 2)}
    assert len(seeds) == 8
    assert training.keras_seed(1, "fcn", 1) == training.keras_seed(1, "fcn", 1)
    assert all(0 <= s < 2**31 for s in seeds)


def test_training_learns_and_records_history(data):
    """The tiny net learns y from the images: val MSE far below the target variance (1)."""
    result = training.train(*data, "tiny", TINY_CNN, settings(epochs=6), study_seed=3, seed=1)
    rows = result.history
    assert [r["epoch"] for r in rows] == list(range(6))
    assert set(rows[0]) == set(io.HISTORY_COLUMNS)
    best = min(r["val_loss"] for r in rows)
    assert best < 0.3 * rows[0]["loss"]
    assert best < 0.3
    info = result.info
    assert set(info) == {
        "model",
        "seed",
        "family",
        "n_parameters",
        "epochs_run",
        "best_epoch",
        "training_time_s",
        "train_samples_per_s",
        "batch_size",
        "backend",
        "resumed_from_epoch",
    }
    assert info["best_epoch"] == int(np.argmin([r["val_loss"] for r in rows]))
    assert (info["epochs_run"], info["batch_size"], info["resumed_from_epoch"]) == (6, 32, None)
    assert info["n_parameters"] == result.model.count_params()
    assert info["train_samples_per_s"] > 0
    # restore_best_weights: the returned model reproduces the best validation loss
    x_val, y_val = data[2], data[3]
    pred = np.asarray(result.model.predict(x_val, verbose=0)).ravel()
    assert np.mean((pred - y_val) ** 2) == pytest.approx(best, rel=1e-3)


def test_same_seed_same_weights_other_seed_differs(data):
    s = settings(epochs=2)
    a = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=1)
    b = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=1)
    c = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=2)
    assert all(np.array_equal(u, v) for u, v in zip(weights(a.model), weights(b.model), strict=True))
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    assert not all(np.array_equal(u, v) for u, v in zip(weights(a.model), weights(c.model), strict=True))


def test_steps_per_execution_changes_speed_not_result(data):
    """Several batches per backend call apply the same updates as one batch per call."""
    one = training.train(
        *data, "tiny", TINY_DENSE, settings(epochs=2, steps_per_execution=1), study_seed=3, seed=1
    )
    many = training.train(
        *data, "tiny", TINY_DENSE, settings(epochs=2, steps_per_execution=5), study_seed=3, seed=1
    )
    for u, v in zip(weights(one.model), weights(many.model), strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    assert [r["val_loss"] for r in one.history] == pytest.approx(
        [r["val_loss"] for r in many.history], rel=1e-5
    )


def test_early_stopping_and_lr_reduction_follow_val_loss(data):
    """A tiny learning rate barely moves val_loss: the LR halves (min_delta 1e-4), training stops early."""
    s = settings(
        epochs=30,
        learning_rate=1e-9,
        early_stopping_patience=4,
        reduce_lr={"factor": 0.5, "patience": 2, "min_lr": 1e-12},
    )
    result = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=1)
    lr = [r["learning_rate"] for r in result.history]
    assert len(result.history) < 30
    assert result.info["epochs_run"] - 1 - result.info["best_epoch"] >= 4
    assert lr[0] == pytest.approx(1e-9)
    assert min(lr) < lr[0]


COSINE = {"learning_rate_schedule": "cosine", "learning_rate": 0.01, "final_learning_rate": 1e-4}


def cosine_rate(epoch: float, epochs: int, initial: float = 0.01, final: float = 1e-4) -> float:
    """The rate at the start of ``epoch`` of ``epochs`` (by hand: half a cosine from initial to final)."""
    return final + (initial - final) * 0.5 * (1 + np.cos(np.pi * epoch / epochs))


def test_cosine_schedule_values_by_hand():
    """epochs x steps per epoch optimizer steps from learning_rate to final_learning_rate."""
    s = settings(epochs=4, **COSINE)
    schedule = training.make_learning_rate(s, steps_per_epoch=10)
    for step, expected in [
        (0, 0.01),
        (20, (0.01 + 1e-4) / 2),
        (10, cosine_rate(1, 4)),
        (40, 1e-4),
        (55, 1e-4),
    ]:
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-6), step
    assert training.make_learning_rate(settings(), steps_per_epoch=10) == 0.003  # plateau: a number
    with pytest.raises(ValueError, match="cosine learning-rate schedule needs steps_per_epoch"):
        training.make_learning_rate(s)


def test_cosine_schedule_in_the_history_without_lr_reduction(data):
    """The history's learning_rate is the rate at the start of each epoch: the cosine, by hand.

    512 events in batches of 32: 16 steps per epoch. No ReduceLROnPlateau: the LR does not
    halve on a plateau (patience 1 would halve it at a learning rate this small).
    """
    s = settings(epochs=5, reduce_lr={"patience": 1}, **COSINE)
    result = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=1)
    lr = [r["learning_rate"] for r in result.history]
    assert lr == pytest.approx([cosine_rate(e, 5) for e in range(5)], rel=1e-6)
    assert float(result.model.optimizer.iterations) == 5 * 16
    assert float(result.model.optimizer.learning_rate) == pytest.approx(1e-4, rel=1e-6)  # the end


def test_resumed_cosine_run_continues_the_learning_rate_sequence(tmp_path, data):
    """Interrupted before epoch 3 and resumed: the optimizer's step count comes back with the
    checkpoint, so the schedule goes on where it was (no ReduceLROnPlateau state is kept)."""
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # noqa: ARG002
            if epoch == 3:
                raise Interrupted

    s = settings(epochs=6, **COSINE)
    plain = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=1)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(Interrupted):
        training.train(
            *data, "tiny", TINY_DENSE, s, study_seed=3, seed=1, checkpoint_dir=ckpt, callbacks=[Stop()]
        )
    state = training.load_checkpoint(ckpt / training.CHECKPOINT)["state"]
    assert (state["epochs_done"], state["reduce_lr"]) == (3, None)
    resumed = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=1, checkpoint_dir=ckpt)
    assert resumed.info["resumed_from_epoch"] == 3
    lr = [r["learning_rate"] for r in plain.history]
    assert lr == pytest.approx([cosine_rate(e, 6) for e in range(6)], rel=1e-6)
    assert [r["learning_rate"] for r in resumed.history] == lr
    assert float(resumed.model.optimizer.iterations) == 6 * 16


def test_checkpoint_roundtrip_resume_and_fingerprint(tmp_path, data):
    """A finished checkpoint is reused as is; another seed or other data start over."""
    ckpt = tmp_path / "ckpt"
    s = settings(epochs=3)
    first = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=1, checkpoint_dir=ckpt)
    state = training.load_checkpoint(ckpt / training.CHECKPOINT)["state"]
    assert state["epochs_done"] == 3
    assert len(state["history"]) == 3
    again = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=1, checkpoint_dir=ckpt)
    assert again.info["resumed_from_epoch"] == 3
    assert again.history == first.history
    assert all(np.array_equal(u, v) for u, v in zip(weights(first.model), weights(again.model), strict=True))
    # other settings (here: epochs) or other data: the checkpoint does not fit, start over
    more = training.train(
        *data, "tiny", TINY_DENSE, settings(epochs=5), study_seed=3, seed=1, checkpoint_dir=ckpt
    )
    assert more.info["resumed_from_epoch"] is None  # epochs is part of the fingerprint: other config
    other = training.train(
        *data[:2],
        data[2][:64],
        data[3][:64],
        "tiny",
        TINY_DENSE,
        s,
        study_seed=3,
        seed=1,
        checkpoint_dir=ckpt,
    )
    assert other.info["resumed_from_epoch"] is None
    training.remove_checkpoint(ckpt)
    assert not ckpt.exists()


@pytest.fixture(scope="module")
def finished_checkpoint(tmp_path_factory, data) -> tuple[bytes, list[np.ndarray]]:
    """The checkpoint file of an uninterrupted 2-epoch run, and that run's weights."""
    ckpt = tmp_path_factory.mktemp("good")
    run = training.train(
        *data, "tiny", TINY_DENSE, settings(epochs=2), study_seed=3, seed=1, checkpoint_dir=ckpt
    )
    return (ckpt / training.CHECKPOINT).read_bytes(), weights(run.model)


def rewritten(raw: bytes, tmp_path: Path, state=None, drop: str | None = None) -> bytes:
    """The checkpoint ``raw`` with another state (a dict, or text taken as is) or one array less."""
    with np.load(BytesIO(raw)) as npz:
        arrays = {k: npz[k] for k in npz.files if k != drop}
    if state is not None:
        arrays["state"] = np.array(state if isinstance(state, str) else json.dumps(state))
    np.savez(tmp_path / "rewritten.npz", **arrays)
    return (tmp_path / "rewritten.npz").read_bytes()


def flipped(raw: bytes) -> bytes:
    """One bit flipped in the middle of the first weight array's data."""
    with np.load(BytesIO(raw)) as npz:
        at = raw.find(npz["w0"].tobytes()) + npz["w0"].nbytes // 2
    return raw[:at] + bytes([raw[at] ^ 0x10]) + raw[at + 1 :]


def state_without(raw: bytes, key: str) -> dict:
    with np.load(BytesIO(raw)) as npz:
        state = json.loads(str(npz["state"]))
    del state[key]
    return state


# damage: (what the file becomes, given the good one and a scratch folder; what the warning says)
DAMAGE = {
    "truncated": (lambda raw, _: raw[: len(raw) // 2], "BadZipFile: File is not a zip file"),
    "empty": (lambda *_: b"", "ValueError: the file is empty"),
    "flipped byte": (lambda raw, _: flipped(raw), "Bad CRC-32"),
    "garbage": (lambda *_: b"garbage\n" * 100, "not a NumPy .npz archive (starts with b'garb')"),
    "state not JSON": (lambda raw, tmp: rewritten(raw, tmp, state='{"epochs_done": 2,'), "JSONDecodeError"),
    "state without history": (
        lambda raw, tmp: rewritten(raw, tmp, state=state_without(raw, "history")),
        "state lacks 'history'",
    ),
    "state without fingerprint": (
        lambda raw, tmp: rewritten(raw, tmp, state=state_without(raw, "fingerprint")),
        "state lacks 'fingerprint'",
    ),
    "a weight array missing": (lambda raw, tmp: rewritten(raw, tmp, drop="w1"), "weights: 3 arrays"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_checkpoint_starts_over_and_is_kept_aside(
    tmp_path, data, finished_checkpoint, caplog, damage
):
    """Any damage: a warning naming the file and the fault, the file moved aside, a fresh training.

    The fresh training has the weights of an uninterrupted one (the checkpoint was that run's).
    """
    good, fresh = finished_checkpoint
    make, reason = DAMAGE[damage]
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    path = ckpt / training.CHECKPOINT
    path.write_bytes(broken := make(good, tmp_path))
    with caplog.at_level(logging.WARNING, logger="airshower"):
        result = training.train(
            *data, "tiny", TINY_DENSE, settings(epochs=2), study_seed=3, seed=1, checkpoint_dir=ckpt
        )
    assert result.info["resumed_from_epoch"] is None
    assert all(np.array_equal(u, v) for u, v in zip(weights(result.model), fresh, strict=True))
    [warning] = [r.getMessage() for r in caplog.records if "unreadable checkpoint" in r.getMessage()]
    assert warning.startswith(f"{path}: unreadable checkpoint, starting over (")
    assert reason in warning
    assert warning.endswith(f"kept as {path}.damaged")
    assert (ckpt / f"{training.CHECKPOINT}.damaged").read_bytes() == broken
    assert training.load_checkpoint(path)["state"]["epochs_done"] == 2  # a good one written anew


KILLED_WRITE = """
import io, os, signal, sys
import numpy as np
from airshower.training import checkpoint

path = sys.argv[1]
checkpoint.save_checkpoint(path, [np.zeros(3)], [np.ones(2)], None, {"epochs_done": 1})
savez = np.savez

def half_then_killed(fh, **arrays):  # the job is killed with half of the new archive written
    buf = io.BytesIO()
    savez(buf, **arrays)
    fh.write(buf.getvalue()[: len(buf.getvalue()) // 2])
    fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)

np.savez = half_then_killed
checkpoint.save_checkpoint(path, [np.full(3, 7.0)], [np.ones(2)], None, {"epochs_done": 2})
"""


def test_job_killed_while_writing_its_checkpoint_leaves_the_last_one_whole(tmp_path):
    ckpt = tmp_path / "ckpt"
    script = tmp_path / "write.py"
    script.write_text(KILLED_WRITE)
    proc = subprocess.run([sys.executable, str(script), str(ckpt / training.CHECKPOINT)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    [partial] = ckpt.glob(f".{training.CHECKPOINT}.*.part")  # the write that was cut short
    assert partial.stat().st_size > 0
    last = training.load_checkpoint(ckpt / training.CHECKPOINT)
    assert last["state"] == {"epochs_done": 1}
    np.testing.assert_array_equal(last["weights"][0], np.zeros(3))
    training.remove_checkpoint(ckpt)  # also the temporary of the killed write
    assert not ckpt.exists()


class Interrupted(Exception):
    pass


def test_resume_restores_early_stopping_and_learning_rate_state(tmp_path, data):
    """Interrupted before epoch 2 and resumed: the plateau counters go on as without the stop.

    At a learning rate of 1e-12 the float32 weights do not move, so the validation loss is
    constant: the LR halves after every 2 epochs without improvement and training stops after 4,
    whatever the dropout masks and the shuffling of the resumed run.
    """
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # noqa: ARG002
            if epoch == 2:
                raise Interrupted

    s = settings(
        epochs=8,
        learning_rate=1e-12,
        early_stopping_patience=4,
        reduce_lr={"factor": 0.5, "patience": 2, "min_lr": 1e-16},
    )
    plain = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=1)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(Interrupted):
        training.train(
            *data, "tiny", TINY_DENSE, s, study_seed=3, seed=1, checkpoint_dir=ckpt, callbacks=[Stop()]
        )
    assert training.load_checkpoint(ckpt / training.CHECKPOINT)["state"]["epochs_done"] == 2
    resumed = training.train(*data, "tiny", TINY_DENSE, s, study_seed=3, seed=1, checkpoint_dir=ckpt)
    assert resumed.info["resumed_from_epoch"] == 2
    assert plain.info["resumed_from_epoch"] is None
    lr = [r["learning_rate"] for r in plain.history]
    assert lr == pytest.approx([1e-12, 1e-12, 1e-12, 5e-13, 5e-13])
    assert [r["learning_rate"] for r in resumed.history] == lr
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in plain.history]
    assert (resumed.info["epochs_run"], resumed.info["best_epoch"]) == (5, 0)
    # the model keeps no resume state: a plain fit of it runs its own epochs
    assert len(resumed.model.fit(data[0], data[1][:, None], epochs=1, verbose=0).history["loss"]) == 1


RUNNER = """
import os, sys, time
from airshower import io, jobs, logs, training

d, out = sys.argv[1], sys.argv[2]
logs.setup(None)
with jobs.guard("training tiny seed 1", lock=d + "/ckpt") as job:  # as workflow/scripts/train.py does
    import keras

    class Slow(keras.callbacks.Callback):  # gives the test time to act between epochs
        def on_epoch_end(self, epoch, logs=None):
            time.sleep({sleep})
            while os.path.exists(d + "/hold"):  # the test holds the job here
                time.sleep(0.05)

    s = training.TrainingSettings.from_config({settings!r})
    training.configure_runtime(s.threads, s.gpus)
    tr, va = io.read_h5(d + "/train.h5"), io.read_h5(d + "/val.h5")
    r = training.train(tr["x"], tr["y"], va["x"], va["y"], "tiny", {spec!r}, s, 3, 1,
                       checkpoint_dir=d + "/ckpt", callbacks=[Slow()], job=job)
    io.write_history(out + "/history.csv", r.history)
    io.write_json(out + "/training.json", r.info)
    training.save_model(r.model, out + "/model.keras")
    training.remove_checkpoint(d + "/ckpt")
"""


def runner(folder: Path, epochs: int, sleep_s: float) -> tuple[list[str], dict, Path]:
    """A training job in a process of its own (data in ``folder``): command, environment, output folder."""
    for name, seed in (("train", 0), ("val", 1)):
        x, y = synthetic(256 if name == "train" else 64, seed)
        io.write_h5(folder / f"{name}.h5", {"x": x, "y": y})
    cfg = {
        "seeds": [1],
        "epochs": epochs,
        "batch_size": 32,
        "learning_rate": 0.003,
        "early_stopping_patience": 50,
        "reduce_lr": {"factor": 0.5, "patience": 2, "min_lr": 1e-5},
        "threads": 1,
        "gpus": 0,
    }
    script = folder / "run.py"
    script.write_text(RUNNER.format(sleep=sleep_s, settings=cfg, spec=TINY_DENSE))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = folder / "out"
    out.mkdir()
    return [sys.executable, str(script), str(folder), str(out)], env, out


def epochs_done(path: Path) -> int:
    return c["state"]["epochs_done"] if path.exists() and (c := training.load_checkpoint(path)) else 0


@pytest.mark.slow
def test_killed_job_resumes_from_last_finished_epoch(tmp_path):
    """SIGTERM after >= 1 finished epoch; the re-run continues there with a complete history."""
    epochs = 8
    cmd, env, out = runner(tmp_path, epochs, sleep_s=0.4)
    ckpt = tmp_path / "ckpt" / training.CHECKPOINT

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None and epochs_done(ckpt) < 1:
        time.sleep(0.05)
    assert proc.poll() is None, f"training ended before it could be killed:\n{proc.stdout.read().decode()}"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert not (out / "training.json").exists()
    before = training.load_checkpoint(ckpt)["state"]
    done = before["epochs_done"]
    assert 1 <= done < epochs

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)  # the lock is free
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert not ckpt.parent.exists()  # checkpoint and lock removed with the outputs complete
    info = io.read_json(out / "training.json")
    assert info["resumed_from_epoch"] == done
    assert info["epochs_run"] == epochs
    history = (out / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,val_loss,learning_rate"
    rows = [line.split(",") for line in history[1:]]
    assert [int(r[0]) for r in rows] == list(range(epochs))
    for r, old in zip(rows[:done], before["history"], strict=True):  # earlier epochs kept as logged
        assert float(r[2]) == pytest.approx(old["val_loss"], rel=1e-6)
    assert training.load_model(out / "model.keras").count_params() == info["n_parameters"]


# Stands in for Snakemake (the watch knows it by this file's name): it runs the job through a
# shell, as Snakemake does with bash before 5.1, and the shell records the job's exit status.
FAKE_SNAKEMAKE = """
import subprocess, sys
sys.exit(subprocess.call(["sh", "-c", '"$@"; echo $? > "$0"', *sys.argv[1:]]))
"""


@pytest.mark.slow
def test_orphaned_training_stops_and_a_second_one_cannot_start_beside_it(tmp_path):
    """Snakemake killed with SIGKILL while a training runs (issue: faults that need a human, 2).

    The orphan holds its lock: the same training started again fails at once, naming the
    orphan's process. The orphan stops at its next epoch end with status 1, its checkpoint
    saved and no output written; the training started after that resumes from it.
    """
    epochs = 6
    cmd, env, out = runner(tmp_path, epochs, sleep_s=0)
    ckpt = tmp_path / "ckpt" / training.CHECKPOINT
    (tmp_path / "snakemake").write_text(FAKE_SNAKEMAKE)
    status, log = tmp_path / "status", tmp_path / "orphan.log"
    (tmp_path / "hold").touch()  # the job waits at the end of epoch 0
    with log.open("w") as fh:
        snake = subprocess.Popen(
            [sys.executable, str(tmp_path / "snakemake"), str(status), *cmd], env=env, stdout=fh, stderr=fh
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and snake.poll() is None and epochs_done(ckpt) < 1:
        time.sleep(0.05)
    assert epochs_done(ckpt) == 1, log.read_text()
    orphan = json.loads((ckpt.parent / "job.lock").read_text())["pid"]
    assert orphan in [p.pid for p in psutil.Process(snake.pid).children(recursive=True)]
    snake.kill()
    snake.wait()

    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert (
        f"{ckpt.parent / 'job.lock'}: training tiny seed 1 is already running (process {orphan} on host"
        in second.stderr
    )
    assert psutil.pid_exists(orphan)
    assert epochs_done(ckpt) == 1  # the second job did not touch the checkpoint

    (tmp_path / "hold").unlink()  # the orphan goes on: epoch 1, then it notices
    while time.monotonic() < deadline and not status.exists():
        time.sleep(0.05)
    assert status.read_text().strip() == "1", log.read_text()
    text = log.read_text()
    assert (
        f"training tiny seed 1: the Snakemake process {snake.pid} that started it is gone "
        f"(killed?), so the job stops after epoch 1 with its checkpoint {ckpt} saved "
        "(the next run resumes from it). "
        "To go on: run `snakemake --unlock` once, then the same command again"
    ) in text
    assert epochs_done(ckpt) == 2
    assert not (out / "training.json").exists()

    third = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0, third.stderr
    info = io.read_json(out / "training.json")
    assert (info["resumed_from_epoch"], info["epochs_run"]) == (2, epochs)
    assert not ckpt.parent.exists()


def test_predictions_file_contract(tmp_path, data):
    result = training.train(*data, "tiny", TINY_DENSE, settings(epochs=1), study_seed=3, seed=1)
    path = tmp_path / "model.keras"
    training.save_model(result.model, path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary left behind
    model = training.load_model(path)
    x = data[2]
    y, rate = training.predict(model, x, batch_size=32)
    assert y.dtype == np.float64
    assert y.shape == (len(x),)
    assert rate > 0
    np.testing.assert_allclose(
        y, np.asarray(result.model.predict(x, verbose=0)).ravel(), rtol=1e-5, atol=1e-6
    )
    n = len(x)
    test = split_labels(n, np.linspace(3, 100, n).astype(np.float32))
    norm = {"targets": {"energy": {"transforms": {"log10": {"mean": 1.0, "std": 0.5}}}}}
    from airshower.targets import inverse_target

    reconstructed = training.reconstruct(y, norm, ["energy"], "log10")
    assert set(reconstructed) == {"energy_pred"}
    np.testing.assert_array_equal(reconstructed["energy_pred"], inverse_target(y, norm, "log10"))
    pred = predictionfile.prediction_datasets(test, reconstructed)
    # the test labels lack the muon target's: its truth is left out (predictionfile.OPTIONAL_TRUTHS)
    assert set(pred) == set(predictionfile.PREDICTION_UNITS) - set(predictionfile.OPTIONAL_TRUTHS) | {
        "energy_pred"
    }
    assert pred["energy_pred"].dtype == np.float64
    assert pred["energy_true"].dtype == np.float64
    np.testing.assert_allclose(pred["energy_pred"], 10 ** (y * 0.5 + 1.0))
    with pytest.raises(ValueError, match="predictions 'energy_pred' for"):
        predictionfile.prediction_datasets(test, {"energy_pred": y[:-1]})
    with pytest.raises(io.DataError, match="does not exist"):
        training.load_model(tmp_path / "missing.keras")


def split_labels(n: int, energy: np.ndarray) -> dict[str, np.ndarray]:
    """The labels of ``n`` test events (predictionfile.PREDICTION_LABELS) with true energies ``energy``."""
    return {
        "energy": energy,
        "index": np.arange(n),
        "zenith": np.zeros(n, "f4"),
        "mass": np.ones(n, "i2"),
        "xmax": np.full(n, 750.0, "f4"),
        "axis": np.tile(np.array([0.0, 0.0, 1.0], "f4"), (n, 1)),
        "core": np.zeros((n, 2), "f4"),
    }


def heteroscedastic(n: int, seed: int, side: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images whose signal channel carries the mean of the target and whose time channel its
    noise width s (uniform in 0.05-0.5): targets mean + s N(0, 1). Returns x, y and s."""
    gen = np.random.default_rng(seed)
    mean = gen.normal(size=n).astype(np.float32)
    width = gen.uniform(0.05, 0.5, size=n).astype(np.float32)
    x = gen.normal(scale=0.5, size=(n, side, side, 2)).astype(np.float32)
    x[..., 1] += mean[:, None, None]
    x[..., 0] += ((width - 0.275) / 0.13)[:, None, None]
    return x, (mean + width * gen.normal(size=n)).astype(np.float32), width


@pytest.fixture(scope="module")
def gaussian_fit():
    """A dense net with a gaussian output, fitted for 8 epochs (cosine schedule) on 3,000
    heteroscedastic events."""
    spec = {**TINY_DENSE, "units": [32, 32], "dropout": 0.0, "output": "gaussian"}
    s = settings(epochs=8, batch_size=64, loss="gaussian_nll", learning_rate_schedule="cosine")
    x, y, _ = heteroscedastic(3000, 0)
    x_val, y_val, _ = heteroscedastic(1000, 1)
    return training.train(x, y, x_val, y_val, "tiny_nll", spec, s, study_seed=3, seed=1)


def test_gaussian_output_learns_the_noise_of_each_event(gaussian_fit):
    """The predicted width follows the true noise: 68 % of the pulls within 1 (0.55-0.8 on 2,000
    events; measured 0.66), a width correlated with the noise and about twice as large where the
    noise is 3x larger; the validation NLL falls below that of the noise alone at sigma 1 (0.5)."""
    x, y, width = heteroscedastic(2000, 2)
    pred, rate = training.predict(gaussian_fit.model, x, batch_size=256)
    assert (pred.shape, pred.dtype) == ((2000, 2), np.float64)
    assert rate > 0
    assert np.all(pred[:, 1] > 0)
    pull = (y - pred[:, 0]) / pred[:, 1]
    assert 0.55 <= np.mean(np.abs(pull) <= 1) <= 0.8
    assert np.corrcoef(pred[:, 1], width)[0, 1] > 0.7
    low, high = np.median(pred[width < 0.2, 1]), np.median(pred[width > 0.35, 1])
    assert high > 1.5 * low
    assert min(r["val_loss"] for r in gaussian_fit.history) < 0.0  # NLL: log sigma < 0 on average


def test_gaussian_model_file_and_predictions(tmp_path, gaussian_fit):
    """The saved gaussian model reloads (the loss is not needed) and predicts sigma = exp(clipped
    raw width); its predictions.h5 carries energy_sigma in EeV."""
    path = tmp_path / "model.keras"
    training.save_model(gaussian_fit.model, path)
    model = training.load_model(path)
    x = heteroscedastic(50, 3)[0]
    pred, _ = training.predict(model, x, batch_size=32)
    raw = np.asarray(gaussian_fit.model.predict(x, verbose=0), dtype=np.float64)
    np.testing.assert_allclose(pred[:, 0], raw[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred[:, 1], np.exp(np.clip(raw[:, 1], -7, 5)), rtol=1e-5)
    norm = {"targets": {"energy": {"transforms": {"log10": {"mean": 1.0, "std": 0.5}}}}}
    reconstructed = training.reconstruct(pred, norm, ["energy"], "log10")
    assert set(reconstructed) == {"energy_pred", "energy_sigma"}
    energy = reconstructed["energy_pred"]
    test = split_labels(50, np.full(50, 10.0, "f4"))
    out = tmp_path / "predictions.h5"
    predictionfile.write_predictions(
        out, predictionfile.prediction_datasets(test, reconstructed), {"model": "m"}
    )
    back = predictionfile.read_predictions(out)
    np.testing.assert_allclose(back["energy_sigma"], np.log(10) * 0.5 * energy * pred[:, 1])
    assert back["energy_sigma"].dtype == np.float64


def test_energy_and_sigma_in_eev_by_hand():
    """The energy target decodes its width: linear: E = v std + mean, sigma_E = sigma std; log10:
    E = 10^(v std + mean), sigma_E = E ln(10) sigma std (first order)."""
    assert set(registry.INVERSE_SLOPES) == set(registry.TARGET_TRANSFORMS)
    transforms = {"linear": {"mean": 20.0, "std": 10.0}, "log10": {"mean": 1.0, "std": 0.5}}
    norm = {"targets": {"energy": {"transforms": transforms}}}
    energy_target = registry.get("energy")
    assert energy_target.width == "energy_sigma"
    y = np.array([[0.5, 0.1], [-1.0, 0.02]])
    got = energy_target.reconstruct(y, norm["targets"]["energy"], "linear")
    np.testing.assert_allclose(got["energy_pred"], [25.0, 10.0])
    np.testing.assert_allclose(got["energy_sigma"], [1.0, 0.2])
    got = energy_target.reconstruct(y, norm["targets"]["energy"], "log10")
    np.testing.assert_allclose(got["energy_pred"], [10**1.25, 10**0.5])  # 17.7828, 3.1623 EeV
    np.testing.assert_allclose(
        got["energy_sigma"], [17.78279 * 2.302585 * 0.05, 3.162278 * 2.302585 * 0.01], rtol=1e-6
    )
    point = training.reconstruct(y[:, 0], norm, ["energy"], "log10")  # a point model: no width
    assert set(point) == {"energy_pred"}
    np.testing.assert_array_equal(point["energy_pred"], registry.inverse_target(y[:, 0], norm, "log10"))

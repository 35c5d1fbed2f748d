"""Benchmark of the training stage: training and inference throughput of the configured models.

For every Keras backend of ``--backends`` (default: every installed one of TensorFlow, JAX and
PyTorch) and every model of ``--config`` (default: the default study) one child process with
``KERAS_BACKEND`` set, pinned to ``--threads`` threads (JAX cannot be pinned: XLA uses every CPU
the process may use, which the per-CPU-second rates account for), measures on synthetic
14 x 14 inputs with the model's channels (``training.inputs``):

1. a plain ``model.fit(x, y, batch_size=128)`` (Adam, MSE, Keras defaults) - the reference;
2. :func:`airshower.training.train` with the model's training settings (its batch size,
   validation split, callbacks and per-epoch checkpoint included, seeded, op determinism on),
   timed by the benchmark's own callback (``recorded_train_samples_per_s`` is the rate that the
   fit wrote into its ``training.json`` record);
3. inference with :func:`airshower.training.predict` at the model's batch size;
4. the plain fit again (now under op determinism), to show drift of a shared machine's load.

Training rates are samples/s of the training part of an epoch (validation excluded), median
over the epochs after the first (which includes tracing); next to the wall-clock rates the
record has samples per CPU second of the process, which a shared, loaded machine disturbs less.
The data size is chosen so that an epoch takes about ``--seconds``. Writes the JSON record to
``--output`` (``results[backend][model]``) and a bar chart next to it (same name, .png).

    python scripts/bench/training.py --output results/benchmarks/training.json
    python scripts/bench/training.py --backends jax --models cnn --output /tmp/jax-cnn.json
"""

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from airshower import config, io, study, training

REFERENCE_BATCH = 128
SIDE = 14  # stations per side of the default array
BACKENDS = ("tensorflow", "jax", "torch")


def installed_backends() -> list[str]:
    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path, help="JSON record (a .png goes next to it)")
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="study config")
    parser.add_argument("--models", nargs="*", help="model names (default: all of the config)")
    parser.add_argument(
        "--backends", nargs="*", choices=BACKENDS, help="Keras backends (default: every installed one)"
    )
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow/OpenMP threads (default 2)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per measurement (default 3)")
    parser.add_argument("--seconds", type=float, default=3.0, help="target seconds per epoch (default 3)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: measure one model, print JSON
    return parser.parse_args(argv)


def synthetic(n: int, seed: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal inputs (n, 14, 14, channels) and targets (n, 1), float32."""
    gen = np.random.default_rng(seed)
    x = gen.normal(size=(n, SIDE, SIDE, channels)).astype(np.float32)
    return x, gen.normal(size=(n, 1)).astype(np.float32)


def timer_callback():
    """A callback recording wall and CPU seconds of the training part of every epoch."""
    import keras  # noqa: PLC0415 (Keras loads lazily: after the backend and threads are set)

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.wall, self.cpu = [], []

        def on_epoch_begin(self, epoch, logs=None):  # noqa: ARG002 - Keras' callback signature
            self.t0, self.c0, self.done = time.perf_counter(), time.process_time(), False

        def on_test_begin(self, logs=None):  # noqa: ARG002
            self._stop()

        def on_epoch_end(self, epoch, logs=None):  # noqa: ARG002
            self._stop()

        def _stop(self):
            if not self.done:
                # JAX dispatches asynchronously: wait for the epoch's last update before reading
                # the clock (a weight is ready only when the step that wrote it has run)
                keras.ops.convert_to_numpy(self.model.trainable_variables[0])
                self.wall.append(time.perf_counter() - self.t0)
                self.cpu.append(time.process_time() - self.c0)
                self.done = True

        def rates(self, n: int) -> tuple[float, float]:
            """Samples per wall second and per CPU second, median over the epochs after the first."""
            wall, cpu = (np.array(v[1:] if len(v) > 1 else v) for v in (self.wall, self.cpu))
            return float(n / np.median(wall)), float(n / np.median(cpu))

    return Timer()


def plain_fit_rate(spec, x, y, epochs: int, inputs=None) -> tuple[float, float]:
    """Samples per wall and CPU second of a plain ``model.fit(x, y, batch_size=128)``."""
    import keras  # noqa: PLC0415 (Keras loads lazily: after the backend and threads are set)

    from airshower import models  # noqa: PLC0415 (Keras loads lazily: after the backend and threads are set)

    timer = timer_callback()
    keras.utils.set_random_seed(0)
    model = models.build_model(spec, x.shape[1:], input_channels=inputs)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=REFERENCE_BATCH, epochs=epochs, verbose=0, callbacks=[timer])
    return timer.rates(len(x))


def worker(args: argparse.Namespace) -> dict:
    cfg = config.load_config(args.config)
    name = args.worker
    section = study.training_settings(cfg, name)
    section.update(threads=args.threads, gpus=0, epochs=args.epochs, early_stopping_patience=10 * args.epochs)
    settings = training.TrainingSettings.from_config(section)
    training.configure_runtime(settings.threads, settings.gpus, settings.mixed_precision)
    spec = cfg["models"][name]
    channels = len(settings.inputs)

    # size the data so that an epoch takes about --seconds (rough rate from one small epoch)
    x, y = synthetic(1024, 0, channels)
    t0 = time.perf_counter()
    rough, _ = plain_fit_rate(spec, x, y, 2, settings.inputs)
    n = int(np.clip(rough * args.seconds // 1024, 4, 64) * 1024)
    x, y = synthetic(n, 1, channels)
    x_val, y_val = synthetic(max(n // 8, 256), 2, channels)
    log(f"{name}: {n} samples (rough rate {rough:.0f}/s, {time.perf_counter() - t0:.1f} s)")

    plain, plain_cpu = plain_fit_rate(spec, x, y, args.epochs, settings.inputs)
    log(f"{name}: plain fit {plain:.0f} samples/s ({plain_cpu:.0f} per CPU second)")
    timer = timer_callback()
    with tempfile.TemporaryDirectory() as ckpt:
        result = training.train(
            x,
            y[:, 0],
            x_val,
            y_val[:, 0],
            name,
            spec,
            settings,
            cfg["seed"],
            1,
            checkpoint_dir=ckpt,
            callbacks=[timer],
        )
        ours, ours_cpu = timer.rates(n)
        recorded = result.info["train_samples_per_s"]
        log(
            f"{name}: training.train {ours:.0f} samples/s ({ours_cpu:.0f} per CPU second; "
            f"training.json says {recorded:.0f})"
        )
        saved = Path(ckpt) / "model.keras"  # inference on the saved model, as the predict rule does
        training.save_model(result.model, saved)
        _, inference = training.predict(training.load_model(saved), x, settings.batch_size)
    log(f"{name}: inference {inference:.0f} events/s")
    after, after_cpu = plain_fit_rate(spec, x, y, args.epochs, settings.inputs)
    log(f"{name}: plain fit again {after:.0f} samples/s ({after_cpu:.0f} per CPU second)")
    return {
        "family": spec["family"],
        "n_parameters": result.info["n_parameters"],
        "batch_size": settings.batch_size,
        "n_samples": n,
        "train_samples_per_s": ours,
        "recorded_train_samples_per_s": recorded,
        "plain_fit_samples_per_s": plain,
        "plain_fit_after_samples_per_s": after,
        "train_over_plain": ours / plain,
        "train_samples_per_cpu_s": ours_cpu,
        "plain_fit_samples_per_cpu_s": plain_cpu,
        "plain_fit_after_samples_per_cpu_s": after_cpu,
        "train_over_plain_cpu": ours_cpu / plain_cpu,
        "inference_events_per_s": inference,
        "backend": result.info["backend"],
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def figure(record: dict):
    """Training (plain fit and training.train) and inference throughput per model and backend."""
    from matplotlib.figure import Figure  # noqa: PLC0415 (matplotlib loads lazily, for the figure only)

    backends = list(record["results"])
    names = list(dict.fromkeys(m for rows in record["results"].values() for m in rows))
    x = np.arange(len(names))
    fig = Figure(figsize=(10, 4), layout="constrained")
    a_train, a_inf = fig.subplots(1, 2)
    w = 0.8 / len(backends)
    for i, backend in enumerate(backends):
        rows = [record["results"][backend].get(m, {}) for m in names]
        at = x - 0.4 + (i + 0.5) * w
        colour = f"C{i}"
        plain = [r.get("plain_fit_samples_per_s", np.nan) for r in rows]
        a_train.bar(at, plain, w, color=colour, alpha=0.35, label=f"{backend}: plain model.fit")
        ours = [r.get("train_samples_per_s", np.nan) for r in rows]
        a_train.scatter(at, ours, color=colour, marker="D", zorder=3, label=f"{backend}: training.train")
        inference = [r.get("inference_events_per_s", np.nan) for r in rows]
        a_inf.bar(at, inference, w, color=colour, label=backend)
    for ax, ylabel, title in (
        (a_train, "training throughput [samples/s]", "training (bars: plain fit, batch 128)"),
        (a_inf, "inference throughput [events/s]", "inference (training.predict)"),
    ):
        ax.set_yscale("log")
        ax.set_xticks(x, names)
        ax.set_xlabel("model")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}, {record['threads']} threads", fontsize="medium")
        ax.legend(loc="upper right", fontsize="x-small")
    return fig


def measure(args: argparse.Namespace, backend: str, name: str) -> dict:
    """One model under one backend, in a child process (Keras fixes its backend at import)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    cmd = [
        sys.executable,
        __file__,
        "--output",
        str(args.output),
        "--config",
        str(args.config),
        "--threads",
        str(args.threads),
        "--epochs",
        str(args.epochs),
        "--seconds",
        str(args.seconds),
        "--worker",
        name,
    ]
    log(f"--- {name} under {backend}")
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(record: dict) -> str:
    """Markdown table: training and inference throughput per model and backend."""
    lines = [
        "| model | backend | training.train [samples/s] | plain model.fit [samples/s] | ratio "
        "| per CPU s: train / plain | inference [events/s] |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for backend, rows in record["results"].items():
        for name, r in rows.items():
            lines.append(
                f"| {name} | {backend} | {r['train_samples_per_s']:,.0f} | "
                f"{r['plain_fit_samples_per_s']:,.0f} | {r['train_over_plain']:.2f} | "
                f"{r['train_samples_per_cpu_s']:,.0f} / {r['plain_fit_samples_per_cpu_s']:,.0f} | "
                f"{r['inference_events_per_s']:,.0f} |"
            )
    return "\n".join(lines)


def plain_energy_network(cfg: dict, name: str) -> bool:
    """Whether network ``name`` reconstructs the energy alone, without augmentation: what this
    benchmark times (its data are synthetic energies; the throughput of a family is that of its
    body, the heads and augmentation add to it)."""
    augmentation = study.training_settings(cfg, name)["augmentation"]
    augmented = any(float(v) > 0 for v in augmentation.values())
    return list(cfg["models"][name]["targets"]) == ["energy"] and not augmented


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    from airshower import plotting  # noqa: PLC0415 (matplotlib loads lazily, for the figure only)

    cfg = config.load_config(args.config)
    names = args.models or [m for m in study.model_names(cfg) if plain_energy_network(cfg, m)]
    skipped = sorted(set(study.model_names(cfg)) - set(names))
    if skipped and not args.models:
        log(f"not timed (several targets or augmentation: synthetic energies cannot feed them): {skipped}")
    backends = args.backends or installed_backends()
    load_before = os.getloadavg()
    results = {b: {name: measure(args, b, name) for name in names} for b in backends}
    record = {
        "threads": args.threads,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "versions": io.package_versions(("numpy", "keras", "tensorflow", "jax", "jaxlib", "torch")),
        "results": results,
    }
    io.write_json(args.output, record)
    plotting.save(figure(record), args.output.with_suffix(".png"))
    print(table(record))


if __name__ == "__main__":
    main()

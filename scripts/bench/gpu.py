"""GPU benchmark of the networks: samples/s and epoch time of every preset under JAX or PyTorch.

For every model of ``--config`` (default: ``config/large.yaml``, the study for a GPU: the default
study's networks and the seed lecture's ``cnn_pyramid``, 200,000 events) it builds the network
with :func:`airshower.models.build_model`, compiles it as the training job does
(:func:`airshower.training.compile_model`: the model's batch size and learning-rate schedule,
XLA under JAX, ``steps_per_execution``), runs ``--warmup-steps`` steps (compilation), then
times ``--steps`` steps (both rounded up to whole backend calls) of ``model.fit`` on in-memory
synthetic inputs of the study's shape (the model's ``training.inputs`` channels). It prints, per
model, the training throughput (samples/s) and the time of one epoch over the training split of
``--events`` events (``preparation.fractions`` of the config: 70 %), extrapolated from the timed
steps: ``ceil(n_train / batch)`` times the time of one step; ``--steps 0`` times one whole epoch
instead. Validation is not included.

It imports neither TensorFlow nor Snakemake, so it runs on a bare GPU machine. Beyond JAX with
CUDA (``pip install "jax[cuda12]"``) or PyTorch with CUDA it needs ``keras``, ``numpy``,
``pyyaml``, ``jsonschema`` and ``h5py`` (a dependency of Keras), and this repository (the
library from ``src/``, the schema from ``workflow/schemas/``); no install of the library is
needed::

    pip install keras==3.15.1 pyyaml jsonschema
    KERAS_BACKEND=jax   PYTHONPATH=src python scripts/bench/gpu.py --events 200000 --output gpu-jax.json
    KERAS_BACKEND=torch PYTHONPATH=src python scripts/bench/gpu.py --events 200000 --output gpu-torch.json

Without a visible GPU it times the CPU and says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from airshower import config, normalization, preparation, study, training

ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="data size in events (default 200000)")
    parser.add_argument(
        "--config", type=Path, default=ROOT / "config" / "large.yaml", help="study (default: the GPU one)"
    )
    parser.add_argument("--models", nargs="*", help="model names (default: all of the config)")
    parser.add_argument("--steps", type=int, default=320, help="timed steps per model; 0: one whole epoch")
    parser.add_argument("--warmup-steps", type=int, default=32, help="untimed steps first (compilation)")
    parser.add_argument("--batch-size", type=int, help="instead of each model's configured batch size")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs to make visible (default 1)")
    parser.add_argument("--mixed-precision", action="store_true", help="Keras policy mixed_float16")
    parser.add_argument("--output", type=Path, help="also write the record as JSON here")
    return parser.parse_args(argv)


def synthetic(n: int, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal inputs (n, *shape) and targets (n, 1), float32."""
    gen = np.random.default_rng(seed)
    return gen.normal(size=(n, *shape)).astype(np.float32), gen.normal(size=(n, 1)).astype(np.float32)


def prepared_shape(cfg: dict) -> tuple[int, int, int]:
    """A prepared split's inputs: n_side x n_side x every channel of ``preparation.CHANNELS``."""
    side = cfg["simulation"]["array"]["n_side"]
    return side, side, len(preparation.CHANNELS)


def time_model(name: str, cfg: dict, args: argparse.Namespace, x: np.ndarray, y: np.ndarray) -> dict:
    """Build, compile, warm up and time one model on the prepared training inputs ``x``, ``y``.

    The model gets its ``training.inputs`` channels of ``x``. Both the warm-up and the timed
    steps are rounded up to whole backend calls (``steps_per_execution``), so the timed fit
    compiles nothing.
    """
    from airshower import models  # noqa: PLC0415 (airshower.models imports Keras: after the backend is chosen)

    section = study.training_settings(cfg, name)
    section.update(threads=os.cpu_count(), gpus=args.gpus, mixed_precision=args.mixed_precision)
    if args.batch_size:
        section["batch_size"] = args.batch_size
    settings = training.TrainingSettings.from_config(section)
    x = normalization.select_channels(x, {"channels": preparation.CHANNELS}, settings.inputs)
    batch = settings.batch_size
    steps_per_epoch = math.ceil(len(x) / batch)
    targets = tuple(cfg["models"][name]["targets"])
    n_outputs = {"mass": len(study.mass_classes(cfg))} if "mass" in targets else None
    spec = cfg["models"][name]
    model = models.build_model(
        spec, x.shape[1:], name=name, n_outputs=n_outputs, input_channels=settings.inputs
    )
    training.compile_model(model, settings, steps_per_epoch=steps_per_epoch, targets=targets)
    y = target_arrays(y, targets, n_outputs)
    per_call = int(model.steps_per_execution)
    warmup_s, _ = fit_steps(model, x, y, batch, per_call * math.ceil(max(args.warmup_steps, 1) / per_call))
    steps = per_call * math.ceil((args.steps if args.steps > 0 else steps_per_epoch) / per_call)
    timed_s, loss = fit_steps(model, x, y, batch, steps)
    step_s = timed_s / steps
    return {
        "family": cfg["models"][name]["family"],
        "inputs": list(settings.inputs),
        "n_parameters": models.count_parameters(model),
        "batch_size": batch,
        "steps_per_execution": per_call,
        "warmup_s": warmup_s,
        "timed_steps": steps,
        "samples_per_s": batch / step_s,
        "epoch_s": steps_per_epoch * step_s,
        "loss": loss,
    }


def target_arrays(y: np.ndarray, targets: tuple[str, ...], n_outputs: dict | None):
    """Synthetic network targets of a model's ``targets``, from the standard-normal column ``y``:
    the column itself for the energy alone, else a dict target -> array of the head's width (the
    mass: class indices)."""
    from airshower import models  # noqa: PLC0415 (airshower.models imports Keras: after the backend is chosen)

    if targets == ("energy",):
        return y
    gen = np.random.default_rng(1)
    out = {}
    for t in targets:
        if t == "mass":
            out[t] = gen.integers(0, n_outputs["mass"], size=(len(y), 1)).astype(np.float32)
        else:
            out[t] = gen.normal(size=(len(y), models.DEFAULT_OUTPUT_UNITS[t])).astype(np.float32)
    return out[targets[0]] if len(targets) == 1 else out


def fit_steps(model, x: np.ndarray, y, batch: int, steps: int) -> tuple[float, float]:
    """Wall seconds of ``steps`` training steps of ``model.fit`` (inputs cycled if too few), last loss."""
    n = steps * batch
    xs = np.resize(x, (n, *x.shape[1:]))
    if isinstance(y, dict):
        ys = {t: np.resize(v, (n, *v.shape[1:])) for t, v in y.items()}
    else:
        ys = np.resize(y, (n, *y.shape[1:]))
    t0 = time.perf_counter()
    history = model.fit(xs, ys, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - t0, float(history.history["loss"][-1])


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("keras", "jax", "jaxlib", "torch", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def run(args: argparse.Namespace) -> dict:
    runtime = training.configure_runtime(os.cpu_count(), args.gpus, args.mixed_precision)
    if not any(d.startswith("gpu") for d in runtime["devices"]):
        log(f"no GPU visible to {runtime['backend']}: timing the CPU ({', '.join(runtime['devices'])})")
    cfg = config.load_config(args.config)
    n_train = preparation.split_sizes(args.events, cfg["preparation"]["fractions"])["train"]
    x, y = synthetic(n_train, prepared_shape(cfg))
    record = {
        **runtime,
        "events": args.events,
        "n_train": n_train,
        "steps": args.steps,
        "warmup_steps": args.warmup_steps,
        "versions": versions(),
        "models": {},
    }
    for name in args.models or study.model_names(cfg):
        row = time_model(name, cfg, args, x, y)
        record["models"][name] = row
        log(
            f"{name:12s} {row['n_parameters']:9,d} parameters  batch {row['batch_size']:4d}  "
            f"{row['samples_per_s']:10,.0f} samples/s  epoch {row['epoch_s']:8.2f} s  "
            f"(warm-up {row['warmup_s']:.1f} s)"
        )
    return record


def table(record: dict) -> str:
    """A Markdown table of the record (the one printed at the end)."""
    devices = ", ".join(record["devices"])
    lines = [
        f"{record['backend']} on {devices}, precision {record['precision']}: "
        f"{record['events']:,d} events ({record['n_train']:,d} training samples per epoch)",
        "",
        "| model | parameters | batch | samples/s | epoch [s] |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in record["models"].items():
        lines.append(
            f"| {name} | {r['n_parameters']:,d} | {r['batch_size']} | "
            f"{r['samples_per_s']:,.0f} | {r['epoch_s']:.2f} |"
        )
    return "\n".join(lines)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv=None) -> None:
    args = parse_args(argv)
    record = run(args)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(table(record))


if __name__ == "__main__":
    main()

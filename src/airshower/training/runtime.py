"""The process a training job runs in: threads, GPUs, precision policy, and its seeds.

:func:`configure_runtime` must run before anything builds a tensor (the backends fix their
thread pools and the devices they see then); Keras is imported only inside these functions,
after the environment is set. What acts under which backend:

- ``threads``: the intra- and inter-op pools of TensorFlow and PyTorch, and OpenMP/BLAS
  (OpenMP threads wait passively). JAX has no such setting: XLA sizes its pool to the CPUs the
  process may use (``taskset``, a Slurm allocation).
- ``gpus: 0``: no GPU for any backend (``CUDA_VISIBLE_DEVICES`` empty, ``JAX_PLATFORMS=cpu``,
  TensorFlow's visible GPUs cleared). ``gpus: n``: the first n GPUs of ``CUDA_VISIBLE_DEVICES``
  (Slurm sets it to the job's GPUs; unset: GPUs 0 to n-1). Keras trains on the first of them.
- GPU memory grows on demand instead of being taken at start: TensorFlow's memory growth, JAX
  without preallocation (``XLA_PYTHON_CLIENT_PREALLOCATE=false`` unless set), PyTorch's caching
  allocator (on demand by design).
- PyTorch on a CPU whose best vector unit is AVX2: oneDNN's convolutions are switched off
  (:data:`ONEDNN_UNSAFE_CPUS`: a heap corruption in their backward pass).
- ``mixed_precision``: the Keras policy ``mixed_float16`` under every backend (the output layer
  stays float32; Keras scales the loss).

The job's log gets one line with the backend, the devices it sees and the precision policy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import zlib

from airshower import rng

log = logging.getLogger(__name__)

BACKENDS = ("tensorflow", "jax", "torch")


def configure_runtime(threads: int, gpus: int = 0, mixed_precision: bool = False) -> dict:
    """Threads, visible GPUs and their memory, precision policy; call before building models.

    Parameters
    ----------
    threads
        CPU threads of the backend (TensorFlow, PyTorch) and of OpenMP/BLAS.
    gpus
        GPUs the job may use (the rules' ``gpu`` resource): 0 hides every GPU from every
        backend, n keeps the first n of ``CUDA_VISIBLE_DEVICES``.
    mixed_precision
        Keras policy ``mixed_float16`` instead of ``float32``.

    Returns
    -------
    dict
        ``backend``, ``devices`` (what the backend sees, e.g. ``["cpu:0"]`` or
        ``["gpu:0 (NVIDIA H100)"]``) and ``precision`` (the Keras policy), as logged.
    """
    _set_environment(threads, gpus)
    import keras  # noqa: PLC0415 (the backend loads lazily, after the runtime is configured)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        _configure_tensorflow(threads, gpus)
    elif backend == "torch":
        _configure_torch(threads)
    policy = "mixed_float16" if mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(policy)
    runtime = {"backend": backend, "devices": list_devices(backend), "precision": policy}
    log.info(
        "Keras backend %s on %s, precision %s, %d threads%s",
        backend,
        ", ".join(runtime["devices"]),
        policy,
        threads,
        " (JAX: all CPUs the process may use)" if backend == "jax" else "",
    )
    if gpus and not any(d.startswith("gpu") for d in runtime["devices"]):
        log.warning("training.gpus is %d but the %s backend sees no GPU: training on the CPU", gpus, backend)
    return runtime


def _set_environment(threads: int, gpus: int) -> None:
    """Environment read by the backends when they start: threads, GPU visibility, GPU memory."""
    n = str(threads)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = n
    os.environ["TF_NUM_INTRAOP_THREADS"] = n
    os.environ["TF_NUM_INTEROP_THREADS"] = n
    # OpenMP threads (PyTorch's) sleep while they wait instead of spinning: on a 2-core machine
    # shared with other jobs, spinning made PyTorch 5-8 times slower (docs/performance.md)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["CUDA_VISIBLE_DEVICES"] = visible_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"), gpus)
    if gpus == 0:
        os.environ["JAX_PLATFORMS"] = "cpu"
    else:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX: no 75 % grab at start
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


def visible_gpus(current: str | None, gpus: int) -> str:
    """``CUDA_VISIBLE_DEVICES`` for a job with ``gpus`` GPUs, given its current value.

    0 GPUs: empty (none visible). Otherwise the first ``gpus`` entries of the current list
    (Slurm sets it to the job's GPUs; an empty list stays empty), or ``0,...,gpus-1`` when it
    is unset.
    """
    if gpus == 0 or (current is not None and not current.strip()):
        return ""
    if current is None:
        return ",".join(str(i) for i in range(gpus))
    return ",".join(current.split(",")[:gpus])


def list_devices(backend: str) -> list[str]:
    """The devices the backend computes on: ``["gpu:0 (<model>)", ...]``, or ``["cpu:0"]``."""
    if backend == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415 (the backend loads lazily, after the runtime is configured)

        if not tf.config.list_logical_devices("GPU"):
            return ["cpu:0"]
        details = tf.config.experimental.get_device_details
        return [
            f"gpu:{i} ({details(d).get('device_name', 'GPU')})"
            for i, d in enumerate(tf.config.list_physical_devices("GPU"))
        ]
    if backend == "jax":
        import jax  # noqa: PLC0415 (the backend loads lazily, after the runtime is configured)

        return [
            f"cpu:{d.id}" if d.platform == "cpu" else f"gpu:{d.id} ({d.device_kind})" for d in jax.devices()
        ]
    if backend == "torch":
        import torch  # noqa: PLC0415 (the backend loads lazily, after the runtime is configured)

        if torch.cuda.is_available():
            return [f"gpu:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
        return ["cpu:0"]
    return ["unknown"]


def _configure_tensorflow(threads: int, gpus: int) -> None:
    import tensorflow as tf  # noqa: PLC0415 (the backend loads lazily, after the runtime is configured)

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        if gpus == 0:
            tf.config.set_visible_devices([], "GPU")
        else:
            for gpu in tf.config.list_physical_devices("GPU"):
                tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError as exc:  # TensorFlow already initialized: keep what it has
        log.warning("TensorFlow runtime already initialized, threads/GPU settings not applied (%s)", exc)


# oneDNN's backward pass of a channels-last 1x1 convolution with stride 2 (the ResNet's projection
# shortcut; Keras' PyTorch backend keeps images channels-last) corrupts the heap in torch 2.13.0+cpu
# on CPUs whose best vector unit is AVX2 ("corrupted double-linked list", then SIGABRT/SIGSEGV; seen
# on a 2-core AMD EPYC, not on an AVX-512 Intel Xeon). There PyTorch's own CPU convolutions run
# instead: the same results to float32 rounding, about 1.4x slower to train a small CNN.
ONEDNN_UNSAFE_CPUS = ("AVX2",)


def _configure_torch(threads: int) -> None:
    import torch  # noqa: PLC0415 (the backend loads lazily, after the runtime is configured)

    capability = torch.backends.cpu.get_cpu_capability()
    if capability in ONEDNN_UNSAFE_CPUS and torch.backends.mkldnn.enabled:
        torch.backends.mkldnn.enabled = False
        log.info(
            "PyTorch on a %s CPU: oneDNN convolutions off (heap corruption in their backward pass)",
            capability,
        )
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # fixed once torch ran parallel work
        torch.set_num_interop_threads(threads)


def keras_seed(study_seed: int, model: str, seed: int) -> int:
    """Integer seed of one training job: stream ``training`` of the study seed, the model name
    (CRC32) and the training seed."""
    gen = rng.generator(study_seed, "training", zlib.crc32(model.encode()), seed)
    return int(gen.integers(0, 2**31 - 1))


def seed_everything(seed: int) -> None:
    """Seed Keras (Python, NumPy and backend generators); op determinism on TensorFlow CPU."""
    import keras  # noqa: PLC0415 (the backend loads lazily, after the runtime is configured)

    keras.utils.set_random_seed(int(seed))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415 (the backend loads lazily, after the runtime is configured)

        if not tf.config.list_logical_devices("GPU"):
            tf.config.experimental.enable_op_determinism()

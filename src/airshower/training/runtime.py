"""The process a training job runs in: threads, GPUs, precision policy, and its seeds.

:func:`configure_runtime` must run before anything builds a tensor (TensorFlow fixes its thread
pools then); Keras is imported only inside these functions, after the environment is set.
"""

from __future__ import annotations

import contextlib
import logging
import os
import zlib

from airshower import rng

log = logging.getLogger(__name__)


def configure_runtime(threads: int, gpus: int = 0, mixed_precision: bool = False) -> None:
    """Threads, GPU visibility and memory growth, precision policy; call before building models.

    ``threads`` sets the intra- and inter-op thread pools of TensorFlow (and PyTorch) and the
    OpenMP/BLAS thread count; ``gpus: 0`` hides the GPUs; on a TensorFlow GPU memory grows on
    demand instead of taking the whole card. ``mixed_precision`` switches the Keras policy to
    ``mixed_float16`` (the output layer stays float32).
    """
    n = str(threads)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = n
    os.environ["TF_NUM_INTRAOP_THREADS"] = n
    os.environ["TF_NUM_INTEROP_THREADS"] = n
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        _configure_tensorflow(threads, gpus)
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # fixed once torch ran parallel work
            torch.set_num_interop_threads(threads)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")


def _configure_tensorflow(threads: int, gpus: int) -> None:
    import tensorflow as tf

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


def keras_seed(study_seed: int, model: str, seed: int) -> int:
    """Integer seed of one training job: stream ``training`` of the study seed, the model name
    (CRC32) and the training seed."""
    gen = rng.generator(study_seed, "training", zlib.crc32(model.encode()), seed)
    return int(gen.integers(0, 2**31 - 1))


def seed_everything(seed: int) -> None:
    """Seed Keras (Python, NumPy and backend generators); op determinism on TensorFlow CPU."""
    import keras

    keras.utils.set_random_seed(int(seed))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_logical_devices("GPU"):
            tf.config.experimental.enable_op_determinism()

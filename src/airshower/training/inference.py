"""A trained network after the fit: predictions with their throughput, decoded by each target
(:mod:`airshower.targets`) into the physical quantities, and the saved model file."""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from airshower import io
from airshower import targets as registry
from airshower.training import stream

if TYPE_CHECKING:
    import keras  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)


def _gaussian_columns(y: np.ndarray) -> np.ndarray:
    """(N, 2) standardized mean and raw width -> mean and 1-sigma width (float64)."""
    import keras  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

    from airshower import models  # noqa: PLC0415 (airshower.models imports Keras: loaded lazily, when a network is built)

    log_sigma = keras.ops.convert_to_numpy(models.gaussian_log_sigma(y[:, 1]))
    return np.column_stack([y[:, 0], np.exp(log_sigma)]).astype(np.float64)


def predict(model: keras.Model, x: np.ndarray, batch_size: int) -> tuple[np.ndarray | dict, float]:
    """Standardized predictions, float64, and the throughput in events/s.

    A ``point`` energy model (``models.OUTPUTS``) gives the (N,) standardized energies; a
    ``gaussian`` one (N, 2): column 0 the standardized mean, column 1 its 1-sigma width (> 0, in
    the same units: exp of :func:`airshower.models.gaussian_log_sigma` of the raw width); a model
    of another single target its (N, k) outputs; a model of several targets a dict target ->
    outputs (the energy's as above). A warm-up call on one batch first, so tracing is not counted;
    the rate is that of the full ``model.predict`` over ``x``. ``x`` may be read from disk
    (:class:`airshower.training.stream.SplitInputs`), batch by batch.
    """
    from airshower import models  # noqa: PLC0415 (airshower.models imports Keras: loaded lazily, when a network is built)

    if isinstance(x, stream.SplitInputs):  # read from disk batch by batch
        model.predict(x.read(0, batch_size), batch_size=batch_size, verbose=0)
        t0 = time.perf_counter()
        y = model.predict(stream.disk_dataset(x, None, batch_size, shuffle=False), verbose=0)
    else:
        x = np.asarray(x, dtype=np.float32)
        model.predict(x[:batch_size], batch_size=batch_size, verbose=0)
        t0 = time.perf_counter()
        y = model.predict(x, batch_size=batch_size, verbose=0)
    elapsed = time.perf_counter() - t0
    rate = float(len(x) / elapsed) if elapsed > 0 else float("nan")
    gaussian = models.model_output(model) == "gaussian"
    if isinstance(y, dict):
        return {t: _target_columns(t, v, gaussian) for t, v in y.items()}, rate
    if gaussian:
        return _gaussian_columns(y), rate
    y = np.asarray(y, dtype=np.float64)
    return (y.reshape(-1) if y.shape[-1] == 1 else y), rate


def _target_columns(target: str, y: np.ndarray, gaussian: bool) -> np.ndarray:
    """One target's outputs of a multi-target model, float64: the energy (a gaussian output,
    :attr:`airshower.targets.Target.gaussian_output`) its (N,) points or, gaussian, (N, 2) means
    and widths; the others their (N, k) outputs, or with a width head (``widths``) (N, k + 1), the
    last column the raw log-width (:meth:`airshower.targets.Target.reconstruct` decodes it)."""
    if not registry.get(target).gaussian_output:
        return np.asarray(y, dtype=np.float64)
    return _gaussian_columns(y) if gaussian else np.asarray(y, dtype=np.float64).reshape(-1)


def reconstruct(y, norm: Mapping, targets: Sequence[str], transform: str) -> dict[str, np.ndarray]:
    """The ``predictions.h5`` datasets of the network outputs ``y`` (:func:`predict`) of a model
    of ``targets``: each target's reconstruction and, where its output has one, its per-event width
    (``energy_sigma`` of a gaussian output; :func:`airshower.targets.decode`)."""
    return registry.decode(y if isinstance(y, Mapping) else {targets[0]: y}, norm, targets, transform)


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Save a Keras model atomically (Keras needs the ``.keras`` suffix on the temporary name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.{os.getpid()}.part.keras"
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_archive(path: Path) -> None:
    """A ``.keras`` file is a zip archive: a cut-short or overwritten one is named as damaged
    (Keras itself reports "File not found" for it)."""
    size = path.stat().st_size
    damaged = f"{path}: model file is damaged ({size} bytes"
    fix = f"retrain this model and seed: run the workflow again with --forcerun {path}"
    if not zipfile.is_zipfile(path):
        raise io.DataError(f"{damaged}, not a complete .keras zip archive: cut short or overwritten); {fix}")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise io.DataError(f"{damaged}, the archive cannot be read: {exc}); {fix}") from None
    if bad is not None:
        raise io.DataError(f"{damaged}, entry '{bad}' fails its checksum); {fix}")


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a saved model for inference (not compiled).

    Raises :class:`airshower.io.DataError` naming the file: missing, damaged (not a complete zip
    archive, or an entry failing its checksum) or not loadable by Keras.
    """
    path = Path(path)
    if not path.is_file():
        raise io.DataError(f"{path}: model file does not exist")
    _check_archive(path)
    import keras  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

    from airshower import models  # noqa: PLC0415 (imports Keras; registers the custom layers, ChannelMean)

    try:
        return keras.saving.load_model(path, compile=False, custom_objects=models.CUSTOM_OBJECTS)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise io.DataError(f"{path}: not a loadable Keras model ({exc})") from None

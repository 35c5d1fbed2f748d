"""A trained network after the fit: predictions with their throughput, the saved model file."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from airshower import io

if TYPE_CHECKING:
    import keras


def predict(model: keras.Model, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Standardized predictions (N,) float64 and the throughput in events/s.

    A warm-up call on one batch first, so tracing is not counted; the rate is that of the full
    ``model.predict`` over ``x``.
    """
    x = np.asarray(x, dtype=np.float32)
    model.predict(x[:batch_size], batch_size=batch_size, verbose=0)
    t0 = time.perf_counter()
    y = model.predict(x, batch_size=batch_size, verbose=0)
    elapsed = time.perf_counter() - t0
    rate = float(len(x) / elapsed) if elapsed > 0 else float("nan")
    return np.asarray(y, dtype=np.float64).reshape(-1), rate


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
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise io.DataError(f"{path}: not a loadable Keras model ({exc})") from None

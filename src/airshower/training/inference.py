"""A trained network after the fit: predictions with their throughput and in EeV, the saved model
file."""

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

if TYPE_CHECKING:
    import keras  # noqa: PLC0415 (Keras loads lazily: importing the training package starts no backend)

# d(energy)/d(transformed energy) as a function of the energy, per target transform
# (airshower.targets.TARGET_TRANSFORMS; a test holds the keys to it): linear E -> 1, log10 E -> ln(10) E.
INVERSE_SLOPES = {
    "linear": np.ones_like,
    "log10": lambda energy: np.log(10.0) * energy,
}


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
    the rate is that of the full ``model.predict`` over ``x``.
    """
    from airshower import models  # noqa: PLC0415 (airshower.models imports Keras: loaded lazily, when a network is built)

    x = np.asarray(x, dtype=np.float32)
    model.predict(x[:batch_size], batch_size=batch_size, verbose=0)
    t0 = time.perf_counter()
    y = model.predict(x, batch_size=batch_size, verbose=0)
    elapsed = time.perf_counter() - t0
    rate = float(len(x) / elapsed) if elapsed > 0 else float("nan")
    gaussian = models.model_output(model) == "gaussian"
    if isinstance(y, dict):
        out = {t: np.asarray(v, dtype=np.float64) for t, v in y.items()}
        if "energy" in out and not gaussian:
            out["energy"] = out["energy"].reshape(-1)
        if gaussian:
            out["energy"] = _gaussian_columns(y["energy"])
        return out, rate
    if gaussian:
        return _gaussian_columns(y), rate
    y = np.asarray(y, dtype=np.float64)
    return (y.reshape(-1) if y.shape[-1] == 1 else y), rate


def reconstruct(y, norm: Mapping, targets: Sequence[str], transform: str) -> dict[str, np.ndarray]:
    """The ``predictions.h5`` datasets of the network outputs ``y`` (:func:`predict`) of a model
    of ``targets``: ``energy_pred`` and, for a gaussian output, ``energy_sigma``
    (:func:`energy_eev`), and the other targets' reconstructions (:func:`airshower.targets.decode`).
    """
    outputs = y if isinstance(y, Mapping) else {targets[0]: y}
    out = {}
    if "energy" in outputs:
        energy, sigma = energy_eev(outputs["energy"], norm, transform)
        out["energy_pred"] = energy
        if sigma is not None:
            out["energy_sigma"] = sigma
    others = [t for t in targets if t != "energy"]
    out.update(registry.decode({t: outputs[t] for t in others}, norm, others, transform))
    return out


def energy_eev(y: np.ndarray, norm: Mapping, transform: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Energies and their 1-sigma widths in EeV of the standardized predictions :func:`predict` gives.

    Parameters
    ----------
    y
        (N,) standardized energies of a ``point`` model, or (N, 2) standardized means and widths
        of a ``gaussian`` one.
    norm
        the normalization statistics (``normalization.json``).
    transform
        the model's ``training.target_transform``.

    Returns
    -------
    energy_eev, sigma_eev
        ``energy_eev = registry.inverse_target(mean)``; ``sigma_eev`` (None for a point model)
        the width carried through the inverse transform to first order:
        ``sigma_eev = |dE/dv| std sigma``, v the transformed energy and std its standard
        deviation over the training split, so ``sigma std`` for ``linear`` and
        ``E ln(10) sigma std`` for ``log10`` (:data:`INVERSE_SLOPES`). For log10 this is the
        width of a straight-line approximation at E, which is the median of the log-normal
        distribution the network predicts; the interval [E - sigma, E + sigma] is then symmetric
        where the exact one, 10^(v +- sigma std), is not (ratio 1 + ln(10) sigma std).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        return registry.inverse_target(y, norm, transform), None
    energy = registry.inverse_target(y[:, 0], norm, transform)
    std = float(registry.target_statistics(norm, transform)["std"])
    return energy, INVERSE_SLOPES[transform](energy) * y[:, 1] * std


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

    try:
        return keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise io.DataError(f"{path}: not a loadable Keras model ({exc})") from None

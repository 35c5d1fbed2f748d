"""The checkpoint file of a training job: ``checkpoint.npz`` in the job's checkpoint directory.

One NumPy archive: the weights (``w0``, ``w1``, ...), the optimizer variables (``o*``), the best
weights so far (``b*``) and a JSON ``state`` (see :class:`airshower.training.resume.Resume`,
which writes and reads it). It is written to a temporary file, flushed to disk and renamed onto
the last one, so a job killed while writing leaves the last good checkpoint as it was. A
checkpoint that cannot be read for any reason (truncated, empty, a flipped byte, not an
archive, a state that does not parse) is moved aside to ``checkpoint.npz.damaged`` with a
warning, and the training starts over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from airshower import io

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.npz"
DAMAGED = ".damaged"  # suffix of a checkpoint moved aside as unreadable


def save_checkpoint(
    path: str | os.PathLike,
    weights: Sequence[np.ndarray],
    optimizer: Sequence[np.ndarray],
    best_weights: Sequence[np.ndarray] | None,
    state: Mapping,
) -> None:
    """Write weights, optimizer variables, best weights and the JSON state to one file, atomically."""
    arrays = {f"w{i}": np.asarray(a) for i, a in enumerate(weights)}
    arrays.update({f"o{i}": np.asarray(a) for i, a in enumerate(optimizer)})
    arrays.update({f"b{i}": np.asarray(a) for i, a in enumerate(best_weights or ())})
    arrays["state"] = np.array(json.dumps(dict(state)))
    with io.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())  # on disk before the rename: a node crash leaves old or new, whole


def load_checkpoint(path: str | os.PathLike) -> dict | None:
    """The checkpoint as ``{"state", "weights", "optimizer", "best_weights"}``; None if missing.

    A file that cannot be read, whatever the damage, is moved aside (:func:`discard_checkpoint`)
    and None returned.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return _read(path)
    except Exception as exc:  # noqa: BLE001 - any damage means: not a checkpoint, start over
        discard_checkpoint(path, f"{type(exc).__name__}: {exc}")
        return None


def _read(path: Path) -> dict:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != b"PK\x03\x04":  # what np.savez writes: a zip archive
        raise ValueError(f"not a NumPy .npz archive (starts with {head!r})" if head else "the file is empty")
    with np.load(path, allow_pickle=False) as npz:
        state = json.loads(str(npz["state"]))
        if not isinstance(state, dict):
            raise ValueError(f"state is a JSON {type(state).__name__}, not an object")

        def group(prefix):
            keys = sorted(
                (k for k in npz.files if k[0] == prefix and k[1:].isdigit()), key=lambda k: int(k[1:])
            )
            return [npz[k] for k in keys]  # reading checks each member's CRC

        return {"state": state, "weights": group("w"), "optimizer": group("o"), "best_weights": group("b")}


def discard_checkpoint(path: str | os.PathLike, reason: str) -> None:
    """Move an unusable checkpoint aside to ``<name>.damaged`` (replacing an older one) and say so."""
    path = Path(path)
    aside = path.with_name(path.name + DAMAGED)
    try:
        os.replace(path, aside)
    except OSError as exc:
        log.warning(
            "%s: unreadable checkpoint, starting over (%s); could not move it aside: %s", path, reason, exc
        )
        return
    log.warning("%s: unreadable checkpoint, starting over (%s); kept as %s", path, reason, aside)


def remove_checkpoint(checkpoint_dir: str | os.PathLike | None) -> None:
    """Delete a job's checkpoint and any temporary left by a killed write (after its outputs are written)."""
    if checkpoint_dir is None:
        return
    folder = Path(checkpoint_dir)
    for path in (folder / CHECKPOINT, *folder.glob(f".{CHECKPOINT}.*.part")):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (a damaged checkpoint kept, the job's lock): leave it
        folder.rmdir()

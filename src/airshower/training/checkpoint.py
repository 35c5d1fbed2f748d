"""The checkpoint file of a training job: ``checkpoint.npz`` in the job's checkpoint directory.

One NumPy archive, written atomically: the weights (``w0``, ``w1``, ...), the optimizer
variables (``o*``), the best weights so far (``b*``) and a JSON ``state`` (see
:class:`airshower.training.resume.Resume`, which writes and reads it).
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


def load_checkpoint(path: str | os.PathLike) -> dict | None:
    """The checkpoint as ``{"state", "weights", "optimizer", "best_weights"}``, or None if unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            state = json.loads(str(npz["state"]))

            def group(prefix):
                keys = sorted(
                    (k for k in npz.files if k[0] == prefix and k[1:].isdigit()), key=lambda k: int(k[1:])
                )
                return [npz[k] for k in keys]

            return {
                "state": state,
                "weights": group("w"),
                "optimizer": group("o"),
                "best_weights": group("b"),
            }
    except (OSError, ValueError, KeyError) as exc:
        log.warning("%s: unreadable checkpoint, starting over (%s)", path, exc)
        return None


def remove_checkpoint(checkpoint_dir: str | os.PathLike | None) -> None:
    """Delete a job's checkpoint (after its outputs are written)."""
    if checkpoint_dir is None:
        return
    path = Path(checkpoint_dir) / CHECKPOINT
    if path.exists():
        path.unlink()
    with contextlib.suppress(OSError):  # not empty: leave it
        Path(checkpoint_dir).rmdir()

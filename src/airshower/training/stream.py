"""Training data read from the prepared split files batch by batch, so the network's inputs are
never all in memory (the training's half of the flat-memory data path; the preparation's is
:func:`airshower.preparation.prepare_in_blocks`).

- :class:`SplitInputs`: a split file's ``x`` as a model sees it (its channels, float32), read in
  slices; its :meth:`~SplitInputs.crc32` is that of the same array in memory, so
  :func:`airshower.training.fingerprint` (and with it the resume of a killed training) does not
  depend on where the inputs were read from;
- :class:`DiskBatches`: the batches of an epoch, contiguous slices of the file in an order drawn
  per epoch from the training's seed (a prepared split holds its events in the simulation's
  random order, so a contiguous slice is a random sample: which events share a batch is fixed,
  the order of the batches changes every epoch), and :func:`disk_dataset`, the Keras
  ``PyDataset`` over them (:func:`airshower.augmentation.epoch_dataset`, as the augmented
  batches'; the validation split's in file order).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from airshower import augmentation, io
from airshower import rng as rng_streams

# reads of the fingerprint's pass over a split: events per slice
_CRC_BLOCK = 4096
_DISK_KEY = 0x5D15C  # the sub-stream of the batches' order, apart from the training's others


def seed_sequence(study_seed: int, model: str, seed: int) -> np.random.SeedSequence:
    """The stream of the batch order of the training of ``model`` with training seed ``seed``."""
    return rng_streams.seed_sequence(study_seed, "training", zlib.crc32(model.encode()), seed, _DISK_KEY)


class SplitInputs:
    """The channels ``channels`` (indices) of the ``x`` of the prepared split file ``path``, as
    float32, read in slices (:meth:`read`); ``shape`` and ``len`` as the array's."""

    dtype = np.dtype(np.float32)

    def __init__(self, path, channels: Sequence[int]):
        self.path, self.channels = path, [int(c) for c in channels]
        with io.open_h5(path) as fh:
            shape = fh["x"].shape
        self.shape = (shape[0], *shape[1:-1], len(self.channels))
        self._file = None

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Events ``start`` to ``stop`` (exclusive), (n, H, W, channels) float32, checked finite
        (DataError naming the file and what to run)."""
        if self._file is None:
            self._file = io.open_h5(self.path)
        x = np.ascontiguousarray(self._file["x"][start:stop][..., self.channels], dtype=np.float32)
        if not np.isfinite(x).all():
            raise io.DataError(f"{self.path}: dataset 'x' has NaN or infinite values; {io.remake(self.path)}")
        return x

    def close(self) -> None:
        """Close the file (a later :meth:`read` opens it again)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def crc32(self) -> int:
        """CRC32 of the inputs' bytes, as ``zlib.crc32`` of the array in memory (C order)."""
        crc = 0
        for start in range(0, len(self), _CRC_BLOCK):
            crc = zlib.crc32(self.read(start, min(start + _CRC_BLOCK, len(self))).data, crc)
        return crc

    def __getstate__(self):  # a PyDataset worker opens its own file
        return {**self.__dict__, "_file": None}


def _rows(y, start: int, stop: int):
    return {k: v[start:stop] for k, v in y.items()} if isinstance(y, Mapping) else y[start:stop]


def _batch(x: np.ndarray, y, start: int, stop: int):
    """``(x, y rows)``, or ``x`` alone for inputs without targets (a prediction)."""
    return x if y is None else (x, _rows(y, start, stop))


class DiskBatches:
    """Batches of ``(inputs, y)`` (:class:`SplitInputs`; ``y`` an array or a dict of arrays in
    memory, or None: the inputs alone, for a prediction): batch ``i`` of epoch ``e`` is slice
    ``order_e[i]`` of the file, ``order_e`` the permutation of the batches drawn from sub-stream
    ``e`` of ``seed`` (in file order without ``shuffle``)."""

    def __init__(self, inputs: SplitInputs, y, batch_size: int, seed=None, shuffle: bool = True):
        self.inputs, self.y, self.batch_size = inputs, y, int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed or 0)
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.inputs) / self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self))
        ss = np.random.SeedSequence(self.seed.entropy, spawn_key=(*self.seed.spawn_key, int(epoch)))
        return np.random.Generator(np.random.PCG64(ss)).permutation(len(self))

    def batch(self, epoch: int, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} outside 0..{len(self) - 1}")
        b = int(self.order(epoch)[index])
        start, stop = b * self.batch_size, min((b + 1) * self.batch_size, len(self.inputs))
        return _batch(self.inputs.read(start, stop), self.y, start, stop)


def disk_dataset(inputs: SplitInputs, y, batch_size: int, seed=None, shuffle: bool = True):
    """A ``keras.utils.PyDataset`` of :class:`DiskBatches` for ``model.fit`` (training data with
    ``shuffle``, validation data without)."""
    return augmentation.epoch_dataset(DiskBatches(inputs, y, batch_size, seed, shuffle))


def inputs_mb(path, n_channels: int) -> float:
    """The memory (MB) the inputs of the prepared split ``path`` take in a training that holds
    them: its ``x`` read (every channel) and the model's ``n_channels`` picked from it, float32."""
    with io.open_h5(path) as fh:
        shape = fh["x"].shape
    per_event = int(np.prod(shape[1:-1])) * (shape[-1] + n_channels) * 4
    return shape[0] * per_event / 1e6

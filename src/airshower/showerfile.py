"""A shower file too large for the memory, and one made elsewhere: read block by block, checked
and imported.

- :class:`ShowerBlocks`: the labels and the station table at once (small, checked), the
  per-station datasets block by block, each block checked against the shower contract;
- :func:`showers_within`: the showers in memory (:func:`airshower.io.read_showers`) where a job's
  copies of them fit ``preparation.memory_budget_mb``, else a :class:`ShowerBlocks`;
  :func:`take_events` picks events from either, :func:`gather` assembles what is computed per
  block for chosen events;
- :func:`shower_file_shape` (cheap: shapes only) and :func:`import_showers`: a file made by a
  converter of another simulation (``showers.file``), checked against the data contract
  (docs/data-contract.md) and copied.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from airshower.contract import (
    LABEL_DATASETS,
    OPTIONAL_LABEL_DATASETS,
    SHOWER_DATASETS,
    STATION_DATASET,
    WORKING_DATASET,
    DataError,
    check_array,
    check_labels,
    check_showers,
    check_units,
    shower_limits,
)
from airshower.io import atomic_path, open_h5, read_attrs, read_showers


class ShowerBlocks:
    """A shower file read in blocks of events, for the studies whose files exceed the memory
    (``preparation.memory_budget_mb``): its labels and station table read at once (small, and
    checked), its per-station datasets (``time``, ``signal``, ``working`` and ``trace`` where
    present) block by block, each block checked against the shower contract with the error
    naming its events. Indexing by name gives a label or ``detector``, as a dict of
    :func:`read_showers` does."""

    def __init__(self, path: str | os.PathLike, block_events: int = 4096):
        self.path, self.block_events = path, int(block_events)
        self.limits = shower_limits(read_attrs(path))
        with open_h5(path) as fh:
            names = set(fh)
            missing = [name for name in (*SHOWER_DATASETS, STATION_DATASET) if name not in names]
            if missing:
                raise DataError(f"{path}: no dataset {', '.join(repr(m) for m in missing)} (shower contract)")
            self.n = len(fh["energy"])
            wanted = (*LABEL_DATASETS, *OPTIONAL_LABEL_DATASETS)
            self.labels = {label: fh[label][()] for label in wanted if label in names}
            self.positions = fh[STATION_DATASET][()]
            self.n_bins = int(fh["trace"].shape[-1]) if "trace" in names else 0
        check_labels(self.labels, path, self.limits)
        self.stations = ["time", "signal"] + [name for name in (WORKING_DATASET, "trace") if name in names]

    def __len__(self) -> int:
        return self.n

    def __contains__(self, name: str) -> bool:
        return name in self.labels or name == STATION_DATASET

    def __getitem__(self, name: str) -> np.ndarray:
        if name == STATION_DATASET:
            return self.positions
        if name not in self.labels:
            raise KeyError(f"{self.path}: {name!r} is read block by block (ShowerBlocks), not at once")
        return self.labels[name]

    def __iter__(self) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """``(start, stop, block)`` of consecutive events: the per-station datasets, the labels and
        ``detector`` of the events ``start`` to ``stop - 1``."""
        with open_h5(self.path) as fh:
            for start in range(0, self.n, self.block_events):
                stop = min(start + self.block_events, self.n)
                block = {name: fh[name][start:stop] for name in self.stations}
                block.update({label: values[start:stop] for label, values in self.labels.items()})
                block[STATION_DATASET] = self.positions
                try:
                    check_showers(block, self.path, self.limits)
                except DataError as exc:
                    raise DataError(
                        f"{exc} (in events {start} to {stop - 1}, counted from {start})"
                    ) from None
                yield start, stop, block

    def rows(self, index: np.ndarray) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """The events of the rows ``index`` (in any order) block by block: yields ``(where,
        block)``, ``block`` holding the events ``index[where]`` (every dataset as :meth:`__iter__`);
        every ``where`` once. The whole file is read once."""
        index = np.asarray(index, dtype=np.int64)
        order = np.argsort(index, kind="stable")
        ordered = index[order]
        for start, stop, block in self:
            lo, hi = np.searchsorted(ordered, (start, stop))
            if hi > lo:
                take = ordered[lo:hi] - start
                yield (
                    order[lo:hi],
                    {
                        name: values if name == STATION_DATASET else values[take]
                        for name, values in block.items()
                    },
                )


def shower_file_shape(path: str | os.PathLike) -> dict:
    """``n_events``, ``n_stations``, ``n_bins`` (0 without a recorded ``trace``) and ``datasets``
    (the names) of a shower file, from its datasets' shapes alone (cheap: no data read);
    DataError where the file does not open or lacks ``signal``."""
    with open_h5(path) as fh:
        if "signal" not in fh:
            raise DataError(f"{path}: no dataset 'signal' (shower contract)")
        shape = fh["signal"].shape
        n_bins = int(fh["trace"].shape[-1]) if "trace" in fh else 0
        datasets = tuple(fh)
    return {
        "n_events": int(shape[0]),
        "n_stations": int(np.prod(shape[1:])),
        "n_bins": n_bins,
        "datasets": datasets,
    }


def import_showers(
    source: str | os.PathLike,
    target: str | os.PathLike,
    array: Mapping | None = None,
    block_events: int = 4096,
) -> int:
    """Check a shower file made elsewhere (a converter of another simulation) against the data
    contract and copy it to ``target`` (atomically, byte for byte); return its number of events.

    Checked, in this order, each with a DataError naming ``source`` and the dataset: the file
    opens and has every dataset of the contract; the ``unit`` attribute of each
    (:func:`airshower.contract.check_units`); the station table against the study's ``array``
    (``simulation.array``: station count and spacing); the labels (energies inside the range of
    the file's provenance, or the schema's without one), then the stations block by block
    (shapes, dtypes, NaN exactly where silent, signals in range, ``working`` and traces where
    present), the error naming the block's events. Nothing is written unless every check passes.
    """
    blocks = ShowerBlocks(source, block_events)
    with open_h5(source) as fh:
        check_units({name: fh[name].attrs.get("unit") for name in fh}, source)
    try:
        check_array(blocks.positions, array, str(source))
    except ValueError as exc:
        raise DataError(str(exc)) from None
    for _ in blocks:  # each block checked against the contract as it is read
        pass
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return len(blocks)


def showers_within(
    path: str | os.PathLike, memory_budget_mb: float, copies: float
) -> dict[str, np.ndarray] | ShowerBlocks:
    """The showers of ``path`` for a job that holds ``copies`` copies of their ``time`` and
    ``signal``: read at once (:func:`read_showers`) where that fits ``memory_budget_mb``
    (``preparation.memory_budget_mb``), else a :class:`ShowerBlocks` to be read block by block."""
    shape = shower_file_shape(path)  # the decision from the shapes alone: no label read twice
    if images_mb(shape["n_events"], shape["n_stations"], copies) <= memory_budget_mb:
        return read_showers(path)
    return ShowerBlocks(path)


def gather(
    showers: ShowerBlocks, index: np.ndarray, per_block: Callable[[dict], Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """``per_block(block)`` (per-event arrays of a block's events) for the events ``index`` of a
    file read block by block (:meth:`ShowerBlocks.rows`), assembled in the order of ``index``; {}
    for no events."""
    out: dict[str, np.ndarray] = {}
    for where, block in showers.rows(index):
        for name, values in per_block(block).items():
            if name not in out:
                out[name] = np.empty((len(index), *values.shape[1:]), dtype=values.dtype)
            out[name][where] = values
    return out


def take_events(
    showers: Mapping[str, np.ndarray] | ShowerBlocks, index: np.ndarray, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """The events ``index`` (in that order) of showers in memory (:func:`read_showers`) or read
    block by block (:class:`ShowerBlocks`): the datasets ``names`` (default: every one; the
    station table ``detector`` as it is)."""
    index = np.asarray(index, dtype=np.int64)

    def wanted(name):
        return names is None or name in names

    if not isinstance(showers, ShowerBlocks):
        return {
            name: values if name == STATION_DATASET else values[index]
            for name, values in showers.items()
            if wanted(name)
        }
    events = {STATION_DATASET: showers.positions} if wanted(STATION_DATASET) else {}
    picked = gather(
        showers,
        index,
        lambda block: {name: v for name, v in block.items() if name != STATION_DATASET and wanted(name)},
    )
    return events | picked


def images_mb(n_events: int, n_stations: int, copies: float) -> float:
    """The memory (MB) of ``copies`` copies of the ``time`` and ``signal`` (float32) of
    ``n_events`` showers of ``n_stations`` stations."""
    return n_events * n_stations * 8.0 * copies / 1e6

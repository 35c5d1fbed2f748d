"""Train/validation/test split of the showers and their network inputs, in memory or block by
block.

:func:`prepare` draws the splits, fits the statistics on the training split and transforms every
split into the network inputs ``x`` (the channels and their statistics:
:mod:`airshower.normalization`); :func:`prepare_in_blocks` does the same with the memory of one
block of events.

The network targets are those of :mod:`airshower.targets` (the model's ``targets``; the energy
by default): the energy in EeV transformed by one of :data:`TARGET_TRANSFORMS` (the model's
``training.target_transform``) and standardized with the training split's mean and standard
deviation of that transform, the axis, the core, Xmax or the mass class. All statistics, those of
every target and of every energy transform, come from the training split only and are stored in
``normalization.json`` (``targets``): the training job builds the targets of a split
(:func:`network_arrays`), the prediction job maps the network outputs back
(:func:`airshower.targets.decode`; the energy: :func:`inverse_target`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from airshower import io, normalization, schema, showerfile
from airshower import targets as registry
from airshower.contract import (
    LABEL_DATASETS,
    OPTIONAL_LABEL_DATASETS,
    shower_units,
)

# The input channels of the prepared ``x``, in their order, and their kinds (:mod:`airshower.inputs`;
# ``training.inputs`` names a subset; the schema's enum is held to CHANNELS by tests/test_preparation.py).
from airshower.inputs import (
    CHANNELS,
    front_residual_ns,
    relative_time,
    trace_channels,
)

SPLITS = ("train", "val", "test")
LABELS = LABEL_DATASETS
# labels a shower file may have (the muon target's R_mu): kept in the splits where it has them
OPTIONAL_LABELS = OPTIONAL_LABEL_DATASETS


@dataclass(frozen=True)
class PreparationSettings(schema.Settings):
    """``preparation``: split fractions (``train``, ``val``, ``test``), the range of true
    energy the validation and test sets keep (``evaluated_log10_energy_ev``, None: all) and the
    memory above which the data are prepared block by block (``memory_budget_mb``)."""

    SECTION: ClassVar[str] = "preparation"

    fractions: Mapping[str, float]
    evaluated_log10_energy_ev: tuple[float, float] | None
    memory_budget_mb: int

    def in_blocks(self, n_events: int, n_stations: int, n_bins: int = 0) -> bool:
        """Whether :func:`prepare_in_blocks` prepares ``n_events`` showers: where
        :func:`memory_estimate_mb` exceeds ``memory_budget_mb``."""
        return memory_estimate_mb(n_events, n_stations, n_bins) > self.memory_budget_mb


def evaluated(energy_eev: np.ndarray, log10_range: Sequence[float] | None) -> np.ndarray:
    """The events (bool mask) whose true energy (EeV) lies in ``[lo, hi)`` of ``log10_range``
    (log10(E/eV)), every event for None: the events a validation or test set keeps."""
    energy = np.asarray(energy_eev, dtype=np.float64)
    if log10_range is None:
        return np.ones(energy.shape, dtype=bool)
    lo, hi = (10.0 ** (v - 18.0) for v in log10_range)
    return (energy >= lo) & (energy < hi)


def labels_of(showers: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    """The labels the splits keep: :data:`LABELS` and those of :data:`OPTIONAL_LABELS` the
    showers have."""
    return LABELS + tuple(label for label in OPTIONAL_LABELS if label in showers)


def split_sizes(n_events: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Number of events per split: floor for train and val, the rest for test.

    Raises ValueError when a split would hold no event (or training fewer than two).
    """
    n_train = int(np.floor(n_events * fractions["train"] + 1e-9))
    n_val = int(np.floor(n_events * fractions["val"] + 1e-9))
    sizes = {"train": n_train, "val": n_val, "test": n_events - n_train - n_val}
    if sizes["train"] < 2 or sizes["val"] < 1 or sizes["test"] < 1:
        raise ValueError(f"{n_events} events split as {sizes}: every split needs events (train at least 2)")
    return sizes


def split_indices(
    n_events: int, fractions: Mapping[str, float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Disjoint, sorted event indices of each split, drawn by a random permutation."""
    sizes = split_sizes(n_events, fractions)
    order = rng.permutation(n_events)
    bounds = np.cumsum([0, sizes["train"], sizes["val"], sizes["test"]])
    return {s: np.sort(order[bounds[i] : bounds[i + 1]]) for i, s in enumerate(SPLITS)}


def network_arrays(
    split: Mapping[str, np.ndarray],
    norm: Mapping,
    inputs: Sequence[str],
    transform: str,
    targets: Sequence[str] = ("energy",),
) -> tuple[np.ndarray, np.ndarray | dict[str, np.ndarray]]:
    """Inputs and targets of one model from a prepared split (``x`` and the targets' labels).

    Returns the channels ``inputs`` of ``x`` and the network targets of ``targets``
    (:func:`airshower.targets.encode`: one array for a single target, else a dict by target; the
    energy standardized after ``transform``): what the training job fits.
    """
    return normalization.select_channels(split["x"], norm, inputs), registry.encode(
        split, norm, list(targets), transform
    )


def prepare(
    showers: Mapping[str, np.ndarray], settings: PreparationSettings, rng: np.random.Generator
) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """Split the showers, fit the normalization on the training split, transform every split.
    The validation and test splits keep the events in ``settings.evaluated_log10_energy_ev``
    (:func:`evaluated`; the split is drawn first, so the training split does not depend on it).

    Returns
    -------
    splits
        ``{split: {"x", "index", labels...}}``: ``x`` with every channel of :data:`CHANNELS`
        (``showers`` need ``front_axis`` and ``ldf_s1000``, the reference fit of every event, and
        ``detector``),
        ``index`` the rows in the raw file; the target is built per model from ``energy``.
    normalization
        the statistics (JSON-serializable).
    """
    missing = [key for key in ("front_axis", "ldf_s1000") if key not in showers]
    if missing:
        raise ValueError(
            f"the showers lack {', '.join(missing)}, the reference fit of every event (the plane fit's "
            "axis and the LDF fit's S(1000), airshower.baseline.with_reference_fit): the residual, "
            "front and ldf channels need it"
        )
    indices = _split(showers["energy"], settings, rng)
    tr = indices["train"]
    positions = showers["detector"]
    labels = labels_of(showers)
    norm = normalization.fit_normalization(
        showers["time"][tr],
        showers["signal"][tr],
        {label: showers[label][tr] for label in labels},
        positions,
        showers["front_axis"][tr],
        showers["ldf_s1000"][tr],
    )
    if "trace" in showers:
        norm["trace"] = normalization.fit_trace_normalization(showers["trace"], showers["signal"], tr)
        norm["channels"] = [*norm["channels"], *trace_channels(norm["trace"]["n_bins"])]
    splits = {}
    for name, idx in indices.items():
        splits[name] = {"x": split_inputs(showers, idx, norm), "index": idx.astype(np.int64)}
        splits[name].update({label: showers[label][idx] for label in labels})
    return splits, norm


def _split(energy_eev: np.ndarray, settings: PreparationSettings, rng: np.random.Generator) -> dict:
    """The splits' event indices (:func:`split_indices`); the validation and test splits keep the
    events in ``settings.evaluated_log10_energy_ev`` (the training split the whole range)."""
    indices = split_indices(len(energy_eev), settings.fractions, rng)
    keep = evaluated(energy_eev, settings.evaluated_log10_energy_ev)
    for name in ("val", "test"):
        indices[name] = indices[name][keep[indices[name]]]
        if indices[name].size == 0:
            raise ValueError(
                f"no {name} event in the energy range of preparation.evaluated_log10_energy_ev "
                f"{settings.evaluated_log10_energy_ev}"
            )
    return indices


def split_inputs(showers: Mapping[str, np.ndarray], idx: np.ndarray | slice, norm: Mapping) -> np.ndarray:
    """:func:`airshower.normalization.transform_inputs` of the events ``idx`` of raw ``showers``
    (with ``front_axis``; ``working``, ``trace`` and ``ldf_s1000`` where they have them)."""
    working, trace, s1000 = showers.get("working"), showers.get("trace"), showers.get("ldf_s1000")
    return normalization.transform_inputs(
        showers["time"][idx],
        showers["signal"][idx],
        norm,
        None if working is None else working[idx],
        showers["detector"],
        showers["front_axis"][idx],
        None if trace is None else trace[idx],
        None if s1000 is None else s1000[idx],
    )


def split_units() -> dict[str, str]:
    """Unit attributes of the datasets of a prepared split file."""
    labels = shower_units()
    units = {label: labels[label] for label in LABELS + OPTIONAL_LABELS}
    units.update(
        {"x": f"1 (normalized; channels {', '.join(CHANNELS)}[, trace_00...])", "index": "row in showers.h5"}
    )
    return units


# ---------------------------------------------------------------------------------------------
# block by block: the same splits and inputs with the memory of one block of events

# bytes per event that prepare() holds in memory, by what it reads: about 8 times the raw
# float32 images (time and signal: the showers, their copies per split, x) and 2.5 times the
# recorded trace (measured on 2 cores: 548 MB at 28,000 showers of the default study, 4.7 GB at
# 30,000 showers with 80-bin traces, each with about 200 MB of interpreter and libraries)
IMAGE_COPIES = 8.0
TRACE_COPIES = 2.5


def memory_estimate_mb(n_events: int, n_stations: int, n_bins: int = 0) -> float:
    """The memory (MB) :func:`prepare` needs for ``n_events`` showers of ``n_stations`` stations
    (with traces of ``n_bins`` bins), from :data:`IMAGE_COPIES` and :data:`TRACE_COPIES`."""
    per_event = 4.0 * n_stations * (2 * IMAGE_COPIES + n_bins * TRACE_COPIES)
    return n_events * per_event / 1e6


def prepare_in_blocks(
    path,
    outputs: Mapping[str, object],
    settings: PreparationSettings,
    rng: np.random.Generator,
    reference_fit,
    attrs: Mapping | None = None,
    block_events: int = 4096,
) -> dict:
    """:func:`prepare` of the shower file ``path`` with the memory of one block of
    ``block_events`` events: the same split (the same draws), the normalization from one pass over
    the training events (the same statistics but for the order of the sums: equal to about 1e-12
    relative), then every split's inputs written block by block into ``outputs[split]`` (files
    as :func:`prepare`'s splits; written whole or not at all). ``reference_fit(time, signal,
    detector)`` gives the plane fit's axes and the LDF fit's S(1000) of a block's events
    (``airshower.baseline.reference_fit``).
    Each block is checked against the shower contract (the error names the file and the block's
    events). Returns the normalization."""
    source = showerfile.ShowerBlocks(path, block_events)
    indices = _split(source.labels["energy"], settings, rng)
    in_split = np.full(source.n, -1)
    for k, name in enumerate(SPLITS):
        in_split[indices[name]] = k
    norm, fronts, s1000 = _fit_in_blocks(source, in_split == 0, indices["train"], reference_fit)
    units = split_units()
    with contextlib.ExitStack() as stack:  # pass 2: every split's inputs, block by block
        files = {name: stack.enter_context(io.h5_writer(outputs[name], attrs)) for name in SPLITS}
        for name, fh in files.items():
            shape = (len(indices[name]), *positions_shape(source.positions), len(norm["channels"]))
            io.create_dataset(fh, "x", shape, np.float32, units["x"])
        written = dict.fromkeys(SPLITS, 0)
        for start, stop, block in source:
            block["front_axis"], block["ldf_s1000"] = fronts[start:stop], s1000[start:stop]
            for k, name in enumerate(SPLITS):
                rows = np.flatnonzero(in_split[start:stop] == k)
                if rows.size:
                    files[name]["x"][written[name] : written[name] + rows.size] = split_inputs(
                        block, rows, norm
                    )
                    written[name] += rows.size
        for name, fh in files.items():
            idx = indices[name]
            io.create_dataset(fh, "index", idx.shape, np.int64, units["index"], idx.astype(np.int64))
            for label, values in source.labels.items():
                io.create_dataset(fh, label, values[idx].shape, values.dtype, units[label], values[idx])
    return norm


def _fit_in_blocks(
    source: showerfile.ShowerBlocks, train: np.ndarray, train_index: np.ndarray, reference_fit
):
    """Pass 1 of :func:`prepare_in_blocks`: the reference fit of every event (the plane fit's
    axes, the LDF fit's S(1000)) and the normalization from the training events (``train``, bool
    per event)."""
    fronts, s1000 = np.empty((source.n, 3)), np.empty(source.n)
    moments = {name: normalization.Moments() for name in ("signal", "time", "residual", "trace", "ldf")}
    for start, stop, block in source:
        fronts[start:stop], s1000[start:stop] = reference_fit(
            block["time"], block["signal"], source.positions
        )
        rows = train[start:stop]
        moments["ldf"].add(normalization.log_s1000(s1000[start:stop][rows]))
        signal = block["signal"][rows]
        moments["signal"].add(np.log10(1.0 + signal[np.isfinite(signal)].astype(np.float64)))
        rel_t = relative_time(block["time"][rows].astype(np.float64))
        moments["time"].add(rel_t[np.isfinite(rel_t)])
        residual = front_residual_ns(block["time"][rows], source.positions, fronts[start:stop][rows])
        moments["residual"].add(residual[np.isfinite(residual)])
        if source.n_bins:
            moments["trace"].add(normalization.log_trace(block["trace"][rows][np.isfinite(signal)]))
    if moments["signal"].n < 2 or moments["time"].n < 2:
        raise ValueError("the training split has fewer than two triggered stations: cannot normalize")
    labels = {label: values[train_index] for label, values in source.labels.items()}
    signal = (moments["signal"].mean, moments["signal"].std)
    norm = normalization.normalization_record(
        signal,
        moments["time"].std,
        moments["residual"].std,
        source.positions,
        registry.fit_all(labels),
        moments["ldf"],
    )
    if source.n_bins:
        norm["trace"] = {**normalization.trace_record(moments["trace"]), "n_bins": source.n_bins}
        norm["channels"] = [*norm["channels"], *trace_channels(source.n_bins)]
    return norm, fronts, s1000


def positions_shape(positions: np.ndarray) -> tuple[int, int]:
    """(side, side) of the square array of ``positions`` (n_stations, 3)."""
    side = int(round(np.sqrt(len(positions))))
    return side, side

"""All file access of the study: HDF5 and JSON, written atomically, read with checks.

Writers put the data into a temporary file next to the target and rename it into place, so a
killed job never leaves a half-written artefact. Readers check that the file exists, opens,
holds the datasets asked for with the expected shapes, (where asked) has no NaNs, and that the
labels are physical (:func:`airshower.contract.check_labels`: energy, zenith, Xmax, axis,
wherever they are read), and raise :class:`DataError` naming the file, the dataset and the first
offending event otherwise. The shower contract itself is :mod:`airshower.contract` (its names are
available here too).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import io as _io
import json
import os
import platform
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np

# the shower contract and the label checks are pure array functions; io applies them to files
from airshower.contract import (
    MUON_DATASET,
    SHOWER_DATASETS,
    STATION_DATASET,
    WORKING_DATASET,
    DataError,
    check_labels,
    check_showers,
    shower_limits,
)
from airshower.contract import shower_units as shower_units  # io.shower_units, as before

# history.csv of every training: one row per epoch (the columns of Keras' CSVLogger)
HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "learning_rate")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # mkstemp creates 0600: give the file the usual permissions (umask)
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def package_versions(names: Iterable[str] = ("numpy", "h5py", "scipy", "keras", "tensorflow")) -> dict:
    out = {"python": platform.python_version()}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def provenance(config_section: Mapping | None = None, seed: int | None = None) -> dict:
    """File-level attributes: config section (JSON), seed, package versions, creation time."""
    attrs = {
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "package_versions": json.dumps(package_versions()),
    }
    if config_section is not None:
        attrs["config"] = json.dumps(config_section, sort_keys=True)
    if seed is not None:
        attrs["seed"] = int(seed)
    return attrs


# Chunks of a compressed dataset: up to 1024 rows and about 1 MiB (a trace row of 63 kB gets 16
# rows per chunk, so one event is read without decompressing a thousand).
CHUNK_BYTES = 1 << 20


def chunk_rows(shape: Sequence[int], dtype) -> int:
    """Rows per chunk of a dataset of ``shape``: at most 1024 and about :data:`CHUNK_BYTES`, at
    least 1."""
    row_bytes = max(int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(dtype).itemsize, 1)
    return max(1, min(int(shape[0]), 1024, CHUNK_BYTES // row_bytes))


def dataset_options(shape: Sequence[int], dtype, compression: str | None = "gzip") -> dict:
    """How a dataset of ``shape`` is stored: gzip with shuffle in chunks of :func:`chunk_rows`
    above 1024 values, contiguous below (the one choice of every file the workflow writes)."""
    if not compression or not len(shape) or int(np.prod(shape, dtype=np.int64)) <= 1024:
        return {}
    return {
        "compression": compression,
        "compression_opts": 4,
        "shuffle": True,
        "chunks": (chunk_rows(shape, dtype), *shape[1:]),
    }


@contextlib.contextmanager
def h5_writer(path: str | os.PathLike, attrs: Mapping | None = None) -> Iterator[h5py.File]:
    """An HDF5 file written atomically (it appears at ``path`` only when the block ends without
    error), with the file attributes ``attrs``: for datasets written piece by piece
    (:func:`create_dataset`)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as fh:
        for key, value in (attrs or {}).items():
            fh.attrs[key] = value
        yield fh


def create_dataset(
    fh: h5py.File,
    name: str,
    shape: Sequence[int],
    dtype,
    unit: str | None = None,
    data: np.ndarray | None = None,
    compression: str | None = "gzip",
):
    """Dataset ``name`` of ``fh`` stored as :func:`dataset_options` says, filled with ``data``
    or left to be written in pieces; ``unit`` its ``unit`` attribute."""
    kwargs = dataset_options(tuple(shape), dtype, compression)
    if data is not None:
        ds = fh.create_dataset(name, data=data, **kwargs)
    else:
        ds = fh.create_dataset(name, shape=tuple(shape), dtype=dtype, **kwargs)
    if unit is not None:
        ds.attrs["unit"] = unit
    return ds


def write_h5(
    path: str | os.PathLike,
    datasets: Mapping[str, np.ndarray],
    units: Mapping[str, str] | None = None,
    attrs: Mapping | None = None,
    compression: str | None = "gzip",
) -> None:
    """Write arrays as datasets of one HDF5 file, atomically.

    ``units`` become each dataset's ``unit`` attribute; ``attrs`` the file attributes.
    Compression is lossless and deterministic, so the same arrays give the same data.
    """
    units = dict(units or {})
    with h5_writer(path, attrs) as fh:
        for name, array in datasets.items():
            array = np.asarray(array)
            create_dataset(fh, name, array.shape, array.dtype, units.get(name), array, compression)


def remake(path: str | os.PathLike) -> str:
    """What to run for a damaged file of the workflow: Snakemake does not see the damage (the
    file exists and is newer than its inputs), so a plain rerun fails the same way."""
    return f"make it again with the rule that writes it: run the workflow with --forcerun {path}"


def open_h5(path: str | os.PathLike) -> h5py.File:
    """An HDF5 file open for reading (a context manager); DataError naming a missing or
    unreadable file and what to run."""
    return _open(Path(path))


def _open(path: Path):
    if not path.is_file():
        raise DataError(f"{path}: file does not exist")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc}); {remake(path)}") from None


def read_h5(
    path: str | os.PathLike,
    names: Iterable[str] | None = None,
    finite: Iterable[str] = (),
    n_events: int | None = None,
    ranges: bool = True,
) -> dict[str, np.ndarray]:
    """Read datasets of an HDF5 file into memory.

    Parameters
    ----------
    names
        datasets to read (all if None); a missing one raises :class:`DataError`.
    finite
        datasets that must not contain NaN or infinity.
    n_events
        if given, every per-event dataset read must have this leading length.
    ranges
        check the labels read against their physical ranges (:func:`check_labels`, energies
        within the schema's limits: the file does not say what was simulated).
    """
    path = Path(path)
    with _open(path) as fh:
        wanted = list(fh.keys()) if names is None else list(names)
        out = {}
        for name in wanted:
            if name not in fh:
                raise DataError(f"{path}: dataset '{name}' is missing (has: {', '.join(sorted(fh.keys()))})")
            try:
                out[name] = fh[name][()]
            except (OSError, KeyError) as exc:
                raise DataError(f"{path}: dataset '{name}' cannot be read ({exc})") from None
    for name in finite:
        if name in out and not np.all(np.isfinite(out[name])):
            bad = int(np.size(out[name]) - np.count_nonzero(np.isfinite(out[name])))
            raise DataError(f"{path}: dataset '{name}' has {bad} NaN or infinite values")
    if n_events is not None:
        for name, array in out.items():
            if name != STATION_DATASET and np.ndim(array) and len(array) != n_events:
                raise DataError(f"{path}: dataset '{name}' has {len(array)} entries, expected {n_events}")
    if ranges:
        check_labels(out, path)
    return out


def read_attrs(path: str | os.PathLike) -> dict:
    with _open(Path(path)) as fh:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in fh.attrs.items()}


def has_dataset(path: str | os.PathLike, name: str) -> bool:
    with _open(Path(path)) as fh:
        return name in fh


def read_showers(
    path: str | os.PathLike, names: Iterable[str] | None = None, traces: bool = False
) -> dict[str, np.ndarray]:
    """Read a raw-shower file and check it against the data contract, the energies against the
    simulated range of its provenance (:func:`shower_limits`); with the file's ``working``
    stations (a file without them has every station working) and its muon target's label
    ``muon`` where it has them, and with ``traces`` its recorded ``trace`` where it has one."""
    wanted = list(SHOWER_DATASETS) + [STATION_DATASET]
    optional = [WORKING_DATASET, MUON_DATASET] + (["trace"] if traces else [])
    with _open(Path(path)) as fh:
        wanted += [name for name in optional if name in fh]
    data = read_h5(path, wanted, ranges=False)
    check_showers(data, path, shower_limits(read_attrs(path)))
    if names is not None:
        data = {k: data[k] for k in names}
    return data


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj)}")


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON, atomically. NaN is written as null."""

    def clean(o):
        if isinstance(o, float | np.floating) and not np.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        return o

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(clean(obj), indent=2, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file does not exist")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); {remake(path)}") from None


def read_record(path: str | os.PathLike, keys: Iterable[str], what: str) -> dict:
    """A JSON record that must have ``keys`` (``what`` names the kind in the error)."""
    record = read_json(path)
    missing = [k for k in keys if k not in record]
    if missing:
        raise DataError(f"{path}: no {', '.join(missing)}: not {what}")
    return record


def read_table_models(path: str | os.PathLike, models: Iterable[str]) -> dict:
    """The per-model seed aggregates (``models``) of a target's ``summary.json``, with an entry
    for every one of ``models``."""
    summary = read_record(path, ["models"], "a target's summary")["models"]
    missing = [m for m in models if m not in summary]
    if missing:
        raise DataError(f"{path}: no entry for model(s) {', '.join(missing)}")
    return summary


def read_convergence(path: str | os.PathLike) -> dict:
    """The convergence verdicts of every network (``results/convergence.json``: network ->
    ``[{"seed", "converged", "label", "detail", ...}]``)."""
    return read_record(path, ["convergence"], "a convergence record")["convergence"]


def read_calibration_exponent(path: str | os.PathLike) -> float:
    """The exponent ``B`` of the baseline's energy calibration ``E = A S^B`` (``calibration.json``)."""
    calibration = read_json(path)
    if not isinstance(calibration.get("B"), int | float):
        raise DataError(f"{path}: no calibration exponent 'B'")
    return float(calibration["B"])


def _checked_shards(paths: Sequence[Path]) -> Iterator[tuple[Path, dict[str, np.ndarray], dict[str, str]]]:
    """Each shard's datasets and units in turn, checked against the shower contract, its station
    table equal to the first shard's and its per-event datasets those of the first shard; one
    shard in memory at a time."""
    detector, names = None, None
    for path in paths:
        data = read_h5(path, ranges=False)
        n = check_showers(data, path, shower_limits(read_attrs(path)))
        if detector is None:
            detector = data[STATION_DATASET]
        elif not np.array_equal(detector, data[STATION_DATASET]):
            raise DataError(f"{path}: dataset '{STATION_DATASET}' differs from the first shard's")
        with h5py.File(path, "r") as fh:
            units = {k: fh[k].attrs["unit"] for k in fh if "unit" in fh[k].attrs}
        for name, array in data.items():
            if name != STATION_DATASET and (np.ndim(array) == 0 or len(array) != n):
                raise DataError(f"{path}: dataset '{name}' is not per event (length {np.shape(array)})")
        if names is None:
            names = set(data)
        elif set(data) - names:
            raise DataError(f"{path}: dataset '{sorted(set(data) - names)[0]}' is not in the earlier shards")
        elif names - set(data):
            raise DataError(f"{path}: dataset(s) {', '.join(sorted(names - set(data)))} missing")
        yield path, data, units


def merge_showers(paths: Iterable[str | os.PathLike]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Concatenate shower shards in the given order in memory; return (datasets, units).

    Every per-event dataset (leading length = number of events of the shard, including optional
    extras such as traces) is concatenated; the station table ``detector`` must be identical in
    every shard and is kept once. Each shard is checked against the shower contract first.
    :func:`merge_shower_files` writes the same datasets holding one shard in memory at a time.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("no shower shards to merge")
    parts: dict[str, list[np.ndarray]] = {}
    units: dict[str, str] = {}
    for _path, data, shard_units in _checked_shards(paths):
        units.update(shard_units)
        for name, array in data.items():
            if name != STATION_DATASET:
                parts.setdefault(name, []).append(array)
        detector = data[STATION_DATASET]
    merged = {name: np.concatenate(arrays) for name, arrays in parts.items()}
    merged[STATION_DATASET] = detector
    return merged, units


def merge_shower_files(
    paths: Iterable[str | os.PathLike], out: str | os.PathLike, attrs: Mapping | None = None
) -> int:
    """Merge shower shards into the file ``out`` (atomically), shard by shard: the datasets of
    :func:`merge_showers`, written as :func:`write_h5` writes them (same chunks and compression),
    with the memory of one shard (a study with traces holds 63 kB per event in each trace
    dataset). Returns the number of events."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("no shower shards to merge")
    lengths = []
    for path in paths:
        with _open(path) as fh:
            if "energy" not in fh:
                raise DataError(f"{path}: dataset(s) energy missing")
            lengths.append(len(fh["energy"]))
    total = sum(lengths)
    with h5_writer(out, attrs) as fh:
        start = 0
        for (_path, data, units), n in zip(_checked_shards(paths), lengths, strict=True):
            for name, array in data.items():
                if name == STATION_DATASET:
                    if name not in fh:
                        create_dataset(fh, name, array.shape, array.dtype, units.get(name), array)
                    continue
                if name not in fh:
                    create_dataset(fh, name, (total, *array.shape[1:]), array.dtype, units.get(name))
                fh[name][start : start + n] = array
            start += n
    return total


# ---------------------------------------------------------------------------------------------
# the per-run file every training writes: history.csv (predictions.h5: airshower.predictionfile)


def write_history(path: str | os.PathLike, history: Iterable[Mapping]) -> None:
    """The history rows (one per epoch, keys :data:`HISTORY_COLUMNS`) as CSV, atomically."""
    lines = [",".join(HISTORY_COLUMNS)]
    lines += [
        ",".join(str(int(r[c])) if c == "epoch" else str(np.float32(r[c])) for c in HISTORY_COLUMNS)
        for r in history
    ]
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")


def parse_history(text: str, source: str = "history.csv") -> dict[str, np.ndarray]:
    """Columns of a history file as float arrays (every column of :data:`HISTORY_COLUMNS`
    required, Keras' older ``lr`` accepted for ``learning_rate``, metric columns kept). Raises
    ValueError naming ``source`` and the column when the file does not fit."""
    rows = list(csv.reader(_io.StringIO(text)))
    if not rows:
        raise ValueError(f"{source}: empty history")
    header = ["learning_rate" if h.strip() == "lr" else h.strip() for h in rows[0]]
    missing = [c for c in HISTORY_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{source}: column(s) {', '.join(missing)} missing (has: {', '.join(header)})")
    body = [r for r in rows[1:] if r]
    if not body:
        raise ValueError(f"{source}: no epochs logged")
    out = {}
    for j, name in enumerate(header):
        try:
            out[name] = np.array([float(r[j]) if r[j].strip() else np.nan for r in body], dtype=np.float64)
        except (ValueError, IndexError):
            raise ValueError(f"{source}: column '{name}' has a non-numeric or missing entry") from None
    return out


def read_history(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """:func:`parse_history` of the file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: history file does not exist")
    return parse_history(path.read_text(), str(path))

"""What the metrics of the reconstructed targets share: the one spec each target's module declares
(:class:`TargetEvaluation`: its metrics, headline numbers, table note, systematic shifts),
reading and checking the per-event arrays of a predictions dict, a quantity's
``{"value", "lo", "hi"}`` entry with its percentile-bootstrap interval, bins of true energy (or
of any other truth, such as the zenith angle) and the record layout.

Every entry is a point estimate on the sample and the central 68.27 % interval of the same
statistic over ``bootstrap`` resamples of the events with replacement
(:func:`airshower.statistics.bootstrap_replicas`, :func:`~airshower.statistics.bootstrap_interval`);
all quantities of one sample share the resamples. An empty sample, or a quantity undefined on
the sample (a spread of one event), gives ``None``; an interval is ``None`` where a resample
leaves the quantity undefined.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from airshower import contract, statistics

NONE_ENTRY = {"value": None, "lo": None, "hi": None}
Quantities = Mapping[str, Callable[..., float]]  # name -> statistic of the per-event columns
Sample = Mapping[str, np.ndarray]  # per-event columns of a predictions.h5 (a shift's sample)
PAIR = "{pair}"  # stands for the record's headline pair of mass classes in a headline's path


@dataclass(frozen=True)
class Headline:
    """One headline number of a target's table: the CSV column, where it is in the aggregated
    record (:data:`PAIR` replaced by the headline pair), its Markdown header (with the unit), a
    scale (100 for per cent), whether the path leads to a binned entry (one column per energy bin)
    and the Markdown table it goes to (``group``: a title of :attr:`TargetEvaluation.groups`;
    empty: the main table)."""

    column: str
    path: tuple[str, ...]
    header: str
    scale: float = 1.0
    per_bin: bool = False
    group: str = ""


@dataclass(frozen=True)
class Shift:
    """One shifted headline metric of a target under a systematic variant: its statistic of a
    sample of the target's shift columns, difference or relative change, and how tables and
    figures show it (``scale`` to the ``unit`` of ``column``)."""

    name: str  # key in the records
    column: str  # CSV column, with its unit
    header: str  # Markdown header
    label: str  # figure axis label
    statistic: Callable[[Sample], float]
    relative: bool = False
    scale: float = 1.0
    value_label: str = ""  # figure axis label of the statistic itself (x ``scale``), not its shift


@dataclass(frozen=True)
class TargetEvaluation:
    """Everything the evaluation knows of one reconstructed target, declared once in its module
    (:mod:`.energy`, :mod:`.direction`, ...) and registered in :data:`airshower.evaluation.SPECS`.

    ``metrics(pred, settings, target_settings, rng, *, substream, classes)`` is the metrics record
    of one run (``substream(i)``: a further independent bootstrap stream of the target's);
    ``stream`` the target's bootstrap sub-stream after (study seed, "bootstrap", crc32(model),
    seed); ``headlines`` the columns of its table and ``front`` the one on the study's front page;
    ``note`` the definitions under its Markdown table and ``groups`` the further Markdown tables
    (title -> note); ``shifts`` its systematic shifts, each a statistic of the per-event columns
    ``shift_columns(pred, classes)``.
    """

    metrics: Callable[..., dict]
    stream: tuple[int, ...]
    headlines: tuple[Headline, ...]
    front: str
    note: str
    shifts: tuple[Shift, ...]
    shift_columns: Callable[..., dict]
    groups: Mapping[str, str] = field(default_factory=dict)


def finite(x) -> float | None:
    """``x`` as a float, None where it is NaN or infinite (JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def require(pred: Mapping[str, np.ndarray], names: Sequence[str], target: str) -> dict[str, np.ndarray]:
    """The datasets ``names`` of a predictions dict as float64 arrays, after checking that each is
    present, has one row per event (the length of the first) and is finite.

    Raises ValueError naming the dataset and the first bad event (the rule script adds the file).
    """
    missing = [n for n in names if n not in pred]
    if missing:
        raise ValueError(
            f"the {target} metrics need dataset(s) {', '.join(missing)}, the predictions have "
            f"{', '.join(sorted(pred))}"
        )
    out = {n: np.asarray(pred[n], dtype=np.float64) for n in names}
    n_events = len(out[names[0]])
    for name, values in out.items():
        if len(values) != n_events:
            raise ValueError(f"'{name}' has {len(values)} events, '{names[0]}' {n_events}")
        rows = values.reshape(n_events, -1)
        failed = contract.failures(np.isfinite(rows).all(axis=1), lambda i, v=rows: f"{v[i].tolist()}")
        if failed:
            raise ValueError(f"'{name}' must be finite: {failed}")
    energy = out.get("energy_true")
    if energy is not None:
        failed = contract.failures(energy > 0, lambda i: f"{energy[i]:.6g} EeV")
        if failed:
            raise ValueError(f"'energy_true' must be positive: {failed}")
    return out


def entries(
    columns: tuple[np.ndarray, ...], quantities: Quantities, n_bootstrap: int, rng: np.random.Generator
) -> dict:
    """``{"n": events, q: {"value", "lo", "hi"}}`` of every quantity on one sample of events.

    ``columns`` are per-event arrays (first axis: events); each quantity's statistic takes them
    as positional arguments. The quantities share the ``n_bootstrap`` resamples of ``rng``; an
    empty sample draws nothing.
    """
    n = len(columns[0])
    out: dict = {"n": int(n)}
    if n == 0:
        return out | {q: dict(NONE_ENTRY) for q in quantities}

    def statistic(*cols):
        return [f(*cols) for f in quantities.values()]

    values = statistic(*columns)
    replicas = statistics.bootstrap_replicas(statistic, columns, n_bootstrap, rng).reshape(n_bootstrap, -1)
    for k, (q, value) in enumerate(zip(quantities, values, strict=True)):
        value = finite(value)
        lo, hi = statistics.bootstrap_interval(replicas[:, k]) if value is not None else (None, None)
        out[q] = {"value": value, "lo": lo, "hi": hi}
    return out


def binning(values: np.ndarray, edges: Sequence[float], spacing: str, unit: str) -> tuple[np.ndarray, dict]:
    """Bin index of each value (:func:`airshower.statistics.bin_index`) and the header of the
    binned block: ``{"edges_<unit>", "center_<unit>", "spacing", "n", "n_outside"}``."""
    edges = np.asarray(edges, dtype=np.float64)
    idx = statistics.bin_index(values, edges)
    n_bins = len(edges) - 1
    return idx, {
        f"edges_{unit}": edges.tolist(),
        f"center_{unit}": statistics.bin_centers(edges, spacing).tolist(),
        "spacing": spacing,
        "n": [int(np.count_nonzero(idx == k)) for k in range(n_bins)],
        "n_outside": int(np.count_nonzero(idx < 0)),
    }


def energy_binning(energy_true: np.ndarray, settings) -> tuple[np.ndarray, dict]:
    """:func:`binning` in the bins of true energy of ``settings.energy_bins_eev`` (EeV)."""
    bins = settings.energy_bins_eev
    return binning(energy_true, bins.edges(), bins.spacing, "eev")


def binned_entries(
    index: np.ndarray,
    header: Mapping,
    columns: tuple[np.ndarray, ...],
    quantities: Quantities,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> dict:
    """The binned block: ``header`` plus ``q: {"value": [...], "lo": [...], "hi": [...]}`` per
    quantity, one :func:`entries` per bin in order (None in an empty bin)."""
    cells = [
        entries(tuple(c[index == k] for c in columns), quantities, n_bootstrap, rng)
        for k in range(len(header["n"]))
    ]
    return {**header, **by_quantity(cells, quantities)}


def by_quantity(cells: Sequence[Mapping], quantities) -> dict:
    """Per-bin entries (``cell[q] = {"value", "lo", "hi"}``) as one list per key and quantity:
    ``q: {"value": [...], "lo": [...], "hi": [...]}``, in bin order."""
    return {q: {key: [cell[q][key] for cell in cells] for key in ("value", "lo", "hi")} for q in quantities}


def record(target: str, definitions: Mapping[str, str], n_events: int, settings, **parts) -> dict:
    """The JSON-ready metrics record of one target: ``{"target", "n_events", "n_bootstrap",
    "interval", "definitions", **parts}``."""
    return {
        "target": target,
        "n_events": int(n_events),
        "n_bootstrap": settings.bootstrap,
        "interval": statistics.INTERVAL,
        "definitions": dict(definitions),
        **parts,
    }

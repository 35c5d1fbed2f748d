"""The data contract of the raw showers and the physical ranges of the labels: pure checks on
arrays, no file access (:mod:`airshower.io` applies them to every file it reads).

- :data:`SHOWER_DATASETS`: dtype, per-event shape and unit of every dataset of ``showers.h5``;
- :func:`check_showers`: shapes and dtypes, labels finite and physical, ``time`` and ``signal``
  NaN together where a station is silent and finite elsewhere, the signal in [0, ceiling]; the
  optional ``working`` (:data:`WORKING_DATASET`, the array's working stations per event) 0 or 1,
  and a dead station (0) silent;
- :func:`check_labels`: ``energy`` (and ``energy_true``) positive and inside the simulated
  range, ``zenith`` in [0, 90) deg, ``xmax`` and ``muon`` positive, ``axis`` of unit length,
  in any file; the optional traces float32 (N, side, side, n_bins) and finite;
- :func:`shower_limits`: the simulated energy range and the signal ceiling, from a file's
  provenance (the ``simulation`` section it was made with) or else the schema.

Every error is a :class:`DataError` naming the file, the dataset and the first offending event.
The checks are vectorized: a few passes over each array.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping

import numpy as np

from airshower import geometry, schema

# The raw-shower data contract: dataset -> (dtype, per-event shape or None for fixed, unit).
SHOWER_DATASETS: dict[str, tuple[str, tuple[int, ...] | None, str]] = {
    "time": ("float32", ("side", "side"), "us"),
    "signal": ("float32", ("side", "side"), "VEM"),
    "energy": ("float32", (), "EeV"),
    "zenith": ("float32", (), "rad"),
    "azimuth": ("float32", (), "rad"),
    "axis": ("float32", (3,), "1"),
    "core": ("float32", (2,), "m"),
    "xmax": ("float32", (), "g/cm^2"),
    "mass": ("int16", (), "1"),
}
STATION_DATASET = "detector"  # (n_stations, 3) station positions in m, not per event
# Optional: the working stations of each event (1 working, 0 dead; a dead station records nothing,
# so its time and signal are NaN as a silent one's). A file without it has every station working.
WORKING_DATASET = "working"
WORKING = ("uint8", ("side", "side"), "1 (1: working, 0: dead)")
# Optional: the muon target's label, R_mu (airshower.simulation.shower.relative_muon_content); a
# file without it has no muon target. And the traces of ``simulation.store_traces`` (N, side, side,
# n_bins): ``trace`` what the station records (pedestal subtracted, 0 where silent), ``trace_muon``
# and ``trace_em`` the particles per bin before detector noise (the truth).
MUON_DATASET = "muon"
# the per-event labels of every shower file (the datasets of SHOWER_DATASETS but the station
# images) and those a file may have (the muon target's): what the splits and predictions keep
LABEL_DATASETS = tuple(name for name, (_, shape, _) in SHOWER_DATASETS.items() if shape != ("side", "side"))
OPTIONAL_LABEL_DATASETS = (MUON_DATASET,)
MUON_UNIT = "1 (muon signal at 1000 m relative to a proton shower's of the same energy before attenuation)"
TRACE_DATASETS = ("trace", "trace_muon", "trace_em")
# Tolerances: energies at the edges of the simulated range and the norm of the axis are float32
# roundings (relative 6e-8 and 2e-7); the margins are 100 times that.
ENERGY_RTOL = 1e-5
AXIS_NORM_TOL = 1e-5
# The signal ceiling, in units of station.saturation_vem + trigger.threshold_vem: the expected
# signal is capped at the saturation, and particle-number fluctuations and noise (of the scale of
# the trigger threshold) stay far below ten times the sum.
SIGNAL_CEILING = 10


class DataError(RuntimeError):
    """An input file is missing, unreadable or breaks its data contract."""


@dataclasses.dataclass(frozen=True)
class ShowerLimits:
    """What the physics of a shower file allows: the simulated energy range (EeV), the largest
    possible station signal (VEM) and where the range comes from (for the messages)."""

    energy_eev: tuple[float, float]
    signal_max_vem: float
    source: str


def shower_limits(attrs: Mapping | None = None) -> ShowerLimits:
    """The limits of a shower file from its provenance (the ``config`` attribute: the
    ``simulation`` section it was simulated with); the schema's bounds of
    ``simulation.log10_energy_ev`` and its defaults for what the file does not say."""
    props = schema.section_schema("simulation")["properties"]
    sim = json.loads(attrs["config"]) if attrs and "config" in attrs else {}
    items = props["log10_energy_ev"]["items"]
    lo, hi = sim.get("log10_energy_ev", (items["minimum"], items["maximum"]))

    def value(section: str, key: str) -> float:
        return sim.get(section, {}).get(key, props[section]["properties"][key]["default"])

    where = "the file's provenance" if "log10_energy_ev" in sim else "the schema's limits (no provenance)"
    return ShowerLimits(
        (10.0 ** (lo - 18), 10.0 ** (hi - 18)),
        SIGNAL_CEILING * (value("station", "saturation_vem") + value("trigger", "threshold_vem")),
        f"simulation.log10_energy_ev = [{lo:g}, {hi:g}] from {where}",
    )


def failures(ok: np.ndarray, shown: Callable[[int], str]) -> str | None:
    """None where every event is ``ok``; else the words every check of the study uses:
    ``N of M events fail this, the first is event i (shown(i))``."""
    if ok.all():
        return None
    bad = np.flatnonzero(~ok)
    return f"{bad.size} of {ok.size} events fail this, the first is event {bad[0]} ({shown(bad[0])})"


def _require(path, name: str, ok: np.ndarray, requirement: str, shown: Callable[[int], str]) -> None:
    """Raise naming the first event where the per-event ``ok`` is False, shown by ``shown``."""
    failed = failures(ok, shown)
    if failed:
        raise DataError(f"{path}: dataset '{name}' {requirement}: {failed}")


def _label_rules(limits: ShowerLimits) -> dict[str, tuple[str, Callable, Callable, Callable]]:
    """label -> (requirement, per-event value, test of the values, the value in words)."""
    lo, hi = limits.energy_eev
    energy = (
        f"must be inside the simulated range [{lo:.4g}, {hi:.4g}] EeV ({limits.source})",
        lambda a: a,
        lambda e: (e >= lo * (1 - ENERGY_RTOL)) & (e <= hi * (1 + ENERGY_RTOL)),
        lambda e: f"{e:.6g} EeV",
    )
    return {
        "energy": energy,
        "energy_true": energy,
        "zenith": (
            "must be in [0, 90) deg",
            lambda a: a,
            lambda z: (z >= 0) & (z < np.pi / 2),
            lambda z: f"{z:.6g} rad = {np.degrees(z):.4g} deg",
        ),
        "xmax": (
            "must be positive",
            lambda a: a,
            lambda x: (x > 0) & (x < np.inf),
            lambda x: f"{x:.6g} g/cm^2",
        ),
        "muon": (
            "must be positive and finite",
            lambda a: a,
            lambda x: (x > 0) & (x < np.inf),
            lambda x: f"{x:.6g}",
        ),
        "axis": (
            f"must be unit vectors (|axis| = 1 within {AXIS_NORM_TOL:g})",
            lambda a: np.linalg.norm(a.reshape(len(a), -1), axis=1),
            lambda norm: np.abs(norm - 1) <= AXIS_NORM_TOL,
            lambda norm: f"|axis| = {norm:.6g}",
        ),
    }


def check_labels(data: Mapping[str, np.ndarray], path, limits: ShowerLimits | None = None) -> None:
    """The physical ranges of the labels present in ``data`` (showers, prepared splits,
    predictions): energies inside ``limits`` (:func:`shower_limits`; the schema's limits if
    None), zenith in [0, 90) deg, Xmax positive, a unit axis. NaN fails every check.

    Raises :class:`DataError` naming ``path``, the dataset and the first offending event.
    """
    for name, (requirement, per_event, test, words) in _label_rules(limits or shower_limits()).items():
        if name in data:
            values = per_event(np.asarray(data[name], dtype=np.float64))
            _require(path, name, test(values), requirement, lambda i, v=values, w=words: w(v[i]))


def _station_requirements(time_us: np.ndarray, signal: np.ndarray, limits: ShowerLimits) -> dict:
    """dataset -> (requirement, True where a station breaks it, unit); the quick whole-array
    tests first (NaN-ignoring minimum and maximum), the per-station masks only on failure."""
    silent = np.isnan(signal)
    out = {}
    if np.isinf(time_us).any():  # NaN only where silent: that was checked
        out["time"] = ("must be finite where a station triggered (NaN: silent)", np.isinf(time_us), "us")
    ceiling = limits.signal_max_vem
    if signal.size and not (
        np.fmin.reduce(signal, axis=None) >= 0 and np.fmax.reduce(signal, axis=None) <= ceiling
    ):
        requirement = (
            f"must be finite, >= 0 and <= {ceiling:.4g} VEM where a station triggered "
            f"({SIGNAL_CEILING} x (station.saturation_vem + trigger.threshold_vem))"
        )
        out["signal"] = (requirement, ~silent & ~((signal >= 0) & (signal <= ceiling)), "VEM")
    return out


def _check_stations(data: Mapping[str, np.ndarray], path, limits: ShowerLimits) -> None:
    """NaN marks a silent station in ``time`` and ``signal`` alike; a triggered one has a finite
    time and a signal in [0, ``limits.signal_max_vem``] (infinity is not silence)."""
    time_us, signal = np.asarray(data["time"]), np.asarray(data["signal"])
    if not np.array_equal(np.isnan(signal), np.isnan(time_us)):
        raise DataError(f"{path}: datasets 'time' and 'signal' disagree on which stations triggered (NaN)")
    n = len(signal)
    for name, (requirement, bad, unit) in _station_requirements(time_us, signal, limits).items():
        bad = bad.reshape(n, -1)
        values = np.asarray(data[name]).reshape(n, -1)

        def shown(i, bad=bad, values=values, unit=unit):
            station = int(np.argmax(bad[i]))
            return f"{values[i, station]:.6g} {unit} at station {station}"

        _require(path, name, ~bad.any(axis=1), requirement, shown)


def check_showers(
    data: Mapping[str, np.ndarray], path: str | os.PathLike, limits: ShowerLimits | None = None
) -> int:
    """Check arrays against the raw-shower contract; return the number of events.

    Shapes and dtypes of :data:`SHOWER_DATASETS`; every label finite and physical
    (:func:`check_labels`, energies inside ``limits``: :func:`shower_limits` of the file's
    provenance; the schema's limits if None); ``time`` and ``signal`` NaN together (silent
    stations), elsewhere finite, the signal in [0, ``limits.signal_max_vem``].
    """
    missing = [k for k in SHOWER_DATASETS if k not in data]
    if missing:
        raise DataError(f"{path}: dataset(s) {', '.join(missing)} missing")
    n = len(data["energy"])
    side = data["signal"].shape[1] if np.ndim(data["signal"]) == 3 else None
    for name, (dtype, shape, _unit) in SHOWER_DATASETS.items():
        array = np.asarray(data[name])
        expected = tuple(side if s == "side" else s for s in shape)
        if array.shape != (n, *expected):
            raise DataError(f"{path}: dataset '{name}' has shape {array.shape}, expected {(n, *expected)}")
        if array.dtype != np.dtype(dtype):
            raise DataError(f"{path}: dataset '{name}' has dtype {array.dtype}, expected {dtype}")
        if name not in ("time", "signal") and not np.all(np.isfinite(array)):
            raise DataError(f"{path}: dataset '{name}' has NaN or infinite values")
    limits = limits or shower_limits()
    _check_stations(data, path, limits)
    if WORKING_DATASET in data:
        _check_working(data, path, side)
    for name in TRACE_DATASETS:
        if name in data:
            _check_trace(data[name], name, path, (n, side, side))
    check_labels(data, path, limits)
    return n


def _check_working(data: Mapping[str, np.ndarray], path, side: int | None) -> None:
    """``working``: uint8 (N, side, side) of 0 and 1; a dead station (0) is silent (NaN)."""
    working = np.asarray(data[WORKING_DATASET])
    n = len(data["energy"])
    if working.shape != (n, side, side):
        raise DataError(
            f"{path}: dataset '{WORKING_DATASET}' has shape {working.shape}, expected {(n, side, side)}"
        )
    if working.dtype != np.dtype(WORKING[0]):
        raise DataError(
            f"{path}: dataset '{WORKING_DATASET}' has dtype {working.dtype}, expected {WORKING[0]}"
        )
    flat = working.reshape(n, -1)
    _require(
        path,
        WORKING_DATASET,
        np.all(flat <= 1, axis=1),
        "must be 0 (dead) or 1 (working)",
        lambda i: f"{int(flat[i].max())} at station {int(np.argmax(flat[i]))}",
    )
    recorded = np.isfinite(np.asarray(data["signal"])).reshape(n, -1) & (flat == 0)
    _require(
        path,
        WORKING_DATASET,
        ~recorded.any(axis=1),
        "marks a station dead (0) that has a time and a signal: a dead station records nothing (NaN)",
        lambda i: f"station {int(np.argmax(recorded[i]))}",
    )


def _check_trace(trace: np.ndarray, name: str, path, events_shape: tuple) -> None:
    """A trace dataset: float32 (N, side, side, n_bins), finite."""
    trace = np.asarray(trace)
    if trace.ndim != 4 or trace.shape[:3] != events_shape:
        raise DataError(
            f"{path}: dataset '{name}' has shape {trace.shape}, expected {(*events_shape, 'n_bins')}"
        )
    if trace.dtype != np.float32:
        raise DataError(f"{path}: dataset '{name}' has dtype {trace.dtype}, expected float32")
    finite = np.isfinite(trace).reshape(len(trace), -1).all(axis=1)
    _require(path, name, finite, "must be finite", lambda _i: "a NaN or infinite bin")


def check_array(detector_m: np.ndarray, array: Mapping | None, source: str = "showers.h5") -> None:
    """Check the ``detector`` positions against the configured array (``simulation.array``).

    Raises ValueError naming the mismatch (station table's shape, station count or grid spacing).
    """
    detector_m = np.asarray(detector_m, dtype=np.float64)
    if detector_m.ndim != 2 or detector_m.shape[1] != 3 or not np.all(np.isfinite(detector_m)):
        raise ValueError(
            f"{source}: dataset 'detector' must hold finite (x, y, z) positions in m, one row per "
            f"station: shape {detector_m.shape}"
        )
    if not array:
        return
    n_side = array.get("n_side")
    if n_side is not None and len(detector_m) != n_side * n_side:
        raise ValueError(
            f"{source}: dataset 'detector' has {len(detector_m)} stations, config simulation.array.n_side "
            f"= {n_side} needs {n_side * n_side}"
        )
    spacing = array.get("spacing_m")
    if spacing is not None and len(detector_m) > 1:
        nearest = geometry.station_spacing(detector_m)
        if not np.isclose(nearest, spacing, rtol=0.01):
            raise ValueError(
                f"{source}: dataset 'detector' has station spacing {nearest:.1f} m, config "
                f"simulation.array.spacing_m is {spacing} m"
            )


def check_units(units: Mapping[str, str | None], path: str | os.PathLike) -> None:
    """The ``unit`` attribute of every dataset of :data:`SHOWER_DATASETS` and of the station table
    (``units``: dataset -> attribute, None where it has none) against the contract's: a file
    written by another converter must say its units, and say the contract's (``time`` in us, not
    ns). Raises DataError naming the dataset."""
    for name, expected in shower_units().items():
        if name not in SHOWER_DATASETS and name != STATION_DATASET:
            continue
        unit = units.get(name)
        if unit is None:
            raise DataError(f"{path}: dataset '{name}' has no 'unit' attribute (the contract: '{expected}')")
        if str(unit) != expected:
            raise DataError(f"{path}: dataset '{name}' is in '{unit}', the contract wants '{expected}'")


def shower_units(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The unit of every dataset of the shower contract (and the station table), plus ``extra``."""
    units = {name: unit for name, (_d, _s, unit) in SHOWER_DATASETS.items()}
    units[STATION_DATASET] = "m"
    units[WORKING_DATASET] = WORKING[2]
    units[MUON_DATASET] = MUON_UNIT
    units.update(dict.fromkeys(TRACE_DATASETS, "VEM"))
    units.update(extra or {})
    return units

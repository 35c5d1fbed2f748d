"""The network's input channels, declared once: their names, order and kinds.

The prepared ``x`` (:mod:`airshower.normalization`, which computes and normalizes each channel)
holds every channel of :data:`CHANNELS` in this order; a model reads the ones its
``training.inputs`` names. What a channel is matters to the code that edits prepared inputs
(:mod:`airshower.augmentation`) and to the heads that read them (:mod:`airshower.models`):

- :data:`TRIGGERED_CHANNELS` have a value at triggered stations only (0 where a station is
  silent or dead): ``time``, ``signal``, ``mask``, ``residual``;
- ``working``: 1 where the station works, 0 where it is dead (the array's own list);
- :data:`GEOMETRY_CHANNELS`: the station coordinates, the same for every event;
- :data:`FRONT_CHANNELS`: the plane fit's axis of the event, constant over the array (an
  event-level input as constant planes, so every family takes it through its one input);
- :data:`LDF_CHANNELS`: the LDF fit's S(1000) of the event along that axis, constant over the
  array likewise (:func:`ldf_plane`);
- the recorded trace (``simulation.store_traces``): one channel per time bin, ``trace_00``,
  ``trace_01``, ... (:func:`trace_channels`), after the others, 0 where a station is silent or
  dead; a model names them all as the one input :data:`TRACE` (:func:`expand`), and a family with
  a ``trace_encoder`` reads them per station (:func:`split_trace`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from airshower import geometry
from airshower.schema import ConfigError

CHANNELS = (
    "time",
    "signal",
    "mask",
    "working",
    "residual",
    "station_x",
    "station_y",
    "front_ux",
    "front_uy",
    "front_uz",
    "ldf_s1000",
)
TRIGGERED_CHANNELS = ("time", "signal", "mask", "residual")
GEOMETRY_CHANNELS = ("station_x", "station_y")
FRONT_CHANNELS = ("front_ux", "front_uy", "front_uz")
LDF_CHANNELS = ("ldf_s1000",)
# the channels of prepared files written before the others existed
FIRST_CHANNELS = CHANNELS[:3]
# a model's input (training.inputs) standing for every bin of the recorded trace
TRACE = "trace"
TRACE_PREFIX = "trace_"
VERTICAL = np.array([0.0, 0.0, 1.0])  # the front channels' axis where the plane fit failed


def trace_channels(n_bins: int) -> tuple[str, ...]:
    """The channel names of the recorded trace's ``n_bins`` bins: ``trace_00``, ``trace_01``, ..."""
    return tuple(f"{TRACE_PREFIX}{b:02d}" for b in range(int(n_bins)))


def is_trace(name: str) -> bool:
    """Whether channel ``name`` is a bin of the recorded trace."""
    return name.startswith(TRACE_PREFIX)


def triggered_only(name: str) -> bool:
    """Whether channel ``name`` has a value at triggered stations only (0 where silent or dead)."""
    return name in TRIGGERED_CHANNELS or is_trace(name)


def expand(inputs: Sequence[str], available: Sequence[str]) -> list[str]:
    """A model's ``inputs`` as channel names: :data:`TRACE` replaced by the trace channels of
    ``available`` (the prepared data's channels, in order); ValueError where it has none."""
    out = []
    for name in inputs:
        if name != TRACE:
            out.append(name)
            continue
        bins = [c for c in available if is_trace(c)]
        if not bins:
            raise ValueError(
                "input 'trace' is not in the prepared data (it has no trace channels): simulate "
                "with simulation.store_traces: true and prepare the data again"
            )
        out.extend(bins)
    return out


def split_trace(inputs: Sequence[str], n_channels: int) -> tuple[list[int], list[int]]:
    """Indices of the non-trace and of the trace channels of a model's input tensor with
    ``n_channels`` channels, built from its ``inputs`` (:data:`TRACE` standing for the bins, as
    many as the channels the other names leave)."""
    inputs = list(inputs)
    if TRACE not in inputs:
        return list(range(n_channels)), []
    n_bins = n_channels - (len(inputs) - 1)
    if n_bins < 1:
        raise ValueError(f"inputs {inputs} need more than the {n_channels} channels of the tensor")
    start = inputs.index(TRACE)
    trace = list(range(start, start + n_bins))
    return [c for c in range(n_channels) if c not in trace], trace


def reference_channels(channels: Sequence[str] | None, owner: str = "the model") -> list[int]:
    """Indices of the plane fit's axis (:data:`FRONT_CHANNELS`) among a model's input ``channels``
    (``training.inputs``), for a ``direction_head: correction``; ConfigError naming ``owner``
    where one is missing."""
    channels = list(channels or ())
    missing = [c for c in FRONT_CHANNELS if c not in channels]
    if missing:
        raise ConfigError(
            f"{owner}: direction_head: correction adds to the plane fit's axis, but training.inputs "
            f"({', '.join(channels) or 'not given'}) lacks {', '.join(missing)}"
        )
    return [channels.index(c) for c in FRONT_CHANNELS]


def relative_time(time_us: np.ndarray) -> np.ndarray:
    """Arrival times minus the per-event mean over triggered stations (NaN stays NaN)."""
    n_trig = np.sum(np.isfinite(time_us), axis=(1, 2), keepdims=True)
    mean = np.nansum(time_us, axis=(1, 2), keepdims=True) / np.maximum(n_trig, 1)
    return time_us - mean


def reference_axis(front_axis: np.ndarray) -> np.ndarray:
    """(N, 3) float64: the plane fit's axis, vertical where the fit failed (NaN)."""
    axis = np.asarray(front_axis, dtype=np.float64).reshape(-1, 3)
    return np.where(np.all(np.isfinite(axis), axis=1, keepdims=True), axis, VERTICAL)


def front_residual_ns(time_us: np.ndarray, positions_m: np.ndarray, front_axis: np.ndarray) -> np.ndarray:
    """Arrival times minus the plane front of ``front_axis`` (N, 3), in ns, centred on each
    event's triggered stations (N, side, side; NaN where silent).

    A plane front with unit vector ``u`` (towards the source) reaches station ``x`` at
    ``t0 - u.x / c``: the residual is ``t + u.x / c`` minus its mean over the triggered stations,
    0 at every station for a plane front along ``u``.
    """
    shape = np.shape(time_us)
    axis = reference_axis(front_axis)
    pos = np.asarray(positions_m, dtype=np.float64).reshape(shape[1], shape[2], 3)
    delay_us = np.einsum("nc,ijc->nij", axis, pos) / geometry.C_M_PER_US
    return 1e3 * relative_time(np.asarray(time_us, dtype=np.float64) + delay_us)


def ldf_plane(s1000_vem: np.ndarray, stats: Mapping) -> np.ndarray:
    """The ``ldf_s1000`` channel's value of each event (N,): ``log10(S(1000) / VEM)`` of the LDF
    fit standardized with ``stats`` (its ``mean`` and ``std``), 0 (the training split's mean)
    where there is no fit (NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        log_s = np.log10(np.asarray(s1000_vem, dtype=np.float64))
    value = (log_s - stats["mean"]) / stats["std"]
    return np.where(np.isfinite(value), value, 0.0)

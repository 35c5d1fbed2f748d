"""The network inputs' channels and their statistics: ``normalization.json``, fitted on the
training split (:func:`fit_normalization`; block by block from :class:`Moments`), checked when read
(:func:`read_normalization`), and the transform of showers into the inputs ``x``
(:func:`transform_inputs`), of which a model reads its ``training.inputs`` (:func:`select_channels`).
The splits themselves are :mod:`airshower.preparation`'s.

The prepared inputs ``x`` hold every channel of :data:`CHANNELS`, 14 x 14 images of each shower
stacked in this order; a model reads the ones named by its ``training.inputs``
(:func:`select_channels`). Every channel's statistics come from the *training* split (or from the
array's geometry) and are stored in ``normalization.json``:

- ``time``: arrival time minus the mean over the triggered stations of the same event (the
  absolute time of an event carries no information), divided by the training-split standard
  deviation;
- ``signal``: ``log10(1 + S / VEM)``, standardized with the mean and standard deviation over the
  triggered stations of the training split;
- ``mask``: 1 where the station triggered, 0 where it is silent or dead;
- ``working``: 1 where the station works, 0 where it is dead (the array's own list of working
  stations, ``showers.h5:working``; all 1 where a file has none). A dead station records nothing,
  like a silent one, but it is missing data, not a measured absence of particles;
- ``residual``: the arrival time minus the plane front of the event's plane fit (the classical
  reconstruction's :func:`airshower.baseline.plane_fit`, computed in the DAG before the split:
  ``front_axis`` of the showers), in ns, centred on the triggered stations' mean and divided by
  the training-split standard deviation; a plane front gives 0 everywhere;
- ``station_x``, ``station_y``: the station coordinates, standardized over the array (the same
  planes for every event: they tell a convolution where on the array it looks);
- ``front_ux``, ``front_uy``, ``front_uz``: the plane fit's axis, the same value at every station
  (an event-level input as constant planes, so every family takes it through its one input);
  vertical where the fit failed (fewer than three stations). Not standardized: the components of
  a unit vector. A model with ``direction_head: correction`` adds its direction output to them.
- ``ldf_s1000``: the LDF fit's S(1000) along the plane fit's axis (the classical reconstruction's
  size estimator, :func:`airshower.baseline.reference_fit`, computed with the plane fit:
  ``ldf_s1000`` of the showers) as ``log10(S(1000) / VEM)``, standardized with the training
  split's mean and standard deviation, the same value at every station; 0 where the fit failed.

- ``trace_00``, ``trace_01``, ... (where the showers have the recorded ``trace``,
  ``simulation.store_traces``): bin ``b`` of the recorded trace as ``log10(1 + max(S_b, 0) / VEM)``,
  standardized with the mean and standard deviation over every bin of the triggered stations of
  the training split (one pair for all bins, so the trace's shape is kept); the trace starts at
  the station's front time, so the ``time`` channel keeps each station's timing.

The channels of :data:`TRIGGERED_CHANNELS` and the trace's are 0 at silent and dead stations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from airshower import io
from airshower import targets as registry
from airshower.inputs import (
    CHANNELS,
    FIRST_CHANNELS,
    FRONT_CHANNELS,
    GEOMETRY_CHANNELS,
    LDF_CHANNELS,
    expand,
    front_residual_ns,
    is_trace,
    ldf_plane,
    reference_axis,
    relative_time,
)

# events per block when the traces are normalized and transformed (a block's float64 temporaries
# stay near 100 MB whatever the number of events)
TRACE_BLOCK = 1024


def log_trace(trace: np.ndarray) -> np.ndarray:
    """``log10(1 + max(S_b, 0) / VEM)`` of trace bins, float64."""
    return np.log10(1.0 + np.maximum(np.asarray(trace, dtype=np.float64), 0.0))


class Moments:
    """Count, sum and sum of squares of the values added, in float64: the mean and the standard
    deviation (ddof 0) of a sample seen block by block."""

    def __init__(self):
        self.n, self.total, self.squares = 0, 0.0, 0.0

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        self.n += values.size
        self.total += float(values.sum())
        self.squares += float(np.square(values).sum())

    @property
    def mean(self) -> float:
        return self.total / max(self.n, 1)

    @property
    def std(self) -> float:
        return float(np.sqrt(max(self.squares / max(self.n, 1) - self.mean**2, 0.0)))


def trace_record(moments: Moments) -> dict:
    if moments.n < 2:
        raise ValueError("the training split has no triggered station with a trace: cannot normalize")
    return {
        "transform": "log10(1 + max(S_b, 0)/VEM) per bin of the recorded trace",
        "mean": float(moments.mean),
        "std": max(moments.std, 1e-9),
    }


def fit_trace_normalization(trace: np.ndarray, signal_vem: np.ndarray, index: np.ndarray) -> dict:
    """Mean and standard deviation of :func:`log_trace` over every bin of the triggered stations
    of the events ``index`` of ``trace`` (N, side, side, n_bins), in one pass over blocks of
    :data:`TRACE_BLOCK` events (sums in float64, :class:`Moments`)."""
    moments = Moments()
    for start in range(0, len(index), TRACE_BLOCK):
        rows = index[start : start + TRACE_BLOCK]
        moments.add(log_trace(trace[rows][np.isfinite(signal_vem[rows])]))
    return {**trace_record(moments), "n_bins": int(np.shape(trace)[-1])}


def fit_normalization(
    time_us: np.ndarray,
    signal_vem: np.ndarray,
    labels: Mapping[str, np.ndarray],
    positions_m: np.ndarray | None = None,
    front_axis: np.ndarray | None = None,
    s1000_vem: np.ndarray | None = None,
) -> dict:
    """Normalization statistics from the training split (arrays of that split only).

    ``labels`` are the training split's true values (datasets of :data:`LABELS`, at least
    ``energy``); ``channels`` lists the channels of ``x`` in order; ``targets`` holds the
    statistics of every target (:func:`airshower.targets.fit_all`), the energy's with the mean and
    standard deviation of every transform of :data:`TARGET_TRANSFORMS`. ``positions_m`` (the
    array's stations) and ``front_axis`` (the split's plane-fit axes) give the statistics of the
    ``station_*`` and ``residual`` channels, ``s1000_vem`` (the split's LDF fits) those of
    ``ldf_s1000``; without them ``x`` has the first three channels only (without ``s1000_vem``,
    no ``ldf_s1000``).
    """
    log_s = np.log10(1.0 + signal_vem[np.isfinite(signal_vem)].astype(np.float64))
    rel_t = relative_time(time_us.astype(np.float64))
    rel_t = rel_t[np.isfinite(rel_t)]
    if log_s.size < 2 or rel_t.size < 2:
        raise ValueError("the training split has fewer than two triggered stations: cannot normalize")
    residual_std, ldf = None, None
    if positions_m is not None and front_axis is not None:
        residual = front_residual_ns(time_us, positions_m, front_axis)
        residual_std = residual[np.isfinite(residual)].std()
    if s1000_vem is not None:
        ldf = Moments()
        ldf.add(log_s1000(s1000_vem))
    return normalization_record(
        (log_s.mean(), log_s.std()), rel_t.std(), residual_std, positions_m, registry.fit_all(labels), ldf
    )


def log_s1000(s1000_vem: np.ndarray) -> np.ndarray:
    """``log10(S(1000) / VEM)`` of the events with a fit (finite, positive)."""
    s = np.asarray(s1000_vem, dtype=np.float64)
    return np.log10(s[np.isfinite(s) & (s > 0)])


def normalization_record(signal, time_std, residual_std, positions_m, targets: dict, ldf=None) -> dict:
    """``normalization.json``'s record from the statistics: ``signal`` (mean, std) of log10(1 + S),
    the relative times' std, the residuals' std and the station positions (both None: the first
    three channels only), the targets' statistics and the moments ``ldf`` of log10 S(1000) (None:
    no ``ldf_s1000`` channel) (:func:`fit_normalization`, in one piece, and
    :func:`airshower.preparation.prepare_in_blocks`, from block-wise moments)."""
    norm = {
        "channels": list(FIRST_CHANNELS),
        "signal": {"transform": "log10(1 + S/VEM)", "mean": float(signal[0]), "std": float(signal[1])},
        "time": {"transform": "t - mean_event(t), in us", "mean": 0.0, "std": float(time_std)},
    }
    if residual_std is not None:
        pos = np.asarray(positions_m, dtype=np.float64)
        norm["channels"] = [c for c in CHANNELS if c not in LDF_CHANNELS or ldf is not None]
        norm["residual"] = {
            "transform": "t + u.x/c - mean_event, in ns (u: the plane fit's axis)",
            "mean": 0.0,
            "std": float(max(residual_std, 1e-9)),
        }
        for c, name in enumerate(GEOMETRY_CHANNELS):
            norm[name] = {"transform": "station coordinate, in m", "mean": float(pos[:, c].mean())}
            norm[name]["std"] = float(max(pos[:, c].std(), 1e-9))
        if ldf is not None:
            if ldf.n < 2:
                raise ValueError(
                    "the training split has fewer than two events with an LDF fit: cannot normalize"
                )
            norm["ldf_s1000"] = {
                "transform": "log10(S(1000)/VEM) of the LDF fit along the plane fit's axis",
                "mean": float(ldf.mean),
                "std": float(max(ldf.std, 1e-9)),
            }
    norm["targets"] = targets
    return norm


def transform_inputs(
    time_us: np.ndarray,
    signal_vem: np.ndarray,
    norm: Mapping,
    working: np.ndarray | None = None,
    positions_m: np.ndarray | None = None,
    front_axis: np.ndarray | None = None,
    trace: np.ndarray | None = None,
    s1000_vem: np.ndarray | None = None,
) -> np.ndarray:
    """Network inputs ``x`` of shape (N, side, side, C), float32, silent and dead stations 0.

    The channels are those of ``norm["channels"]``, in that order. ``working`` (N, side, side):
    the working stations (None: all); ``positions_m`` (n_stations, 3) and ``front_axis`` (N, 3)
    are needed by the ``residual``, ``station_*`` and ``front_*`` channels; ``trace`` (N, side,
    side, n_bins), the recorded traces, by the trace channels; ``s1000_vem`` (N,), the LDF fits'
    S(1000) (NaN where none), by the ``ldf_s1000`` channel.
    """
    channels = list(norm["channels"])
    bins = [c for c in channels if is_trace(c)]
    if bins:
        if trace is None:
            raise ValueError(f"channels {bins[0]}... need the recorded traces ('trace' of the showers)")
        image = transform_inputs(
            time_us,
            signal_vem,
            {**norm, "channels": [c for c in channels if not is_trace(c)]},
            working,
            positions_m,
            front_axis,
            s1000_vem=s1000_vem,
        )
        return _with_trace(image, channels, norm, signal_vem, trace)
    needs_front = any(c in channels for c in ("residual", *FRONT_CHANNELS, *GEOMETRY_CHANNELS))
    if needs_front and (positions_m is None or front_axis is None):
        raise ValueError(
            f"channels {channels} need the station positions and the plane fit's axis (front_axis)"
        )
    if "ldf_s1000" in channels and s1000_vem is None:
        raise ValueError(f"channels {channels} need the LDF fits' S(1000) (s1000_vem)")
    triggered = np.isfinite(signal_vem)
    sig = (np.log10(1.0 + np.where(triggered, signal_vem, 0.0)) - norm["signal"]["mean"]) / norm["signal"][
        "std"
    ]
    t = (relative_time(time_us) - norm["time"]["mean"]) / norm["time"]["std"]
    planes = {
        "time": lambda: np.where(triggered, t, 0.0),
        "signal": lambda: np.where(triggered, sig, 0.0),
        "mask": lambda: triggered.astype(np.float64),
        "working": lambda: np.ones(triggered.shape) if working is None else np.asarray(working, np.float64),
    }
    if needs_front:
        shape = triggered.shape
        axis = reference_axis(front_axis)
        pos = np.asarray(positions_m, dtype=np.float64).reshape(shape[1], shape[2], 3)
        r = front_residual_ns(time_us, positions_m, front_axis)
        r = (r - norm["residual"]["mean"]) / norm["residual"]["std"]
        planes["residual"] = lambda: np.where(triggered, r, 0.0)
        for c, name in enumerate(GEOMETRY_CHANNELS):
            planes[name] = lambda c=c, name=name: np.broadcast_to(
                (pos[..., c] - norm[name]["mean"]) / norm[name]["std"], shape
            )
        for c, name in enumerate(FRONT_CHANNELS):
            planes[name] = lambda c=c: np.broadcast_to(axis[:, c, None, None], shape)
    if s1000_vem is not None and "ldf_s1000" in norm:
        ldf = ldf_plane(s1000_vem, norm["ldf_s1000"])
        planes["ldf_s1000"] = lambda: np.broadcast_to(ldf[:, None, None], triggered.shape)
    return np.stack([planes[c]() for c in channels], axis=-1).astype(np.float32)


def _with_trace(
    image: np.ndarray, channels: Sequence[str], norm: Mapping, signal_vem: np.ndarray, trace: np.ndarray
) -> np.ndarray:
    """``x`` of ``channels``: the non-trace channels from ``image`` (in order), each trace channel
    ``trace_bb`` the standardized :func:`log_trace` of bin ``bb`` (0 where silent), block by block."""
    stats = norm["trace"]
    if np.shape(trace)[-1] != stats["n_bins"]:
        raise ValueError(f"the traces have {np.shape(trace)[-1]} bins, the normalization {stats['n_bins']}")
    n = len(image)
    x = np.empty((*image.shape[:-1], len(channels)), dtype=np.float32)
    plain = [c for c, name in enumerate(channels) if not is_trace(name)]
    x[..., plain] = image
    traced = [c for c, name in enumerate(channels) if is_trace(name)]
    bins = [int(channels[c][len("trace_") :]) for c in traced]
    for start in range(0, n, TRACE_BLOCK):
        stop = min(start + TRACE_BLOCK, n)
        on = np.isfinite(signal_vem[start:stop])[..., None]
        values = (log_trace(trace[start:stop][..., bins]) - stats["mean"]) / stats["std"]
        x[start:stop][..., traced] = np.where(on, values, 0.0)
    return x


def read_normalization(path) -> dict:
    """``normalization.json``, checked: the statistics (``mean`` and ``std``) of every channel it
    lists and the targets' statistics; a missing or broken entry is a DataError naming the file,
    the key and what to run."""
    norm = io.read_json(path)
    keys = ["channels", "targets"]
    for channel in norm.get("channels") or ():
        if is_trace(channel):
            keys.append("trace")
        elif channel in ("time", "signal", "residual", *GEOMETRY_CHANNELS, *LDF_CHANNELS):
            keys.append(channel)
    for key in dict.fromkeys(keys):
        if key not in norm:
            raise io.DataError(f"{path}: no statistics '{key}' (the input normalization); {io.remake(path)}")
        entry = norm[key]
        if key not in ("channels", "targets") and not (
            isinstance(entry, Mapping) and all(isinstance(entry.get(k), int | float) for k in ("mean", "std"))
        ):
            raise io.DataError(f"{path}: statistics '{key}' lack a numeric mean and std; {io.remake(path)}")
    return norm


def select_channels(x: np.ndarray, norm: Mapping, inputs: Sequence[str]) -> np.ndarray:
    """The channels ``inputs`` (names of :data:`CHANNELS`, in the model's order) of prepared ``x``.

    Raises ValueError naming a channel that ``norm["channels"]`` (the channels of ``x``) lacks.
    """
    have = list(norm["channels"])
    if x.shape[-1] != len(have):
        raise ValueError(f"inputs have {x.shape[-1]} channels, the normalization names {len(have)}")
    return x[..., channel_indices(norm, inputs)]


def channel_indices(norm: Mapping, inputs: Sequence[str]) -> list[int]:
    """The indices in the prepared ``x`` (channels ``norm["channels"]``) of a model's ``inputs``
    (:func:`airshower.inputs.expand`); ValueError naming a channel the prepared data lack."""
    have = list(norm["channels"])
    inputs = expand(inputs, have)
    missing = [c for c in inputs if c not in have]
    if missing:
        raise ValueError(
            f"input channel {missing[0]!r} is not in the prepared data (channels {', '.join(have)}): "
            "prepare the data again"
        )
    return [have.index(c) for c in inputs]

"""Robust training: station dropout and signal-scale augmentation of prepared network inputs.

The inputs ``x`` (N, side, side, C) hold the channels ``channels`` (names of
:data:`airshower.inputs.CHANNELS`, any subset in any order) normalized with ``norm``
(``normalization.json``): see :mod:`airshower.normalization`. Both augmentations are exact in
those units, i.e. they give what preparing the modified event would give (up to float32
rounding):

- station dropout (:func:`drop_stations`): the dropped stations become dead, as the ``dead``
  test variants mark them: no time, signal or residual (0, as a silent station is prepared) and
  ``working`` 0; the time channel is re-centred on the remaining triggered stations (it is
  relative to their mean); where the inputs hold channels of the event's reference fit
  (``residual``, ``front_*``, ``ldf_s1000``), it is fitted again without the dropped stations
  (:class:`ReferenceFit`: the baseline's own :func:`~airshower.baseline.reference_fit`, from the
  time and signal channels), as the prepare job fits a dead-station variant's events;
- signal scale (:func:`scale_signals`): every triggered station's signal ``S -> f S`` through
  the inverse standardization, one ``f`` per event; which stations triggered does not change
  (as in the ``scale+5`` test variants of :mod:`airshower.systematics`: a calibration error of
  the reported signal, the trigger acting on the particles).

Random draws (:func:`augment`, :class:`AugmentationSettings`): per event a dropout rate ``p``
uniform in ``[0, station_dropout]``, each station silenced with probability ``p`` (so the
network sees intact events as well as events with up to ``station_dropout`` of the stations
dead; ``station_dropout: 0.2`` covers the ``dead10`` variant), and ``f`` uniform in
``[1 - signal_scale, 1 + signal_scale]``. A setting of 0 switches that augmentation off.

Which stations triggered is read from the mask channel, else from a non-zero signal, else from
a non-zero time (a prepared triggered station is never exactly 0 in the signal channel).

:func:`augmented_dataset` wraps arrays in a ``keras.utils.PyDataset`` of shuffled, augmented
batches, deterministic given its seed sequence and the epoch. Keras is imported only there.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from airshower import rng as rng_streams
from airshower.inputs import (
    FRONT_CHANNELS,
    LDF_CHANNELS,
    front_residual_ns,
    is_trace,
    ldf_plane,
    reference_axis,
    triggered_only,
)

_LN10 = math.log(10.0)
_AUGMENT_KEY = 0xA06  # last index of the augmentation's sub-stream of a training's stream
FIT_CHANNELS = ("residual", *FRONT_CHANNELS, *LDF_CHANNELS)  # the channels of the event's reference fit
REFIT_FROM = ("time", "signal")  # the channels the reference fit is made again from


@dataclass(frozen=True)
class AugmentationSettings:
    """``training.augmentation`` (defaults in the schema: 0, off)."""

    station_dropout: float  # maximum per-event rate of silenced stations, in [0, 1)
    signal_scale: float  # half-width a of the per-event signal factor f in [1 - a, 1 + a]

    @property
    def enabled(self) -> bool:
        return self.station_dropout > 0 or self.signal_scale > 0


@dataclass(frozen=True)
class ReferenceFit:
    """What refitting the reference fit of an event needs: the station positions (n_stations, 3),
    in the order of the flattened images, and the fit, ``fit(time_us, signal_vem, positions_m,
    ldf)`` -> the plane fit's axes (N, 3) and the LDF fit's S(1000) (N,; all NaN unless ``ldf``)
    of images (N, side, side) with NaN where silent or dead, NaN where there is no fit: the
    prepare job's, the baseline's :func:`~airshower.baseline.reference_fit` with the study's
    settings."""

    positions_m: np.ndarray
    fit: Callable[[np.ndarray, np.ndarray, np.ndarray, bool], tuple[np.ndarray, np.ndarray]]

    def __call__(
        self, time_us: np.ndarray, signal_vem: np.ndarray, ldf: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The axes (N, 3) and S(1000) (N,) of images (N, side, side), NaN where silent or dead;
        without ``ldf``, S(1000) NaN (the LDF fit not made)."""
        return self.fit(time_us, signal_vem, self.positions_m, ldf)


def needs_refit(channels: Sequence[str]) -> bool:
    """Whether inputs with ``channels`` hold channels of the event's reference fit
    (:data:`FIT_CHANNELS`), so dropping stations refits it."""
    return any(name in FIT_CHANNELS for name in channels)


def refit_missing(channels: Sequence[str]) -> list[str]:
    """The channels of :data:`REFIT_FROM` that inputs with ``channels`` lack (the fit needs them)."""
    return [c for c in REFIT_FROM if c not in channels]


def _signal_vem(values: np.ndarray, stats: Mapping) -> np.ndarray:
    """S (VEM, float64) of standardized ``log10(1 + S)`` values with ``stats`` (``mean``, ``std``)."""
    return np.expm1((np.asarray(values, dtype=np.float64) * stats["std"] + stats["mean"]) * _LN10)


def seed_sequence(study_seed: int, model: str, seed: int) -> np.random.SeedSequence:
    """The augmentation's stream of the training of ``model`` with training seed ``seed``: a
    sub-stream of the study's ``training`` stream, apart from the one of the Keras seeds."""
    return rng_streams.seed_sequence(study_seed, "training", zlib.crc32(model.encode()), seed, _AUGMENT_KEY)


def triggered(x: np.ndarray, channels: Sequence[str]) -> np.ndarray:
    """(N, side, side) bool: the triggered stations of prepared inputs (see the module doc)."""
    channels = list(channels)
    tests = (
        ("mask", lambda v: v > 0.5),
        ("signal", lambda v: v != 0),
        ("time", lambda v: v != 0),
        ("residual", lambda v: v != 0),
    )
    for name, test in tests:
        if name in channels:
            return test(x[..., channels.index(name)])
    raise ValueError(f"channels {channels} name none of time, signal, mask, residual")


def drop_stations(
    x: np.ndarray,
    channels: Sequence[str],
    norm: Mapping,
    dead: np.ndarray,
    reference: ReferenceFit | None = None,
) -> np.ndarray:
    """``x`` with the stations ``dead`` (N, side, side) dead: the channels of triggered stations
    (:func:`airshower.inputs.triggered_only`: the trace's bins too) 0 there, ``working`` 0 there,
    the time re-centred on the remaining triggered stations, and, where ``channels`` hold the
    reference fit's channels (:func:`needs_refit`), the fit made again without the dead stations by
    ``reference`` (:func:`refit_reference`) in the events that lost a triggered station (the
    others' fit is the one they have); the station coordinates are kept. A new float32 array."""
    channels = list(channels)
    dead = np.asarray(dead, dtype=bool)
    on = triggered(x, channels)
    keep = on & ~dead
    out = np.array(x, dtype=np.float32, copy=True)
    for c, name in enumerate(channels):
        if triggered_only(name):
            out[..., c] = np.where(keep, x[..., c], 0.0)
        elif name == "working":
            out[..., c] = np.where(dead, 0.0, x[..., c])
    if "time" in channels:
        c = channels.index("time")
        u = x[..., c].astype(np.float64)
        # u = (t - mean_trig(t) - m) / sd: removing stations shifts the event's mean; the new
        # u is u - mean_keep(u) - m / sd (m = 0 as preparation fits it)
        n_keep = keep.sum(axis=(1, 2), keepdims=True)
        mean_keep = np.where(keep, u, 0.0).sum(axis=(1, 2), keepdims=True) / np.maximum(n_keep, 1)
        shift = mean_keep + norm["time"]["mean"] / norm["time"]["std"]
        out[..., c] = np.where(keep, u - shift, 0.0)
    if needs_refit(channels):
        if reference is None:
            raise ValueError(
                f"dropping stations from inputs with {', '.join(c for c in channels if c in FIT_CHANNELS)} "
                "refits the reference fit: it needs the station positions and the baseline's fit (reference)"
            )
        changed = np.any(on & dead, axis=(1, 2))  # an event that lost no triggered station keeps its fit
        if changed.any():
            part = out[changed]
            refit_reference(part, channels, norm, keep[changed], reference)
            out[changed] = part
    return out


def refit_reference(
    out: np.ndarray, channels: Sequence[str], norm: Mapping, keep: np.ndarray, reference: ReferenceFit
) -> None:
    """Fit every event of ``out`` (prepared inputs, edited in place) again from its ``time`` and
    ``signal`` channels at the stations ``keep``, and write the fit's channels: ``residual`` (the
    arrival times minus the new plane front, at ``keep``), ``front_*`` (its axis, vertical where
    no fit) and ``ldf_s1000`` (the new S(1000), 0 where no fit)."""
    channels = list(channels)
    missing = refit_missing(channels)
    if missing:
        raise ValueError(
            f"refitting the plane and LDF fits needs the {' and '.join(missing)} channel(s) among the inputs "
            f"({', '.join(channels)}): add them to training.inputs, or train without station_dropout"
        )
    t = out[..., channels.index("time")].astype(np.float64) * norm["time"]["std"] + norm["time"]["mean"]
    time_us = np.where(keep, t, np.nan)
    signal_vem = np.where(keep, _signal_vem(out[..., channels.index("signal")], norm["signal"]), np.nan)
    ldf = [name for name in LDF_CHANNELS if name in channels]
    axis, s1000 = reference(time_us, signal_vem, ldf=bool(ldf))
    if "residual" in channels:
        r = front_residual_ns(time_us, reference.positions_m, axis)
        stats = norm["residual"]
        out[..., channels.index("residual")] = np.where(keep, (r - stats["mean"]) / stats["std"], 0.0)
    axis = reference_axis(axis)
    for c, name in enumerate(FRONT_CHANNELS):
        if name in channels:
            out[..., channels.index(name)] = axis[:, c, None, None]
    for name in ldf:
        out[..., channels.index(name)] = ldf_plane(s1000, norm[name])[:, None, None]


def scale_signals(x: np.ndarray, channels: Sequence[str], norm: Mapping, factor: np.ndarray) -> np.ndarray:
    """``x`` with every triggered station's signal ``S -> factor S`` (``factor`` (N,), one per
    event) through the inverse standardization of ``log10(1 + S)``, and so each bin of its
    recorded trace (the channels of :func:`airshower.inputs.is_trace`); a new float32 array (a
    copy of ``x`` without a signal channel)."""
    channels = list(channels)
    out = np.array(x, dtype=np.float32, copy=True)
    scaled = [(c, norm["signal"]) for c, name in enumerate(channels) if name == "signal"]
    scaled += [(c, norm["trace"]) for c, name in enumerate(channels) if is_trace(name)]
    if not scaled:
        return out
    on = triggered(x, channels)
    f = np.asarray(factor, dtype=np.float64).reshape(-1, 1, 1)
    for c, stats in scaled:
        s_vem = _signal_vem(x[..., c], stats)
        out[..., c] = np.where(on, (np.log1p(f * s_vem) / _LN10 - stats["mean"]) / stats["std"], 0.0)
    return out


def draw(
    settings: AugmentationSettings, shape: tuple[int, ...], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Dead stations (N, side, side) and signal factors (N,) of one batch of ``shape`` (N, side,
    side): rates uniform in ``[0, station_dropout]``, factors uniform in ``1 -+ signal_scale``.
    The draws are made in this order whatever the settings."""
    n = shape[0]
    rate = settings.station_dropout * rng.random(n)
    dead = rng.random(shape) < rate.reshape(-1, *([1] * (len(shape) - 1)))
    factor = 1.0 + settings.signal_scale * rng.uniform(-1.0, 1.0, n)
    return dead, factor


def augment(
    x: np.ndarray,
    channels: Sequence[str],
    norm: Mapping,
    settings: AugmentationSettings,
    rng: np.random.Generator,
    reference: ReferenceFit | None = None,
) -> np.ndarray:
    """One random augmentation of the batch ``x`` (:func:`draw`, then dropout, refitting the
    reference fit with ``reference`` (:func:`drop_stations`), and signal scale)."""
    dead, factor = draw(settings, x.shape[:-1], rng)
    out = np.asarray(x, dtype=np.float32)
    if settings.station_dropout > 0:
        out = drop_stations(out, channels, norm, dead, reference)
    if settings.signal_scale > 0:
        out = scale_signals(out, channels, norm, factor)
    return out


def _take(y, idx: np.ndarray):
    if isinstance(y, Mapping):
        return {k: np.asarray(v)[idx] for k, v in y.items()}
    return np.asarray(y)[idx]


def _length(y) -> int:
    return len(next(iter(y.values()))) if isinstance(y, Mapping) else len(y)


class AugmentedBatches:
    """Shuffled, augmented batches of ``(x, y)`` (``y`` an array or a dict of arrays), without
    Keras: batch ``i`` of epoch ``e`` depends only on the seed sequence, ``e`` and ``i``
    (the epoch's permutation from sub-stream ``(e, 0)``, the batch's draws from ``(e, 1, i)``)."""

    def __init__(self, x, y, channels, norm, settings, batch_size, seed, shuffle=True, reference=None):
        self.x, self.y = np.asarray(x, dtype=np.float32), y
        if _length(y) != len(self.x):
            raise ValueError(f"{len(self.x)} inputs, {_length(y)} targets")
        self.channels, self.norm, self.settings = list(channels), norm, settings
        self.reference = reference  # ReferenceFit: where dropping stations refits the reference fit
        if settings.station_dropout > 0 and needs_refit(self.channels) and reference is None:
            raise ValueError(
                "station dropout on inputs with the reference fit's channels refits it: "
                "give the station positions and the baseline's fit (reference)"
            )
        self.batch_size, self.shuffle = int(batch_size), bool(shuffle)
        self.seed = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.epoch = 0
        self._order: tuple[int | None, np.ndarray | None] = (None, None)

    def _generator(self, *index: int) -> np.random.Generator:
        ss = np.random.SeedSequence(self.seed.entropy, spawn_key=(*self.seed.spawn_key, *index))
        return np.random.Generator(np.random.PCG64(ss))

    def order(self, epoch: int) -> np.ndarray:
        """The event order of ``epoch`` (the last one kept)."""
        if not self.shuffle:
            return np.arange(len(self.x))
        if self._order[0] != epoch:
            self._order = (epoch, self._generator(epoch, 0).permutation(len(self.x)))
        return self._order[1]

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def batch(self, epoch: int, index: int):
        """Batch ``index`` of ``epoch``: ``(x, y)``, x augmented."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} outside 0..{len(self) - 1}")
        idx = self.order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.x[idx]
        if self.settings.enabled:
            x = augment(
                x, self.channels, self.norm, self.settings, self._generator(epoch, 1, index), self.reference
            )
        return x, _take(self.y, idx)


@functools.cache
def _dataset_class():
    import keras  # noqa: PLC0415 (Keras loads lazily: the numpy augmentation needs no backend)

    class EpochDataset(keras.utils.PyDataset):
        """Batches drawn per epoch (:class:`AugmentedBatches`,
        :class:`airshower.training.stream.DiskBatches`) as a Keras ``PyDataset``. The first epoch
        is the batches' ``epoch`` (``initial_epoch`` of :func:`augmented_dataset`); every later
        ``on_epoch_begin`` advances it by one. (Keras reads a batch or two to learn the shapes
        and calls ``on_epoch_end`` once before the first epoch begins: neither counts.)"""

        def __init__(self, batches, **kwargs):
            super().__init__(**kwargs)
            self.batches = batches
            self._begun = False

        @property
        def epoch(self) -> int:
            return self.batches.epoch

        @epoch.setter
        def epoch(self, value: int) -> None:
            self.batches.epoch = int(value)

        def __len__(self) -> int:
            return len(self.batches)

        def __getitem__(self, index: int):
            return self.batches.batch(self.batches.epoch, int(index))

        def on_epoch_begin(self) -> None:
            if self._begun:
                self.batches.epoch += 1
            self._begun = True

    return EpochDataset


def epoch_dataset(batches, **kwargs):
    """A Keras ``PyDataset`` of ``batches``, any object with an ``epoch``, a length and
    ``batch(epoch, index)`` (:class:`AugmentedBatches`, ``training.stream.DiskBatches``), whose
    epoch the fit advances and the resume of a killed training sets."""
    return _dataset_class()(batches, **kwargs)


def augmented_dataset(
    x: np.ndarray,
    y,
    channels: Sequence[str],
    norm: Mapping,
    settings: AugmentationSettings,
    batch_size: int,
    seed: int | np.random.SeedSequence,
    initial_epoch: int = 0,
    shuffle: bool = True,
    reference: ReferenceFit | None = None,
    **kwargs,
):
    """A ``keras.utils.PyDataset`` of shuffled, augmented batches of ``(x, y)`` for ``model.fit``
    (no ``batch_size``/``shuffle`` there). ``seed``: e.g. :func:`seed_sequence`; ``reference``:
    the event's reference fit (:class:`ReferenceFit`), needed where stations are dropped from
    inputs with its channels; ``kwargs``: the PyDataset's (``workers``, ``use_multiprocessing``,
    ``max_queue_size``)."""
    batches = AugmentedBatches(x, y, channels, norm, settings, batch_size, seed, shuffle, reference)
    batches.epoch = int(initial_epoch)
    return epoch_dataset(batches, **kwargs)

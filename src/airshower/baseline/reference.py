"""The networks' reference fit: the baseline's plane fit and its LDF fit of every event, computed in
the prepare jobs before the split (the ``residual``, ``front_*`` and ``ldf_s1000`` input channels
of :mod:`airshower.normalization`) and made again by the station dropout of
:mod:`airshower.augmentation` (the training job passes :func:`reference_fit` in)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import numpy as np

from airshower.baseline.front import Stations, by_multiplicity, plane_fit_packed, time_weights
from airshower.baseline.ldf import ldf_fit
from airshower.baseline.settings import BaselineSettings

log = logging.getLogger(__name__)


def reference_fit(
    time_us: np.ndarray,
    signal_vem: np.ndarray,
    positions_m: np.ndarray,
    settings: BaselineSettings,
    chunk_size: int = 1024,
    ldf: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The networks' reference fit of every event (the ``residual``, ``front_*`` and
    ``ldf_s1000`` channels of :mod:`airshower.normalization`): the plane fit's axis (N, 3) and the
    LDF fit's S(1000) (N,) in VEM along that axis, by the baseline's code and ``settings``; NaN
    where fewer than ``min_stations`` triggered or the fit failed, as the baseline flags those
    events. Images (N, side, side), NaN where silent or dead. (Along the plane, whatever
    ``settings.front``: for the planar front, the baseline's own axis and S(1000).) ``ldf``
    False: the plane fit alone, S(1000) NaN (the LDF fit costs four times the plane's)."""
    n = len(signal_vem)
    if n == 0:
        return np.zeros((0, 3)), np.zeros(0)

    def per_chunk(stations: Stations) -> dict[str, np.ndarray]:
        t, s, pos, mask = stations
        enough = mask.sum(axis=1) >= settings.min_stations
        axis, ok = plane_fit_packed(t, pos, np.where(enough[:, None], time_weights(s, mask, settings), 0.0))
        out = {"axis": np.where((ok & enough)[:, None], axis, np.nan), "s1000": np.full(len(t), np.nan)}
        if ldf:
            fit = ldf_fit(s, pos, mask & enough[:, None], axis, settings)
            out["s1000"] = np.where(ok & enough & fit.ok, fit.s1000_vem, np.nan)
        return out

    out = by_multiplicity(time_us, signal_vem, positions_m, chunk_size, per_chunk)
    return out["axis"], out["s1000"]


def with_reference_fit(showers: Mapping[str, np.ndarray], settings: BaselineSettings) -> tuple[dict, dict]:
    """``showers`` plus ``front_axis`` and ``ldf_s1000``, the reference fit of every event
    (:func:`reference_fit`, computed in the prepare jobs before the split), and what it cost:
    ``{"n_events", "n_failed", "seconds", "events_per_s"}``."""
    start = time.perf_counter()
    axis, s1000 = reference_fit(showers["time"], showers["signal"], showers["detector"], settings)
    seconds = time.perf_counter() - start
    n = len(axis)
    cost = {
        "n_events": n,
        "n_failed": int(np.count_nonzero(~(np.all(np.isfinite(axis), axis=1) & np.isfinite(s1000)))),
        "seconds": seconds,
        "events_per_s": n / max(seconds, 1e-9),
    }
    log.info(
        "reference fit (plane front and LDF) of %(n_events)d events: %(seconds).2f s, "
        "%(events_per_s).0f events/s, %(n_failed)d without a fit",
        cost,
    )
    return {**showers, "front_axis": axis, "ldf_s1000": s1000}, cost

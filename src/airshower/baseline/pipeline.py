"""The classical reconstruction of whole events and the baseline step of the workflow: check the
array, calibrate on the training split, reconstruct and predict the test split."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import numpy as np

from airshower import geometry, predictionfile, showerfile
from airshower.baseline.calibration import (
    apply_calibration,
    energy_sigma,
    energy_statistics,
    first_bad,
    fit_calibration,
)
from airshower.baseline.front import (
    SPHERE_MIN_RADIUS_M,
    SPHERE_START_M,
    Stations,
    axis_sigma_deg,
    by_multiplicity,
    plane_fit_packed,
    sphere_fit,
    time_weights,
)
from airshower.baseline.ldf import LdfFit, ground_z, ldf_fit
from airshower.baseline.settings import (
    FLAG_FEW_STATIONS,
    FLAG_FIT_FAILED,
    FLAG_OK,
    BaselineSettings,
    flag_counts,
)
from airshower.contract import (
    check_array as check_array,  # the station table's check, baseline.check_array as before
)

log = logging.getLogger(__name__)

# what predictions.h5 of the baseline carries beyond predictionfile.PREDICTION_UNITS
RECONSTRUCTED_UNITS = {
    "zenith_rec": "rad",
    "azimuth_rec": "rad",
    "core_rec": "m",
    "s1000_vem": "VEM",
    "n_triggered": "1",
    "flag": "0 ok, 1 fewer than min_stations triggered, 2 fit failed",
}


# the copies of the showers' time and signal a baseline job holds when it reads them at once (the
# file's, the split's rows and the fits' temporaries: 2.9 measured at 400,000 showers); above
# preparation.memory_budget_mb it reads them block by block
IMAGE_COPIES = 3.0


def read_showers(path, memory_budget_mb: float) -> dict[str, np.ndarray] | showerfile.ShowerBlocks:
    """The showers of ``path`` for the baseline: in memory, or block by block above the budget
    (:func:`airshower.showerfile.showers_within`; the reconstruction is the same up to rounding)."""
    showers = showerfile.showers_within(path, memory_budget_mb, IMAGE_COPIES)
    if isinstance(showers, showerfile.ShowerBlocks):
        log.info("%s above preparation.memory_budget_mb: reconstructed block by block", path)
    return showers


def reconstruct(
    time_us: np.ndarray,
    signal_vem: np.ndarray,
    positions_m: np.ndarray,
    settings: BaselineSettings,
    chunk_size: int = 1024,
) -> dict[str, np.ndarray]:
    """Direction, core and S(1000) of every event.

    Parameters
    ----------
    time_us, signal_vem
        (N, n_side, n_side) images (NaN where silent); flattened in C order they match
    positions_m
        (n_side * n_side, 3) station positions (m), the ``detector`` dataset.
    chunk_size
        events per vectorized batch.

    Returns
    -------
    dict with ``axis`` (N, 3), ``zenith_rec``, ``azimuth_rec`` (rad), ``core_rec`` (N, 2) m,
    ``s1000_vem``, ``total_signal_vem``, ``n_triggered`` (int16) and ``flag`` (int8:
    0 ok, 1 fewer than ``min_stations`` triggered, 2 fit failed). Flagged events have NaN
    direction, core or S(1000) where those could not be obtained.

    Events are processed in chunks of similar station multiplicity, so the packed arrays stay
    small; the result does not depend on the chunking (up to rounding).
    """
    n = len(signal_vem)
    if n == 0:
        empty = Stations(np.zeros((0, 1)), np.zeros((0, 1)), np.zeros((0, 1, 3)), np.zeros((0, 1), bool))
        return {k: v[:0] for k, v in _reconstruct_packed(empty, settings).items()}
    return by_multiplicity(
        time_us, signal_vem, positions_m, chunk_size, lambda st: _reconstruct_packed(st, settings)
    )


def _reconstruct_packed(stations: Stations, settings: BaselineSettings) -> dict[str, np.ndarray]:
    """:func:`reconstruct` of one chunk of packed stations."""
    t, s, pos, mask = stations
    n_trig = mask.sum(axis=1)
    enough = n_trig >= settings.min_stations
    w_fit = np.where(enough[:, None], time_weights(s, mask, settings), 0.0)
    used = mask & enough[:, None]
    axis, ok_dir = plane_fit_packed(t, pos, w_fit)
    axis_sigma = axis_sigma_deg(t, pos, w_fit, axis)  # the plane's, also for the curved front
    ldf = ldf_fit(s, pos, used, axis, settings)
    ok_ldf = ldf.ok
    if settings.front == "curved":
        w_curved = np.where((ok_dir & ok_ldf)[:, None], w_fit, 0.0)
        axis, ldf = _curved_front(stations, used, w_curved, axis, ldf, settings)
    ok = enough & ok_dir & ok_ldf
    flag = np.where(~enough, FLAG_FEW_STATIONS, np.where(ok, FLAG_OK, FLAG_FIT_FAILED)).astype(np.int8)
    zenith, azimuth = geometry.zenith_azimuth(axis)
    return {
        "axis": axis,
        "zenith_rec": zenith,
        "azimuth_rec": azimuth,
        "core_rec": ldf.core_m,
        "s1000_vem": ldf.s1000_vem,
        "ln_s1000_sigma": ldf.ln_s1000_sigma,
        "axis_sigma_deg": axis_sigma,
        "core_sigma_m": ldf.core_sigma_m,
        "total_signal_vem": s.sum(axis=1),
        "n_triggered": n_trig.astype(np.int16),
        "flag": flag,
    }


def _curved_front(
    stations: Stations,
    used: np.ndarray,
    weights: np.ndarray,
    axis: np.ndarray,
    ldf: LdfFit,
    settings: BaselineSettings,
) -> tuple[np.ndarray, LdfFit]:
    """Axis and LDF fit (core, S(1000), its uncertainty) with a spherical front: the axis joins the
    core to the fitted point source, alternated twice with the LDF fit (events where the sphere
    fails keep the plane's)."""
    t, s, pos, mask = stations
    core, s1000, sigma, core_sigma = ldf.core_m, ldf.s1000_vem, ldf.ln_s1000_sigma, ldf.core_sigma_m
    ground = ground_z(pos, mask)
    start = np.column_stack([np.nan_to_num(core), ground]) + SPHERE_START_M * np.nan_to_num(axis)
    origin, ok_s = sphere_fit(t, pos, weights, start)
    for _ in range(2):  # the axis joins the core to the point source: alternate with the LDF fit
        to_origin = origin - np.column_stack([np.nan_to_num(core), ground])
        radius = np.linalg.norm(to_origin, axis=1)
        axis_s = to_origin / np.where(ok_s, radius, 1.0)[:, None]
        good = ok_s & (radius > SPHERE_MIN_RADIUS_M) & (axis_s[:, 2] > 0)
        axis = np.where(good[:, None], axis_s, axis)
        fit = ldf_fit(s, pos, used, axis, settings, core_start_m=core)
        better = good & fit.ok
        core = np.where(better[:, None], fit.core_m, core)
        s1000 = np.where(better, fit.s1000_vem, s1000)
        sigma = np.where(better, fit.ln_s1000_sigma, sigma)
        core_sigma = np.where(better, fit.core_sigma_m, core_sigma)
    return axis, ldf._replace(core_m=core, s1000_vem=s1000, ln_s1000_sigma=sigma, core_sigma_m=core_sigma)


# ----------------------------------------------------------------------------------------------
# the whole baseline: calibrate on the training split, predict the test split


def _check_split(showers: Mapping[str, np.ndarray], split: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    index = np.asarray(split["index"], dtype=np.int64)
    n = len(showers["energy"])
    if index.size and (index.min() < 0 or index.max() >= n):
        raise ValueError(f"{name}: dataset 'index' points outside showers.h5 (rows 0..{n - 1})")
    if not np.allclose(split["energy"], showers["energy"][index], rtol=1e-6):
        raise ValueError(f"{name}: dataset 'energy' does not match showers.h5 at the rows of 'index'")
    return index


def run(
    showers: Mapping[str, np.ndarray],
    train: Mapping[str, np.ndarray],
    test: Mapping[str, np.ndarray],
    settings: BaselineSettings,
    names: tuple[str, str] = ("train", "test"),
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[dict[str, np.ndarray], dict]:
    """Calibrate the baseline on the training split and reconstruct the test split.

    Parameters
    ----------
    showers
        the raw showers (``io.read_showers``): ``time``, ``signal``, ``detector``, ``mass``,
        ``xmax``, ``axis``, ``core``.
    train, test
        ``index`` (rows of ``showers``), ``energy`` (EeV) and ``zenith`` (rad) of each split.
    names
        how errors name the two splits (their file paths).
    clock
        a ``time.perf_counter``-like function for the throughput.

    Returns
    -------
    predictions
        the test-split datasets of ``predictions.h5`` (:func:`predict_with_calibration`).
    calibration
        the JSON-serializable calibration with fit statistics, flag counts per split and the
        throughput ``inference_events_per_s`` (reconstruction and calibration of the test split).
    """
    calibration = calibrate(showers, train, settings, names[0])
    predictions, record = predict_with_calibration(showers, test, calibration, settings, names[1], clock)
    calibration["test_statistics"] = record["test_statistics"]
    calibration["flagged"]["test"] = record["flagged"]
    calibration["inference_events_per_s"] = record["inference_events_per_s"]
    calibration["fallback_direction_core"] = record["fallback_direction_core"]
    return predictions, calibration


def calibrate(
    showers: Mapping[str, np.ndarray],
    train: Mapping[str, np.ndarray],
    settings: BaselineSettings,
    name: str = "train",
) -> dict:
    """The baseline's energy calibration fitted on the training split ``train`` (``index``,
    ``energy``, ``zenith``), JSON-serializable: :func:`fit_calibration`'s result with the flag
    counts of the training split (``flagged.train``) and the reconstruction ``settings``; the
    rule ``baseline`` writes it, ``baseline_predict`` applies it to every test set. ``name``: how
    errors name the split (its file path)."""
    tr = _check_split(showers, train, name)
    reco_train, _ = reconstruct_rows(showers, tr, settings)
    try:
        calibration = fit_calibration(reco_train, train["energy"], settings)
    except ValueError as exc:
        raise ValueError(f"{name}: baseline calibration on this training split: {exc}") from None
    calibration["flagged"] = {"train": flag_counts(reco_train["flag"])}
    calibration["settings"] = settings.reconstruction_settings()
    return calibration


def predict_with_calibration(
    showers: Mapping[str, np.ndarray],
    split: Mapping[str, np.ndarray],
    calibration: Mapping,
    settings: BaselineSettings,
    name: str = "test",
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[dict[str, np.ndarray], dict]:
    """Reconstruct the showers of ``split`` with a given calibration, never refitted: the test
    split of :func:`run`, or a systematic variant's test set with the nominal
    ``calibration.json`` (:mod:`airshower.systematics`).

    Parameters
    ----------
    showers
        the raw showers (``io.read_showers``), as for :func:`run`.
    split
        ``index`` (rows of ``showers``), ``energy`` (EeV) and ``zenith`` (rad) of the events.
    calibration
        :func:`airshower.baseline.calibration.fit_calibration`'s result, or that dict read back
        from ``calibration.json`` (extra keys ignored).
    name
        how errors name the split (its file path).

    Returns
    -------
    predictions
        the datasets of ``predictions.h5``: :data:`predictionfile.PREDICTION_UNITS`, the reconstructed
        ``energy_pred``, ``energy_sigma`` (EeV, :func:`airshower.baseline.calibration.energy_sigma`),
        ``axis_pred`` and ``core_pred`` (:func:`direction_and_core`), and :data:`RECONSTRUCTED_UNITS`.
    record
        ``test_statistics`` (:func:`energy_statistics`), ``flagged`` (flag counts),
        ``inference_events_per_s`` (reconstruction and calibration) and
        ``fallback_direction_core`` (events without a fitted direction or core).
    """
    te = _check_split(showers, split, name)
    positions = showers["detector"]
    start = clock()
    reco, barycentre = reconstruct_rows(showers, te, settings)
    energy_pred = apply_calibration(reco, calibration, settings)
    sigma_eev = energy_sigma(reco, calibration, energy_pred)
    elapsed = clock() - start
    first_bad(energy_pred, np.isfinite(energy_pred), f"{name}: baseline energies must be finite", "EeV")
    good = np.isfinite(sigma_eev) & (sigma_eev > 0)
    first_bad(sigma_eev, good, f"{name}: baseline energy uncertainties must be positive", "EeV")

    energy_true = np.asarray(split["energy"], dtype=np.float64)
    labels = {
        "energy": energy_true,
        "index": te,
        "zenith": split["zenith"],
        "mass": showers["mass"][te],
        "xmax": showers["xmax"][te],
        "axis": showers["axis"][te],
        "core": showers["core"][te],
        **({"muon": showers["muon"][te]} if "muon" in showers else {}),
    }
    axis, core = direction_and_core(reco, barycentre)
    axis_sigma, core_sigma = direction_and_core_sigma(reco, positions)
    record = {
        "test_statistics": energy_statistics(energy_pred, energy_true, reco["flag"]),
        "flagged": flag_counts(reco["flag"]),
        "inference_events_per_s": len(te) / elapsed if elapsed > 0 else float("nan"),
        "fallback_direction_core": int(np.count_nonzero(~np.isfinite(reco["core_rec"]).all(axis=1))),
    }
    predicted = {
        "energy_pred": energy_pred,
        "energy_sigma": sigma_eev,
        "axis_pred": axis,
        "axis_sigma": axis_sigma,
        "core_pred": core,
        "core_sigma": core_sigma,
        **{key: reco[key] for key in RECONSTRUCTED_UNITS},
    }
    return predictionfile.prediction_datasets(labels, predicted), record


def reconstruct_rows(
    showers: Mapping[str, np.ndarray] | showerfile.ShowerBlocks, index: np.ndarray, settings: BaselineSettings
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """:func:`reconstruct` of the rows ``index`` of ``showers`` and their
    :func:`signal_barycentre`: from the arrays of :func:`airshower.io.read_showers`, or block by
    block from an :class:`airshower.showerfile.ShowerBlocks` (a file larger than the memory budget; the
    same fits, chunked differently: equal up to rounding)."""
    positions = showers["detector"]
    if not isinstance(showers, showerfile.ShowerBlocks):
        signal = showers["signal"][index]
        return reconstruct(showers["time"][index], signal, positions, settings), signal_barycentre(
            signal, positions
        )

    def per_block(block):
        reco = reconstruct(block["time"], block["signal"], positions, settings)
        return {**reco, "barycentre": signal_barycentre(block["signal"], positions)}

    reco = showerfile.gather(showers, index, per_block)
    if not reco:  # no rows
        return reconstruct(np.zeros((0, 1)), np.zeros((0, 1)), positions, settings), np.empty((0, 2))
    return reco, reco.pop("barycentre")


def signal_barycentre(signal_vem: np.ndarray, positions_m: np.ndarray) -> np.ndarray:
    """(N, 2) m: the signal-weighted barycentre of each event's triggered stations, the array's
    centre for an event without any (the core of a flagged event, :func:`direction_and_core`)."""
    weights = np.nan_to_num(np.asarray(signal_vem, dtype=np.float64).reshape(len(signal_vem), -1), nan=0.0)
    total = weights.sum(axis=1, keepdims=True)
    centre = positions_m[:, :2].mean(axis=0)
    return np.where(total > 0, weights @ positions_m[:, :2] / np.where(total > 0, total, 1.0), centre)


def direction_and_core(
    reco: Mapping[str, np.ndarray], barycentre: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The baseline's direction and core of every event, as the study compares them: the fits'
    (``axis``, ``core_rec``), and where a fit gave none (a flagged event) the vertical axis and
    the signal-weighted barycentre of the triggered stations (:func:`signal_barycentre`), so
    that every event counts in the metrics as the energy's fallback does."""
    axis = np.asarray(reco["axis"], dtype=np.float64)
    axis = np.where(np.isfinite(axis).all(axis=1, keepdims=True), axis, np.array([0.0, 0.0, 1.0]))
    core = np.asarray(reco["core_rec"], dtype=np.float64)
    core = np.where(np.isfinite(core).all(axis=1, keepdims=True), core, barycentre)
    return axis, core


# the widths of a fallback direction (vertical) and core (the barycentre): a zenith of up to 60
# deg and a core anywhere within the array's spacing
FALLBACK_AXIS_SIGMA_DEG = 30.0


def direction_and_core_sigma(
    reco: Mapping[str, np.ndarray], positions_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The per-event widths of the baseline's direction and core (:func:`direction_and_core`):
    the fits' (``axis_sigma_deg`` of the plane fit's covariance, ``core_sigma_m`` of the LDF
    fit's), and where a fit gave none (the fallback events) :data:`FALLBACK_AXIS_SIGMA_DEG` and
    the array's station spacing."""
    spacing = geometry.station_spacing(positions_m)
    axis_sigma = np.asarray(reco["axis_sigma_deg"], dtype=np.float64)
    core_sigma = np.asarray(reco["core_sigma_m"], dtype=np.float64)
    fitted_axis = np.isfinite(axis_sigma) & (axis_sigma > 0) & np.isfinite(reco["axis"]).all(axis=1)
    fitted_core = np.isfinite(core_sigma) & (core_sigma > 0) & np.isfinite(reco["core_rec"]).all(axis=1)
    return (
        np.where(fitted_axis, axis_sigma, FALLBACK_AXIS_SIGMA_DEG),
        np.where(fitted_core, core_sigma, spacing),
    )

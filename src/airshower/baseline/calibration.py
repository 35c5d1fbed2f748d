"""Energy of the classical reconstruction: the constant-intensity zenith correction of S(1000),
S38, the calibration ``E = A S38^B`` with its total-signal fallback, the per-event energy
uncertainty (:func:`energy_sigma`) and their summaries.

The method (equal-exposure bins in ``cos^2`` of the reconstructed zenith, intensity ranks, no true
energy in the zenith correction) is described in the section "The classical baseline" of the
top-level ``README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from airshower import contract, statistics
from airshower.baseline.settings import FLAG_OK, BaselineSettings

MIN_EVENTS_PER_CIC_BIN = 50


def cic_variable(zenith_rad: np.ndarray, reference_zenith_deg: float) -> np.ndarray:
    """``x = cos^2(theta) - cos^2(theta_ref)``."""
    return np.cos(zenith_rad) ** 2 - np.cos(np.radians(reference_zenith_deg)) ** 2


def zenith_attenuation(
    zenith_rad: np.ndarray, coefficients: np.ndarray, reference_zenith_deg: float
) -> np.ndarray:
    """``f_CIC = exp(sum_k c_k x^k)`` (k = 1..degree), so ``S38 = S(1000) / f_CIC``."""
    x = cic_variable(zenith_rad, reference_zenith_deg)
    log_f = np.zeros_like(x)
    for k, c in enumerate(np.asarray(coefficients, dtype=np.float64), start=1):
        log_f = log_f + c * x**k
    return np.exp(log_f)


def _cic_bins(zenith_rad: np.ndarray, valid: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """``cos^2`` of the zenith (0 where unknown) and the bin (equal counts of ``valid`` events)
    of every event."""
    cos2 = np.cos(np.where(np.isfinite(zenith_rad), zenith_rad, np.pi / 2)) ** 2
    # every event takes part in the binning; failed events get the lowest rank in their bin
    edges = np.quantile(cos2[valid], np.linspace(0, 1, n_bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    which = np.clip(np.searchsorted(edges, cos2, side="right") - 1, 0, n_bins - 1)
    return cos2, which


def _cic_design(
    log_s: np.ndarray,
    cos2: np.ndarray,
    which: np.ndarray,
    valid: np.ndarray,
    n_bins: int,
    settings: BaselineSettings,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Least-squares system of ``ln S_q(bin) = a_q + sum_k c_k x_bin^k`` (one row per bin and
    finite quantile, intercepts of quantiles without a row dropped) and the ``x`` of each bin."""
    degree = settings.zenith_correction
    qs = np.asarray(settings.cic_quantiles)
    rows, ys, x_bins = [], [], []
    for b in range(n_bins):
        sel = which == b
        zenith_b = np.arccos(np.sqrt(np.clip(cos2[sel & valid], 0, 1)))
        x_b = float(np.mean(cic_variable(zenith_b, settings.reference_zenith_deg)))
        x_bins.append(x_b)
        values = np.quantile(log_s[sel], qs, method="linear")
        for iq in np.flatnonzero(np.isfinite(values)):
            row = np.zeros(len(qs) + degree)
            row[iq] = 1.0
            row[len(qs) :] = [x_b**k for k in range(1, degree + 1)]
            rows.append(row)
            ys.append(values[iq])
    design, y = np.array(rows), np.array(ys)
    used = np.any(design[:, : len(qs)] != 0, axis=0)
    design = np.concatenate([design[:, : len(qs)][:, used], design[:, len(qs) :]], axis=1)
    return design, y, x_bins


def fit_zenith_correction(
    s1000_vem: np.ndarray, zenith_rad: np.ndarray, ok: np.ndarray, settings: BaselineSettings
) -> dict:
    """Constant-intensity fit of the zenith attenuation of S(1000) (no true energy used).

    Events are sorted into ``cic_bins`` bins of equal numbers of events in ``cos^2`` of the
    reconstructed zenith; for an isotropic flux each bin has the same exposure, so the
    S(1000) at a given intensity rank (quantile ``q`` within the bin) belongs to the same
    energy in every bin. ``ln S_q(bin) = a_q + sum_k c_k x_bin^k`` is fitted by least squares
    over all bins and quantiles (one intercept per quantile, shared ``c_k``). Events that were
    not reconstructed (``ok`` False) rank below all others, so ranks are not shifted by them.

    Returns
    -------
    dict with ``coefficients`` (c_1..c_degree), ``degree``, ``n_bins``, ``x_bins`` (x of each
    bin) and ``rms_ln_residual``.
    """
    degree = settings.zenith_correction
    if degree == 0:
        return {"coefficients": [], "degree": 0, "n_bins": 0}
    valid_zen = ok & np.isfinite(zenith_rad)
    n_valid = np.count_nonzero(valid_zen)
    if n_valid < MIN_EVENTS_PER_CIC_BIN * (degree + 1):
        raise ValueError(
            f"constant-intensity zenith correction of degree {degree} needs at least "
            f"{MIN_EVENTS_PER_CIC_BIN * (degree + 1)} reconstructed training events, got {n_valid}; "
            "lower baseline.zenith_correction"
        )
    n_bins = int(min(settings.cic_bins, max(n_valid // MIN_EVENTS_PER_CIC_BIN, degree + 1)))
    cos2, which = _cic_bins(zenith_rad, valid_zen, n_bins)
    log_s = np.where(ok & np.isfinite(s1000_vem), np.log(np.where(ok, s1000_vem, 1.0)), -np.inf)
    design, y, x_bins = _cic_design(log_s, cos2, which, valid_zen, n_bins, settings)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return {
        "coefficients": [float(v) for v in coef[-degree:]],
        "degree": degree,
        "n_bins": n_bins,
        "x_bins": x_bins,
        "rms_ln_residual": float(np.sqrt(np.mean(resid**2))),
    }


def s38(
    s1000_vem: np.ndarray, zenith_rad: np.ndarray, zenith_fit: Mapping, settings: BaselineSettings
) -> np.ndarray:
    """Zenith-corrected size: the S(1000) the shower would have had at 38 deg."""
    return s1000_vem / zenith_attenuation(
        zenith_rad, zenith_fit["coefficients"], settings.reference_zenith_deg
    )


def _unbiased_log_line(size: np.ndarray, energy_eev: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of ``log10 E = a + b log10 size`` (least squares), with ``a`` then
    shifted so that the mean of ``E_rec / E_true`` is one."""
    log_size = np.log10(size)
    slope, intercept = np.polyfit(log_size, np.log10(energy_eev), 1)
    ratio = 10 ** (intercept + slope * log_size) / energy_eev
    intercept -= np.log10(np.mean(ratio))  # mean E_rec / E_true = 1
    return slope, intercept


def first_bad(values: np.ndarray, good: np.ndarray, what: str, unit: str) -> None:
    """Raise ValueError naming how many ``values`` are not ``good`` and the first of them."""
    failed = contract.failures(good, lambda i: f"{values[i]:.6g} {unit}")
    if failed:
        raise ValueError(f"{what}: {failed}")


def _check_finite(calib: Mapping) -> None:
    """A calibration with a NaN or infinite number is an error here, not NaN energies later."""
    numbers = {
        "A": calib["A"],
        "B": calib["B"],
        **{f"c{k}": c for k, c in enumerate(calib["zenith_correction"]["coefficients"], start=1)},
        "fallback a": calib["fallback"]["a"],
        "fallback b": calib["fallback"]["b"],
        **{f"uncertainty {k}": v for k, v in calib.get("uncertainty", {}).items() if k != "formula"},
    }
    if not all(np.isfinite(v) for v in numbers.values()):
        shown = ", ".join(f"{k} = {v:.6g}" for k, v in numbers.items())
        raise ValueError(
            f"the energy calibration is not finite ({shown}): the S(1000) or total signals of the "
            "reconstructed training events cannot be calibrated"
        )


def fit_calibration(
    reco: Mapping[str, np.ndarray], energy_eev: np.ndarray, settings: BaselineSettings
) -> dict:
    """Fit the energy calibration on the training split.

    Parameters
    ----------
    reco
        output of :func:`airshower.baseline.reconstruct` for the training events.
    energy_eev
        (N,) true energies of those events.

    Returns
    -------
    dict (JSON-serializable): ``A`` (EeV per VEM^B), ``B``, ``zenith_correction``,
    ``fallback`` (total-signal calibration), ``mean_energy_eev`` and fit statistics.

    Raises
    ------
    ValueError
        naming the first event whose true energy is not positive and finite, or the numbers
        of a calibration that came out NaN or infinite.
    """
    energy_eev = np.asarray(energy_eev, dtype=np.float64)
    first_bad(energy_eev, np.isfinite(energy_eev) & (energy_eev > 0), "true energies must be positive", "EeV")
    ok = reco["flag"] == FLAG_OK
    if np.count_nonzero(ok) < 3:
        raise ValueError(f"only {np.count_nonzero(ok)} training events were reconstructed: cannot calibrate")
    s1000, total = reco["s1000_vem"], reco["total_signal_vem"]
    first_bad(s1000, ~ok | ((s1000 > 0) & (s1000 < np.inf)), "S(1000) must be positive and finite", "VEM")
    first_bad(total, total != np.inf, "total signals must be finite", "VEM")
    zen_fit = fit_zenith_correction(reco["s1000_vem"], reco["zenith_rec"], ok, settings)
    size = s38(reco["s1000_vem"][ok], reco["zenith_rec"][ok], zen_fit, settings)
    b, log_a = _unbiased_log_line(size, energy_eev[ok])
    has_signal = reco["total_signal_vem"] > 0
    fb_b, fb_a = _unbiased_log_line(reco["total_signal_vem"][has_signal], energy_eev[has_signal])
    calib = {
        "A": float(10**log_a),
        "B": float(b),
        "formula": (
            "E/EeV = A * (S38/VEM)^B, S38 = S1000 / exp(sum_k c_k x^k), "
            f"x = cos^2(zenith) - cos^2({settings.reference_zenith_deg:g} deg)"
        ),
        "reference_zenith_deg": settings.reference_zenith_deg,
        "zenith_correction": zen_fit,
        "fallback": {
            "formula": (
                "log10(E/EeV) = a + b log10(total signal / VEM), clipped to energy_range_eev; "
                "training mean energy if no signal"
            ),
            "a": float(fb_a),
            "b": float(fb_b),
            "energy_range_eev": [float(energy_eev.min()), float(energy_eev.max())],
        },
        "mean_energy_eev": float(energy_eev.mean()),
    }
    _check_finite(calib)
    e_rec = apply_calibration(reco, calib, settings)
    calib["uncertainty"] = fit_uncertainty(reco, calib, e_rec, energy_eev)
    _check_finite(calib)  # and the uncertainty's terms
    calib["train_statistics"] = energy_statistics(e_rec, energy_eev, reco["flag"])
    return calib


def fit_uncertainty(
    reco: Mapping[str, np.ndarray], calibration: Mapping, energy_rec_eev: np.ndarray, energy_eev: np.ndarray
) -> dict:
    """The terms of :func:`energy_sigma`, measured on the training split.

    ``intrinsic_ln_scatter``: the scatter of ``ln(E_rec / E_true)`` of the reconstructed events
    that the LDF fit's statistical uncertainty does not explain, ``sqrt(max(0, s^2 - <(B
    sigma_lnS)^2>))`` with ``s`` the sample spread (:func:`airshower.statistics.spread`): the
    shower-to-shower fluctuations of S38 at fixed energy and the fixed LDF slope.
    ``fallback_ln_scatter``: the spread of ``ln(E_rec / E_true)`` of the total-signal fallback over
    the training events with signal; ``no_signal_sigma_eev``: the spread of the true energies
    (EeV), the width of the mean-energy guess.
    """
    ok = reco["flag"] == FLAG_OK
    stat = calibration["B"] * np.asarray(reco["ln_s1000_sigma"])[ok]
    scatter2 = float(statistics.spread(np.log(energy_rec_eev[ok] / energy_eev[ok]))) ** 2
    total = reco["total_signal_vem"]
    fb = calibration["fallback"]
    from_total = 10 ** (fb["a"] + fb["b"] * np.log10(total[total > 0]))
    fallback = np.clip(from_total, *fb["energy_range_eev"]) / energy_eev[total > 0]
    return {
        "formula": (
            "sigma_E / E = sqrt((B sigma_lnS1000)^2 + intrinsic_ln_scatter^2) for reconstructed "
            "events, fallback_ln_scatter for the total-signal fallback, no_signal_sigma_eev (EeV) "
            "without signal"
        ),
        "intrinsic_ln_scatter": float(np.sqrt(max(scatter2 - float(np.mean(stat**2)), 0.0))),
        "fallback_ln_scatter": float(statistics.spread(np.log(fallback))),
        "no_signal_sigma_eev": float(statistics.spread(energy_eev)),
    }


def energy_sigma(
    reco: Mapping[str, np.ndarray], calibration: Mapping, energy_rec_eev: np.ndarray
) -> np.ndarray:
    """Per-event 1-sigma uncertainty (EeV, float64) of the energies of :func:`apply_calibration`.

    Reconstructed events: ``sigma_E / E = sqrt((B sigma_lnS1000)^2 + intrinsic_ln_scatter^2)``,
    the LDF fit's uncertainty of ``ln S(1000)`` (``reco["ln_s1000_sigma"]``, core free) through
    ``E = A S38^B`` (the zenith correction's own uncertainty is neglected) plus the calibration's
    scatter at fixed S38 (:func:`fit_uncertainty`). On the default study's 7,500 test events the
    statistical part alone has 55 % of the events within one sigma, the sum 71.5 % (94.5 % within
    two; nominal 68.3 % and 95.4 %). Flagged events: the fallback's scatter, or the spread of the
    training energies where there is no signal.
    """
    unc = calibration["uncertainty"]
    ok = reco["flag"] == FLAG_OK
    stat = calibration["B"] * np.where(ok, reco["ln_s1000_sigma"], 0.0)
    fallback = np.where(
        reco["total_signal_vem"] > 0,
        unc["fallback_ln_scatter"] * energy_rec_eev,
        unc["no_signal_sigma_eev"],
    )
    sigma = np.where(ok, np.hypot(stat, unc["intrinsic_ln_scatter"]) * energy_rec_eev, fallback)
    return sigma.astype(np.float64)


def apply_calibration(
    reco: Mapping[str, np.ndarray], calibration: Mapping, settings: BaselineSettings
) -> np.ndarray:
    """Energies (EeV, float64) of reconstructed events; flagged events get the fallback."""
    flag = reco["flag"]
    ok = flag == FLAG_OK
    size = s38(
        np.where(ok, reco["s1000_vem"], 1.0),
        np.where(ok, reco["zenith_rec"], 0.0),
        calibration["zenith_correction"],
        settings,
    )
    energy = calibration["A"] * size ** calibration["B"]
    total = reco["total_signal_vem"]
    fb = calibration["fallback"]
    from_total = 10 ** (fb["a"] + fb["b"] * np.log10(np.where(total > 0, total, 1.0)))
    fallback = np.where(
        total > 0, np.clip(from_total, *fb["energy_range_eev"]), calibration["mean_energy_eev"]
    )
    return np.where(ok, energy, fallback).astype(np.float64)


def _residual_summary(energy_rec: np.ndarray, energy_true: np.ndarray) -> dict:
    """Bias (mean) and resolution (:func:`airshower.statistics.spread`) of the relative, absolute
    (EeV) and log10 residuals; NaN where there are too few events."""
    rel = energy_rec / energy_true - 1.0
    diff = energy_rec - energy_true
    dlog = np.log10(energy_rec / energy_true)
    empty = rel.size == 0
    return {
        "n_events": int(rel.size),
        "relative_bias": float("nan") if empty else float(rel.mean()),
        "relative_resolution": float(statistics.spread(rel)),
        "bias_eev": float("nan") if empty else float(np.mean(diff)),
        "resolution_eev": float(statistics.spread(diff)),
        "log10_bias": float("nan") if empty else float(dlog.mean()),
        "log10_resolution": float(statistics.spread(dlog)),
    }


def energy_statistics(energy_rec: np.ndarray, energy_true: np.ndarray, flag: np.ndarray) -> dict:
    """Bias and resolution summaries of reconstructed energies (all events and the unflagged)."""
    return {
        name: _residual_summary(energy_rec[sel], energy_true[sel])
        for name, sel in (("all", np.ones(len(flag), bool)), ("ok", flag == FLAG_OK))
    }

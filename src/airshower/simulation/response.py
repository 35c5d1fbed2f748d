"""Station response: expected signals, particle counts, arrival-time delays, noise moments, trigger.

Per station (arrays of shape ``(n_events, n_stations)`` or flat; nothing loops over particles):
expected muon and electromagnetic signals (energy scaling, mass-dependent muon share, lateral
fall-off, attenuation, saturation; :class:`StationModel`), particle counts
``max(round(S + sqrt(S) g), 0)`` (1 particle = 1 VEM), and the log-normal arrival-time delays
(:class:`TraceModel`) that decide which particles fall inside the trace window and in which bin.

Trigger: a station triggers when its integrated signal *including* the noise pedestal is at
least ``trigger.threshold_vem`` (80 x 1.2 x 1.2 = 115.2 VEM). The stored ``signal`` has the mean
pedestal of a particle-free trace (``n_bins E[max(abs (1 + spread g), 0)]`` = 96.4 VEM)
subtracted and is clipped at 0 (a triggered station always has at least 18.8 VEM left). With
``noise.enabled: false`` the pedestal is this mean exactly, so the trigger acts at the same
particle number. Silent stations are NaN.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

from airshower.simulation.settings import NoiseModel, SimulationSettings, StationModel, TraceModel


def expected_signals(
    station: StationModel, log10_energy_ev, mass, r_m, dx_gcm2
) -> tuple[np.ndarray, np.ndarray]:
    """Expected muon and electromagnetic signals (VEM), saturation included.

    ``log10_energy_ev`` and ``mass`` broadcast against ``r_m`` and ``dx_gcm2`` (e.g. shapes
    (n, 1) against (n, n_stations)).
    """
    s0 = station.s1000_vem * 10.0 ** (np.asarray(log10_energy_ev) - station.reference_log10_energy_ev)
    r1 = station.muon_share * np.asarray(mass, dtype=float) ** station.muon_share_mass_index
    r2 = station.em_share
    # the lateral and attenuation factors in float32 (SIMD log/exp; 1e-7 relative precision)
    f32 = np.float32
    r_m = np.asarray(r_m, dtype=f32)
    dx_gcm2 = np.asarray(dx_gcm2, dtype=f32)
    ln_r = np.log(np.maximum(r_m, f32(station.min_distance_m)) * f32(1.0 / station.reference_distance_m))
    ln_d = np.log(np.maximum(dx_gcm2, f32(1e-9)) * f32(1.0 / station.attenuation_depth_gcm2))
    ln_cap = f32(np.log(station.max_attenuation_factor))
    s_mu = (s0 * r1 / (r1 + r2)) * np.exp(
        f32(-station.muon_lateral_index) * ln_r
        + np.minimum(f32(-station.muon_attenuation_index) * ln_d, ln_cap)
    )
    s_em = (s0 * r2 / (r1 + r2)) * np.exp(
        f32(-station.em_lateral_index) * ln_r + np.minimum(f32(-station.em_attenuation_index) * ln_d, ln_cap)
    )
    total = s_mu + s_em
    scale = np.minimum(1.0, station.saturation_vem / np.maximum(total, 1e-300))
    return s_mu * scale, s_em * scale


def particle_counts(expected, rng: np.random.Generator, fluctuations: bool) -> np.ndarray:
    """Detected particles ``max(round(S + sqrt(S) g), 0)`` (``round(S)`` without fluctuations), float64."""
    expected = np.asarray(expected, dtype=float)
    if not fluctuations:
        return np.rint(expected)
    return np.maximum(np.rint(expected + np.sqrt(expected) * rng.standard_normal(expected.shape)), 0.0)


# ---------------------------------------------------------------------------------------------
# arrival-time delays


def delay_medians_ns(trace: TraceModel, r_m, dx_gcm2) -> tuple[np.ndarray, np.ndarray]:
    """Medians (ns) of the log-normal muon and em delays at axis distance ``r_m`` and depth ``dx_gcm2``."""
    x = (np.asarray(r_m, dtype=float) / trace.delay_distance_m) ** trace.delay_distance_index
    d = np.asarray(dx_gcm2, dtype=float) / trace.delay_depth_gcm2
    m_mu = trace.muon_delay_ns + trace.muon_delay_scale_ns * x * np.maximum(
        1 - trace.muon_delay_depth_coefficient * d, 0
    )
    m_em = trace.em_delay_ns + trace.em_delay_scale_ns * x * np.maximum(
        1 - trace.em_delay_depth_coefficient * d, 0
    )
    return m_mu, m_em


def em_shift_ns(trace: TraceModel, median_mu_ns, median_em_ns) -> np.ndarray:
    """Shift (ns) of the em delays: ``(median_em - median_mu) / em_shift_divisor``."""
    return (np.asarray(median_em_ns) - np.asarray(median_mu_ns)) / trace.em_shift_divisor


def delay_cdf(t_ns, median_ns, shift_ns, sigma: float) -> np.ndarray:
    """P(delay <= t) of a log-normal delay with median ``median_ns`` shifted by ``shift_ns``."""
    u = np.asarray(t_ns, dtype=float) - shift_ns
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(np.maximum(u, 1e-300)) - np.log(median_ns)) / sigma
    return np.where(u > 0, special.ndtr(z), 0.0)


def window_loss_probabilities(trace: TraceModel, median_mu_ns, median_em_ns) -> tuple[np.ndarray, np.ndarray]:
    """Probability that a muon / em particle arrives outside the trace window ``[0, window_ns]``.

    Computed as tail probabilities (not ``1 - P(inside)``) so that tiny losses keep their precision.
    """
    m_mu = np.asarray(median_mu_ns, dtype=float)
    m_em = np.asarray(median_em_ns, dtype=float)
    s, end = trace.delay_sigma, trace.window_ns
    q_mu = special.ndtr((np.log(m_mu) - math.log(end)) / s)  # muon delays are positive
    shift = em_shift_ns(trace, m_mu, m_em)
    u_end = end - shift
    with np.errstate(divide="ignore", invalid="ignore"):
        q_em = np.where(u_end > 0, special.ndtr((np.log(m_em) - np.log(np.maximum(u_end, 1e-300))) / s), 1.0)
    early = np.flatnonzero(shift < 0)  # em particles can arrive before t = 0 only with a negative shift
    if early.size:
        q_em[early] = np.minimum(q_em[early] + delay_cdf(0.0, m_em[early], shift[early], s), 1.0)
    return q_mu, q_em


def bin_probabilities(trace: TraceModel, median_mu_ns, median_em_ns) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin arrival probabilities, shape (..., n_bins), for muons and em particles."""
    m_mu = np.asarray(median_mu_ns, dtype=float)[..., None]
    m_em = np.asarray(median_em_ns, dtype=float)[..., None]
    shift = em_shift_ns(trace, m_mu, m_em)
    edges = trace.edges_ns
    p_mu = np.diff(delay_cdf(edges, m_mu, 0.0, trace.delay_sigma), axis=-1)
    p_em = np.diff(delay_cdf(edges, m_em, shift, trace.delay_sigma), axis=-1)
    return np.maximum(p_mu, 0.0), np.maximum(p_em, 0.0)


# ---------------------------------------------------------------------------------------------
# noise pedestal and trigger


@functools.lru_cache(maxsize=8)
def empty_bin_moments(noise: NoiseModel) -> tuple[float, float, float]:
    """Mean, variance and third central moment of ``max(a (1 + s g), 0)``, the noise of an empty bin."""
    mu = noise.absolute_vem
    sd = noise.absolute_vem * noise.absolute_spread
    if sd == 0:
        return max(mu, 0.0), 0.0, 0.0
    alpha = mu / sd
    cdf, pdf = special.ndtr(alpha), math.exp(-0.5 * alpha**2) / math.sqrt(2 * math.pi)
    m1 = mu * cdf + sd * pdf
    m2 = (mu**2 + sd**2) * cdf + mu * sd * pdf
    m3 = (mu**3 + 3 * mu * sd**2) * cdf + (mu**2 + 2 * sd**2) * sd * pdf
    var = m2 - m1**2
    return float(m1), float(var), float(m3 - 3 * m1 * m2 + 2 * m1**3)


def pedestal_vem(settings: SimulationSettings) -> float:
    """Mean integrated signal of a particle-free trace (VEM); subtracted from the stored signal."""
    return settings.trace.n_bins * empty_bin_moments(settings.noise)[0]


def trigger(settings: SimulationSettings, raw_vem: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triggered stations and their stored signal (VEM, pedestal subtracted, NaN where silent)
    from the integrated signal ``raw_vem`` (pedestal included)."""
    triggered = raw_vem >= settings.trigger.threshold_vem
    signal = np.where(triggered, np.maximum(raw_vem - pedestal_vem(settings), 0.0), np.nan)
    return triggered, signal

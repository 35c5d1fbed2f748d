"""Fast binned samplers: particles in the trace window, the binned traces and their noisy integral.

Particles arriving outside the window of ``n_bins`` bins of ``bin_width_ns`` are not recorded
(as in the public code of Erdmann, Glombitza, Walz, where the integrated signal is the sum of
the trace): the in-window counts are an exact binomial thinning (:func:`thin_counts`). With
``store_traces`` the per-bin counts are one multinomial draw over the normalized bin
probabilities (together with the thinning exactly the multinomial over bins plus overflow;
see :func:`sample_traces` for how it is drawn cheaply), the detector noise is added per bin,
``clip(S_b + rel S_b g1 + abs (1 + spread g2), 0)``, and the integral is the sum over bins
(:func:`integrate_noisy_traces`). The stored ``trace_muon`` / ``trace_em`` are the detected
particles per bin *before* detector noise (VEM). Without traces the integral is drawn directly
(:mod:`airshower.simulation.integral`).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from airshower.simulation.response import em_shift_ns, empty_bin_moments
from airshower.simulation.settings import NoiseModel, TraceModel

_CHUNK_ROWS = 4096  # stations per chunk of the trace arrays (keeps the temporaries in cache)
_CATEGORICAL_MAX = 64  # up to this many particles, a station draws each particle's bin (see sample_traces)


# ---------------------------------------------------------------------------------------------
# particles inside the window


def thin_counts(n, q, rng: np.random.Generator) -> np.ndarray:
    """Exact binomial thinning: of ``n`` particles each is lost with probability ``q``; returns the kept ones.

    Same distribution as ``n - rng.binomial(n, q)``. Entries expecting at least half a lost
    particle take that binomial draw; for the others (most stations near the axis) a binomial
    draw per entry would dominate the run time, so one uniform ``u`` decides "nothing lost"
    (``u < (1 - q)^n``; certain when ``u < 1 - n q``), and only where something is lost the
    index of the first lost particle is drawn from its truncated geometric distribution
    (inverted from the same, rescaled ``u``) and the particles after it are lost independently
    (one binomial draw).
    """
    n = np.asarray(n, dtype=float)
    q = np.clip(np.asarray(q, dtype=float), 0.0, 1.0)
    u = rng.random(n.shape)
    lost = np.zeros(n.shape)
    mean_lost = n * q
    likely = np.flatnonzero(mean_lost >= 0.5)  # losses are common: one binomial draw
    if likely.size:
        lost[likely] = rng.binomial(n[likely].astype(np.int64), q[likely])
    maybe = np.flatnonzero((u >= 1.0 - mean_lost) & (mean_lost < 0.5))
    if maybe.size:
        lost[maybe] = _rare_losses(n[maybe], q[maybe], u[maybe], rng)
    return n - lost


def _rare_losses(n, q, u, rng: np.random.Generator) -> np.ndarray:
    """Lost particles where ``n q < 0.5``, given the uniform ``u`` of each entry (see thin_counts)."""
    lost = np.zeros(n.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_keep = np.log1p(-q)  # -inf for q = 1
        p_none = np.exp(n * log_keep)
        some = np.flatnonzero(u >= p_none)
        if some.size:
            p0, lk = p_none[some], log_keep[some]
            v = (u[some] - p0) / (1.0 - p0)  # uniform in [0, 1) given at least one loss
            first = np.ceil(np.log1p(-v * (1.0 - p0)) / lk)  # P(J <= j) = (1 - (1-q)^j) / (1 - p0)
            first = np.clip(np.nan_to_num(first, nan=1.0), 1.0, n[some])
            rest = (n[some] - first).astype(np.int64)
            lost[some] = 1.0 + rng.binomial(rest, q[some])
    return lost


def window_counts(
    n_mu, n_em, expected_mu, expected_em, q_mu, q_em, rng: np.random.Generator, fluctuations: bool
) -> tuple[np.ndarray, np.ndarray]:
    """In-window particles (loss probabilities ``q``): binomial thinning, or ``round(S (1 - q))``."""
    if not fluctuations:
        return np.rint(expected_mu * (1.0 - q_mu)), np.rint(expected_em * (1.0 - q_em))
    return thin_counts(n_mu, q_mu, rng), thin_counts(n_em, q_em, rng)


# ---------------------------------------------------------------------------------------------
# binned traces


def _window_cdf(trace: TraceModel, median_ns, shift_ns) -> np.ndarray:
    """P(bin <= j | inside the window), shape (rows, n_bins), of a shifted log-normal delay.

    The last column is exactly 1. A row whose window probability underflows puts its (rare)
    particles in the last bin.
    """
    ln_m = np.log(np.asarray(median_ns, dtype=float))[:, None]
    shift = np.asarray(shift_ns, dtype=float)
    with np.errstate(divide="ignore"):
        if not np.any(shift):
            z = np.log(trace.edges_ns)[None, :] - ln_m
        else:
            z = trace.edges_ns[None, :] - shift[:, None]
            np.maximum(z, 1e-300, out=z)  # t <= 0: ndtr(-inf-like) = 0 exactly
            np.log(z, out=z)
            z -= ln_m
    z *= 1.0 / trace.delay_sigma
    cdf = special.ndtr(z, out=z)
    inside = cdf[:, 1:]
    if np.any(cdf[:, 0]):
        inside -= cdf[:, :1]
    total = inside[:, -1].copy()
    bad = total <= 0
    total[bad] = 1.0
    inside /= total[:, None]
    inside[bad] = 0.0
    inside[:, -1] = 1.0
    return inside


def _bin_counts(n, window_cdf, rng: np.random.Generator) -> np.ndarray:
    """Multinomial counts (rows, n_bins) of ``n`` particles over the bins of ``window_cdf``."""
    rows, n_bins = window_cdf.shape
    counts = np.empty((rows, n_bins), dtype=np.float32)
    few = n <= _CATEGORICAL_MAX
    if few.all():
        few_rows, many_rows = np.arange(rows), np.arange(0)
    else:
        few_rows, many_rows = np.flatnonzero(few), np.flatnonzero(~few)
    if few_rows.size:
        counts[few_rows] = _categorical_counts(n[few_rows], window_cdf, few_rows, rng)
    if many_rows.size:
        probs = np.diff(window_cdf[many_rows], axis=1, prepend=0.0)
        np.maximum(probs, 0.0, out=probs)
        counts[many_rows] = rng.multinomial(n[many_rows], probs)
    return counts


def _categorical_counts(n, window_cdf, rows, rng: np.random.Generator) -> np.ndarray:
    """Counts (len(rows), n_bins) from a categorical draw of each particle's bin: a searchsorted
    in the rows' CDFs stacked as row + CDF."""
    n_bins = window_cdf.shape[1]
    k = rows.size
    row = np.repeat(np.arange(k), n)
    key = row + rng.random(row.size)
    stacked = window_cdf[rows] if k < len(window_cdf) else window_cdf.copy()
    stacked += np.arange(k)[:, None]
    pos = np.searchsorted(stacked.ravel(), key, side="right")
    flat = row * n_bins
    flat += np.minimum(pos - flat, n_bins - 1)  # a key rounded up to row + 1 stays in its row
    return np.bincount(flat, minlength=k * n_bins).reshape(k, n_bins)


def sample_traces(
    trace: TraceModel, n_mu, n_em, median_mu_ns, median_em_ns, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Muon and em traces (len(n_mu), n_bins) float32: a multinomial over the normalized bin probabilities.

    ``n_mu`` / ``n_em`` are the in-window particle counts; only stations with particles are
    drawn, in chunks of ``_CHUNK_ROWS`` stations (muons, then em, per chunk). The counts of a
    station are one multinomial draw over the binned delay distribution, never a delay per
    particle: above ``_CATEGORICAL_MAX`` particles by ``Generator.multinomial`` (conditional
    binomials bin by bin, cost independent of the number of particles); with fewer particles
    than that, by drawing the bin of each particle from the cumulative bin probabilities
    (the same distribution, cheaper when the particles are fewer than the bins).
    """
    n_mu = np.asarray(n_mu, dtype=np.int64)
    n_em = np.asarray(n_em, dtype=np.int64)
    median_mu_ns = np.asarray(median_mu_ns, dtype=float)
    median_em_ns = np.asarray(median_em_ns, dtype=float)
    out_mu = np.zeros((n_mu.size, trace.n_bins), dtype=np.float32)
    out_em = np.zeros((n_em.size, trace.n_bins), dtype=np.float32)
    hit = np.flatnonzero((n_mu + n_em) > 0)
    for start in range(0, hit.size, _CHUNK_ROWS):
        idx = hit[start : start + _CHUNK_ROWS]
        m_mu, m_em = median_mu_ns[idx], median_em_ns[idx]
        for n, median, shift, out in (
            (n_mu[idx], m_mu, np.zeros(idx.size), out_mu),
            (n_em[idx], m_em, em_shift_ns(trace, m_mu, m_em), out_em),
        ):
            has = np.flatnonzero(n > 0)
            if has.size:
                out[idx[has]] = _bin_counts(n[has], _window_cdf(trace, median[has], shift[has]), rng)
    return out_mu, out_em


def noisy_traces(noise: NoiseModel, trace_muon, trace_em, rng: np.random.Generator) -> np.ndarray:
    """The traces a station records (rows, n_bins) float32, pedestal included:
    ``clip(S_b + rel S_b g1 + abs (1 + spread g2), 0)`` per bin, ``S_b`` = muon + em (VEM).

    Without noise: ``S_b`` plus the mean pedestal of an empty bin ``E[max(abs (1 + spread g), 0)]``.
    Drawn in chunks of ``_CHUNK_ROWS`` stations (the draws of a chunk: the absolute noise of every
    bin, then the relative noise of the bins with particles), in float32.
    """
    trace_muon = np.asarray(trace_muon, dtype=np.float32)
    trace_em = np.asarray(trace_em, dtype=np.float32)
    n_rows, n_bins = trace_muon.shape
    out = np.empty((n_rows, n_bins), dtype=np.float32)
    pedestal = np.float32(empty_bin_moments(noise)[0])
    for start in range(0, n_rows, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n_rows)
        total = trace_muon[start:stop] + trace_em[start:stop]
        if noise.enabled:
            out[start:stop] = _noisy(noise, total, rng)
        else:
            out[start:stop] = total + pedestal
    return out


def integrate_noisy_traces(noise: NoiseModel, trace_muon, trace_em, rng: np.random.Generator) -> np.ndarray:
    """The integrated signal (VEM, pedestal included, float64): the sum over the bins of
    :func:`noisy_traces`."""
    return noisy_traces(noise, trace_muon, trace_em, rng).sum(-1, dtype=np.float64)


def _noisy(noise: NoiseModel, total: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The noisy traces of ``total`` (rows, n_bins) float32."""
    a = np.float32(noise.absolute_vem)
    a_spread = np.float32(noise.absolute_vem * noise.absolute_spread)
    rel = np.float32(noise.relative)
    noisy = rng.standard_normal(total.shape, dtype=np.float32)
    noisy *= a_spread
    noisy += a
    flat_total, flat_noisy = total.reshape(-1), noisy.reshape(-1)
    nz = np.flatnonzero(flat_total)
    s = flat_total[nz]
    flat_noisy[nz] += s + rel * s * rng.standard_normal(s.size, dtype=np.float32)
    np.maximum(noisy, 0.0, out=noisy)
    return noisy


# Significant bits kept of a recorded trace's float32 bins (:func:`recorded_trace`): a relative
# rounding error below 2^-11 = 4.9e-4, a hundred times below the 5 % relative noise of a bin and,
# for the absolute noise of 1.2 VEM, below 6e-4 VEM in an empty bin.
RECORDED_MANTISSA_BITS = 10


def round_mantissa(values: np.ndarray, bits: int = RECORDED_MANTISSA_BITS) -> np.ndarray:
    """float32 ``values`` rounded to ``bits`` bits of mantissa (to nearest; the float32 exponent
    range kept): what compresses a noisy trace (the low mantissa bits are noise) at a relative
    error below ``2^-(bits + 1)``."""
    v = np.ascontiguousarray(values, dtype=np.float32).copy()
    drop = 23 - int(bits)
    if drop <= 0:
        return v
    u = v.view(np.uint32)
    half = np.uint32(1 << (drop - 1))
    mask = np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    finite = np.isfinite(v)
    u[finite] = (u[finite] + half) & mask
    return v


def recorded_trace(noisy: np.ndarray, pedestal_vem: float, triggered: np.ndarray) -> np.ndarray:
    """The trace ``showers.h5`` keeps (rows, n_bins) float32, VEM: the noisy trace minus the mean
    pedestal of a bin (``pedestal_vem / n_bins``), so its sum is the stored ``signal``; its bins
    rounded to :data:`RECORDED_MANTISSA_BITS` bits; all zero where the station is silent (it
    records nothing)."""
    noisy = np.asarray(noisy, dtype=np.float32)
    out = noisy - np.float32(pedestal_vem / noisy.shape[-1])
    out[~np.asarray(triggered, dtype=bool).reshape(-1)] = 0.0
    return round_mantissa(out)

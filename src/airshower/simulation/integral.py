"""The integrated signal without traces: the sum over bins of the noisy trace, drawn per station.

The same distribution as :func:`airshower.simulation.traces.integrate_noisy_traces` of the
sampled traces, without building the bins, given the in-window counts (the same binomial
thinning in both paths):

- relative noise: given the bin contents it is Gaussian with variance ``rel^2 sum_b S_b^2``;
  ``sum_b S_b^2`` is replaced by its expectation given the in-window counts,
  ``N_mu + N_mu (N_mu - 1) q_mumu + N_em + N_em (N_em - 1) q_emem + 2 N_mu N_em q_muem`` with
  ``q`` the collision probabilities of the normalized binned delay distributions (tabulated
  once on a grid of the two delay medians, interpolated bilinearly). This keeps the variance
  exact; it neglects the fluctuation of ``sum S_b^2`` itself, which matters only for few
  particles, where the relative noise is negligible against the absolute one;
- absolute noise: the sum over bins of the clipped Gaussian; empty bins have the moments of
  ``max(abs (1 + spread g), 0)`` (computed in closed form), occupied bins are not clipped
  (probability < 2e-4 for one particle); the number of empty bins is approximated by
  ``max(n_bins - N, 0)`` (exact without particles, off by at most 0.4 VEM in the mean
  otherwise); the sum is drawn as a Gaussian with the first-order Cornish-Fisher skewness
  correction (CLT over 80 bins).

``tests/test_simulation.py`` compares the two paths as distributions.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from airshower.simulation.response import bin_probabilities, empty_bin_moments, pedestal_vem
from airshower.simulation.settings import NoiseModel, SimulationSettings, TraceModel


@dataclass(frozen=True)
class _CollisionTables:
    """Collision probabilities sum_b p_b p'_b of the normalized binned delay distributions.

    Grid in (ln median_mu, ln median_em) from the smallest possible median to 50 trace
    windows (beyond it, at most 1e-8 of the particles are in the window), step 0.05.
    """

    ln_m0: float
    step: float
    n: int
    q_mumu: np.ndarray  # (n,)
    q_emem: np.ndarray  # (n * n,), index i_mu * n + i_em
    q_muem: np.ndarray  # (n * n,)

    def lookup(self, median_mu_ns, median_em_ns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bilinear interpolation of the three tables at the given medians (ns)."""
        fu = np.clip((np.log(median_mu_ns) - self.ln_m0) / self.step, 0.0, self.n - 1.000001)
        fv = np.clip((np.log(median_em_ns) - self.ln_m0) / self.step, 0.0, self.n - 1.000001)
        iu = fu.astype(np.int64)
        iv = fv.astype(np.int64)
        wu = fu - iu
        wv = fv - iv
        k = iu * self.n + iv
        w00, w01, w10, w11 = (1 - wu) * (1 - wv), (1 - wu) * wv, wu * (1 - wv), wu * wv

        def bilinear(t):
            return w00 * t[k] + w01 * t[k + 1] + w10 * t[k + self.n] + w11 * t[k + self.n + 1]

        q_mumu = (1 - wu) * self.q_mumu[iu] + wu * self.q_mumu[iu + 1]
        return q_mumu, bilinear(self.q_emem), bilinear(self.q_muem)


@functools.lru_cache(maxsize=8)
def collision_tables(trace: TraceModel, step: float = 0.05) -> _CollisionTables:
    """The collision-probability tables of ``trace`` on a grid of ``step`` in ln(median)."""
    lo = math.log(max(min(trace.muon_delay_ns, trace.em_delay_ns), 1e-3))
    hi = math.log(max(50 * trace.window_ns, math.exp(lo) * 10))
    n = int(math.ceil((hi - lo) / step)) + 1
    medians = np.exp(lo + step * np.arange(n))
    p_mu, _ = bin_probabilities(trace, medians, medians)  # (n, bins)
    _, p_em = bin_probabilities(trace, medians[:, None], medians[None, :])  # (n, n, bins)
    w_mu = p_mu.sum(-1)
    w_em = p_em.sum(-1)
    tiny = 1e-150
    with np.errstate(divide="ignore", invalid="ignore"):
        q_mumu = np.where(w_mu > tiny, (p_mu**2).sum(-1) / w_mu**2, 1.0)
        q_emem = np.where(w_em > tiny, (p_em**2).sum(-1) / w_em**2, 1.0)
        q_muem = (p_mu[:, None, :] * p_em).sum(-1) / (w_mu[:, None] * w_em)
        q_muem = np.where((w_mu[:, None] > tiny) & (w_em > tiny), q_muem, 0.0)
    return _CollisionTables(lo, step, n, q_mumu, q_emem.ravel(), q_muem.ravel())


@functools.lru_cache(maxsize=8)
def _absolute_noise_tables(noise: NoiseModel, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation and skewness / 6 of the summed absolute noise, by occupied bins 0..n_bins."""
    mean_e, var_e, m3_e = empty_bin_moments(noise)
    n_occ = np.arange(n_bins + 1, dtype=float)
    n_empty = n_bins - n_occ
    mean = n_empty * mean_e + n_occ * noise.absolute_vem
    var = n_empty * var_e + n_occ * (noise.absolute_vem * noise.absolute_spread) ** 2
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        skew6 = np.where(var > 0, n_empty * m3_e / (var * sd), 0.0) / 6.0
    return mean, sd, skew6


def integrated_signal(
    settings: SimulationSettings, n_mu, n_em, median_mu_ns, median_em_ns, rng: np.random.Generator
) -> np.ndarray:
    """Integrated signal (VEM, pedestal included) of stations with ``n_mu`` / ``n_em`` in-window particles.

    Draws the sum over bins of the noisy trace from its distribution without building the
    bins (see the module docstring). Inputs are flat arrays of equal length; the medians only
    matter where there are at least two particles.
    """
    n_mu = np.asarray(n_mu, dtype=float)
    n_em = np.asarray(n_em, dtype=float)
    n_tot = n_mu + n_em
    noise = settings.noise
    n_bins = settings.trace.n_bins
    if not noise.enabled:
        return n_tot + pedestal_vem(settings)

    # absolute noise: empty bins clipped, occupied ones not; occupied = min(N, n_bins) (integer)
    mean, sd, skew6 = _absolute_noise_tables(noise, n_bins)
    occ = np.minimum(n_tot, n_bins).astype(np.intp)
    z = rng.standard_normal(n_tot.shape)
    raw = n_tot + mean[occ] + sd[occ] * (z + skew6[occ] * (z * z - 1.0))

    occupied = np.flatnonzero(n_tot > 0)
    if occupied.size and noise.relative > 0:
        sum_sq = _expected_sum_of_squares(settings.trace, n_mu, n_em, median_mu_ns, median_em_ns, occupied)
        raw[occupied] += noise.relative * np.sqrt(sum_sq) * rng.standard_normal(occupied.size)
    return np.maximum(raw, 0.0)


def _expected_sum_of_squares(trace: TraceModel, n_mu, n_em, median_mu_ns, median_em_ns, occupied):
    """``E[sum_b S_b^2]`` of the stations ``occupied`` given their in-window counts (see module docstring)."""
    sum_sq = n_mu[occupied] + n_em[occupied]  # one particle per bin: sum S_b^2 = N
    many = np.flatnonzero(sum_sq >= 2)
    if many.size:
        idx = occupied[many]
        q_mumu, q_emem, q_muem = collision_tables(trace).lookup(
            np.asarray(median_mu_ns)[idx], np.asarray(median_em_ns)[idx]
        )
        a, b = n_mu[idx], n_em[idx]
        sum_sq[many] = a + a * (a - 1) * q_mumu + b + b * (b - 1) * q_emem + 2 * a * b * q_muem
    return sum_sq

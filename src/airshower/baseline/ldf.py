"""Core and size of the classical reconstruction: the lateral distribution function (LDF) and its
Levenberg-Marquardt fit of core and S(1000), vectorized over events.

``ln S_i = ln S(1000) + ln f(r_i)`` with ``r_i`` the distance of station ``i`` to the axis through
the core and ``f`` one of :data:`LDF_FORMS`; the model and its uncertainties are described in the
section "The classical baseline" of the top-level ``README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from airshower import geometry
from airshower.baseline.settings import BaselineSettings

R_REF_M = 1000.0  # S(1000): the signal at 1000 m from the axis
NKG_R_SCALE_M = 700.0  # scale radius of the NKG-like LDF (r/1000)^-b ((r+700)/1700)^-b
MAX_CORE_STEP_M = 1000.0  # at most 1 km per Levenberg-Marquardt step


def _power_law(r_m: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """``(r / 1000 m)^-beta``: ``ln f`` and ``d ln f / dr``."""
    return -beta * np.log(r_m / R_REF_M), -beta / r_m


def _nkg(r_m: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """NKG-like ``(r / 1000 m)^-beta ((r + 700 m) / 1700 m)^-beta``: ``ln f`` and ``d ln f / dr``."""
    rs = NKG_R_SCALE_M
    log_f = -beta * (np.log(r_m / R_REF_M) + np.log((r_m + rs) / (R_REF_M + rs)))
    return log_f, -beta * (1.0 / r_m + 1.0 / (r_m + rs))


LDF_FORMS = {"power_law": _power_law, "nkg": _nkg}  # the LDF shapes of ``baseline.ldf_form``


def ldf_log(r_m: np.ndarray, settings: BaselineSettings) -> tuple[np.ndarray, np.ndarray]:
    """``ln f(r)`` with ``f(1000 m) = 1`` and its derivative ``d ln f / dr`` (1/m); flat below r_min."""
    flat = r_m < settings.ldf_r_min_m
    r = np.maximum(r_m, settings.ldf_r_min_m)
    log_f, dlog_f = LDF_FORMS[settings.ldf_form](r, settings.ldf_slope)
    return log_f, np.where(flat, 0.0, dlog_f)


def axis_distance_and_gradient(
    positions_m: np.ndarray, core_m: np.ndarray, axis: np.ndarray, ground_z_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances (m) of stations (N, K, 3) to the axes through cores (N, 2) at height ``ground_z_m``.

    Returns ``r`` (N, K) and the gradients ``dr/dcore_x``, ``dr/dcore_y`` (N, K) each.
    """
    dx = positions_m[..., 0] - core_m[:, 0:1]
    dy = positions_m[..., 1] - core_m[:, 1:2]
    dz = positions_m[..., 2] - ground_z_m[:, None]
    r, ud = geometry.axis_distance(dx, dy, dz, axis, min_r2_m2=1e-6)
    return r, (ud * axis[:, 0:1] - dx) / r, (ud * axis[:, 1:2] - dy) / r


def ground_z(positions_m: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean height (m) of the triggered stations of each event: the plane the core lies in."""
    return np.where(mask, positions_m[..., 2], 0.0).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)


@dataclass(frozen=True)
class _LdfProblem:
    """The LDF fit of a batch of events: data, weights and the core prior."""

    positions_m: np.ndarray  # (N, K, 3)
    axis: np.ndarray  # (N, 3), vertical where not fitted
    ground_z_m: np.ndarray  # (N,)
    barycentre_m: np.ndarray  # (N, 2) signal-weighted: start and centre of the core prior
    log_s: np.ndarray  # (N, K)
    weight: np.ndarray  # (N, K) 1 / var(ln S), 0 for padding
    wn: np.ndarray  # (N, K) weights normalized per event
    prior_w: float  # 1 / core_prior_m^2
    settings: BaselineSettings

    def evaluate(self, core: np.ndarray) -> tuple[np.ndarray, ...]:
        """``ln S(1000)`` (profiled), residuals, chi^2, centred Jacobian columns and prior offset."""
        r, grx, gry = axis_distance_and_gradient(self.positions_m, core, self.axis, self.ground_z_m)
        log_f, dlog_f = ldf_log(r, self.settings)
        y = self.log_s - log_f
        log_s1000 = (self.wn * y).sum(axis=1)
        res = y - log_s1000[:, None]
        prior = core - self.barycentre_m
        chi2 = (self.weight * res * res).sum(axis=1) + self.prior_w * (prior * prior).sum(axis=1)
        jx, jy = dlog_f * grx, dlog_f * gry
        # the Jacobian of the residuals with ln S1000 profiled out: centred core derivatives
        jx = jx - (self.wn * jx).sum(axis=1, keepdims=True)
        jy = jy - (self.wn * jy).sum(axis=1, keepdims=True)
        return log_s1000, res, chi2, jx, jy, prior

    def step(self, state: tuple[np.ndarray, ...], lam: np.ndarray) -> np.ndarray:
        """Damped Gauss-Newton step (N, 2) of the core, at most :data:`MAX_CORE_STEP_M` long."""
        _, res, _, jx, jy, prior = state
        wjx, wjy = self.weight * jx, self.weight * jy
        a = (wjx * jx).sum(1) + self.prior_w
        b = (wjx * jy).sum(1)
        c = (wjy * jy).sum(1) + self.prior_w
        gx = (wjx * res).sum(1) - self.prior_w * prior[:, 0]
        gy = (wjy * res).sum(1) - self.prior_w * prior[:, 1]
        a, c = a * (1 + lam), c * (1 + lam)
        det = a * c - b * b
        step = np.stack([c * gx - b * gy, a * gy - b * gx], axis=1) / det[:, None]
        step_len = np.linalg.norm(step, axis=1, keepdims=True)
        return step * np.minimum(1.0, MAX_CORE_STEP_M / np.maximum(step_len, 1e-300))

    def _core_block(self, core: np.ndarray) -> tuple[np.ndarray, ...]:
        """At ``core``: the weighted means ``mx, my`` of the core derivatives of ``ln f`` and the
        core block ``[[a, b], [b, c]]`` of the fit's Fisher matrix with ``ln S(1000)`` profiled
        (the undamped matrix of :meth:`step`, prior included)."""
        r, grx, gry = axis_distance_and_gradient(self.positions_m, core, self.axis, self.ground_z_m)
        _, dlog_f = ldf_log(r, self.settings)
        jx, jy = dlog_f * grx, dlog_f * gry
        mx, my = (self.wn * jx).sum(axis=1), (self.wn * jy).sum(axis=1)
        cx, cy = jx - mx[:, None], jy - my[:, None]
        a = (self.weight * cx * cx).sum(1) + self.prior_w
        b = (self.weight * cx * cy).sum(1)
        c = (self.weight * cy * cy).sum(1) + self.prior_w
        return mx, my, a, b, c

    def log_s1000_sigma(self, core: np.ndarray) -> np.ndarray:
        """Standard deviation (N,) of the fitted ``ln S(1000)`` at ``core``, the core free.

        The inverse of the fit's Fisher matrix in (``ln S(1000)``, core x, core y), block-inverted:
        ``1 / W + m^T C^-1 m`` with ``W`` the sum of the weights, ``m`` the weighted means of the
        core derivatives of ``ln f`` and ``C`` the core block (:meth:`_core_block`). The weights
        are the fit's: Poisson, noise and ``ldf_systematic``.
        """
        mx, my, a, b, c = self._core_block(core)
        quad = (c * mx * mx - 2.0 * b * mx * my + a * my * my) / (a * c - b * b)
        return np.sqrt(1.0 / np.maximum(self.weight.sum(axis=1), 1e-300) + quad)

    def core_sigma(self, core: np.ndarray) -> np.ndarray:
        """The core's uncertainty (N,) in m at ``core``, ``ln S(1000)`` profiled: the root mean
        square per axis, ``sqrt(trace(C^-1) / 2)``, of the inverse of the core block ``C``
        (:meth:`_core_block`): the sigma of the circular Gaussian with the same mean squared
        distance."""
        _, _, a, b, c = self._core_block(core)
        return np.sqrt(0.5 * (a + c) / (a * c - b * b))


class LdfFit(NamedTuple):
    """Result of :func:`ldf_fit`, per event: NaN (False for ``ok``) where not fitted."""

    core_m: np.ndarray  # (N, 2) core on the ground (array plane)
    s1000_vem: np.ndarray  # (N,) signal at 1000 m from the axis
    ok: np.ndarray  # (N,) bool, False where no finite fit was found
    ln_s1000_sigma: np.ndarray  # (N,) standard deviation of ln S(1000) (the fit's, core free)
    core_sigma_m: np.ndarray  # (N,) the core's uncertainty, rms per axis (m; _LdfProblem.core_sigma)


def _ldf_problem(signal_vem, positions_m, mask, axis, fit, settings: BaselineSettings) -> _LdfProblem:
    """Weights of ``ln S``: Poisson plus noise plus a relative systematic term."""
    s = np.where(mask, np.maximum(signal_vem, 1.0), 1.0)  # pedestal-subtracted signals can be tiny
    w_sig = np.where(mask, s, 0.0)
    wsum = np.where(fit, w_sig.sum(axis=1), 1.0)
    barycentre = np.stack([(w_sig * positions_m[..., 0]).sum(1), (w_sig * positions_m[..., 1]).sum(1)], 1)
    barycentre /= wsum[:, None]
    var_log_s = (s + settings.signal_noise_vem**2) / s**2 + settings.ldf_systematic**2
    weight = np.where(mask, 1.0 / var_log_s, 0.0)
    return _LdfProblem(
        positions_m=positions_m,
        axis=np.where(fit[:, None], axis, np.array([0.0, 0.0, 1.0])),
        ground_z_m=ground_z(positions_m, mask),
        barycentre_m=barycentre,
        log_s=np.log(s),
        weight=weight,
        wn=weight / np.maximum(weight.sum(axis=1, keepdims=True), 1e-300),
        prior_w=1.0 / settings.core_prior_m**2,
        settings=settings,
    )


def _levenberg_marquardt(
    problem: _LdfProblem, core: np.ndarray, fit: np.ndarray, iterations: int
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Iterate the core of the events ``fit``; returns the core and its :meth:`_LdfProblem.evaluate`."""
    lam = np.full(len(core), 1e-3)
    state = problem.evaluate(core)
    for _ in range(iterations):
        trial = core + problem.step(state, lam)
        t_state = problem.evaluate(trial)
        better = fit & (t_state[2] <= state[2])
        core = np.where(better[:, None], trial, core)
        state = tuple(
            np.where(better.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
            for new, old in zip(t_state, state, strict=True)
        )
        lam = np.where(better, np.maximum(lam * 0.3, 1e-7), np.minimum(lam * 10.0, 1e7))
    return core, state


def ldf_fit(
    signal_vem: np.ndarray,
    positions_m: np.ndarray,
    mask: np.ndarray,
    axis: np.ndarray,
    settings: BaselineSettings,
    core_start_m: np.ndarray | None = None,
) -> LdfFit:
    """Fit core and S(1000) to the packed signals of all events at once (Levenberg-Marquardt).

    ``ln S(1000)`` enters linearly and is profiled out (its best value for a given core is the
    weighted mean of ``ln S_i - ln f(r_i)``), so each iteration solves a 2 x 2 system per event.

    Parameters
    ----------
    signal_vem, mask
        (N, K) packed signals and the mask of real stations.
    positions_m
        (N, K, 3) packed station positions.
    axis
        (N, 3) shower axes (from the front fit); rows with NaN are not fitted.
    core_start_m
        (N, 2) start values; default the signal-weighted barycentre. The core prior is centred
        on the barycentre in any case.

    Returns
    -------
    LdfFit
        ``core_m`` (N, 2) on the ground (array plane), ``s1000_vem`` (N,), ``ok`` (N,) and
        ``ln_s1000_sigma`` (N,): the statistical uncertainty of ``ln S(1000)`` from the fit's
        weights with the core free (:meth:`_LdfProblem.log_s1000_sigma`), ``core_sigma_m`` (N,)
        the core's (:meth:`_LdfProblem.core_sigma`); NaN where not fitted.
    """
    fit = mask.any(axis=1) & np.all(np.isfinite(axis), axis=1)
    problem = _ldf_problem(signal_vem, positions_m, mask, axis, fit, settings)
    barycentre = problem.barycentre_m
    core = barycentre.copy() if core_start_m is None else np.where(fit[:, None], core_start_m, barycentre)
    core, state = _levenberg_marquardt(problem, core, fit, settings.ldf_iterations)
    s1000 = np.exp(state[0])
    ok = fit & np.isfinite(s1000) & (s1000 > 0) & np.all(np.isfinite(core), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = problem.log_s1000_sigma(np.where(ok[:, None], core, barycentre))
        core_sigma = problem.core_sigma(np.where(ok[:, None], core, barycentre))
    core = np.where(ok[:, None], core, np.nan)
    return LdfFit(
        core, np.where(ok, s1000, np.nan), ok, np.where(ok, sigma, np.nan), np.where(ok, core_sigma, np.nan)
    )

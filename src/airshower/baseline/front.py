"""Direction of the classical reconstruction: triggered-station packing, timing weights, and the
weighted least-squares fits of a plane (or curved) front and of a spherical front.

Every fit is vectorized over events on packed arrays (N events, K stations). The model and its
weights are described in the section "The classical baseline" of the top-level ``README.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from airshower import geometry
from airshower.baseline.settings import BaselineSettings

FRONTS = ("planar", "curved")  # the shower-front models of ``baseline.front``
SPHERE_START_M = 10_000.0  # start of the spherical-front fit: this far up the plane-fit axis
SPHERE_MIN_RADIUS_M = 1_000.0  # a fitted point source closer than this to the core is rejected
SPHERE_ITERATIONS = 10


class Stations(NamedTuple):
    """The triggered stations of each event, packed into the first columns of (N, K) arrays."""

    time_us: np.ndarray  # (N, K), 0 for padding
    signal_vem: np.ndarray  # (N, K), 0 for padding
    positions_m: np.ndarray  # (N, K, 3)
    mask: np.ndarray  # (N, K) bool, False for padding


def triggered_stations(time_us: np.ndarray, signal_vem: np.ndarray, positions_m: np.ndarray) -> Stations:
    """Pack the triggered stations of each event into the first columns of compact arrays.

    Parameters
    ----------
    time_us, signal_vem
        (N, n_side, n_side) or (N, n_stations) images, NaN where silent.
    positions_m
        (n_stations, 3) station positions, in the order of the flattened images.

    Returns
    -------
    Stations
        (N, K), (N, K), (N, K, 3) and (N, K) bool, K the largest number of triggered stations;
        padding entries have ``mask`` False, time and signal 0.
    """
    n = len(signal_vem)
    t = np.asarray(time_us, dtype=np.float64).reshape(n, -1)
    s = np.asarray(signal_vem, dtype=np.float64).reshape(n, -1)
    pos = np.asarray(positions_m, dtype=np.float64)
    if pos.shape != (s.shape[1], 3):
        raise ValueError(f"station positions have shape {pos.shape}, expected ({s.shape[1]}, 3)")
    trig = np.isfinite(s) & np.isfinite(t)
    k = max(int(trig.sum(axis=1).max(initial=0)), 1)
    order = np.argsort(~trig, axis=1, kind="stable")[:, :k]
    mask = np.take_along_axis(trig, order, axis=1)
    t = np.where(mask, np.take_along_axis(t, order, axis=1), 0.0)
    s = np.where(mask, np.take_along_axis(s, order, axis=1), 0.0)
    return Stations(t, s, pos[order], mask)


def by_multiplicity(time_us, signal_vem, positions_m, chunk_size: int, per_chunk) -> dict[str, np.ndarray]:
    """``per_chunk(stations)`` (a dict of per-event arrays) of the packed triggered stations of
    chunks of ``chunk_size`` events of similar station multiplicity (so the packed arrays stay
    small), put back in the events' order."""
    n = len(signal_vem)
    time_flat = np.asarray(time_us).reshape(n, -1)
    signal_flat = np.asarray(signal_vem).reshape(n, -1)
    n_trig = np.count_nonzero(np.isfinite(signal_flat) & np.isfinite(time_flat), axis=1)
    order = np.argsort(n_trig, kind="stable")
    parts = []
    for start in range(0, n, chunk_size):
        idx = order[start : start + chunk_size]
        parts.append(per_chunk(triggered_stations(time_flat[idx], signal_flat[idx], positions_m)))
    out = {}
    for key in parts[0]:
        values = np.concatenate([p[key] for p in parts])
        out[key] = np.empty_like(values)
        out[key][order] = values
    return out


def time_weights(signal_vem: np.ndarray, mask: np.ndarray, settings: BaselineSettings) -> np.ndarray:
    """Weights ``1 / sigma^2`` (1/m^2) of the arrival times, 0 for padding."""
    sigma_m = (
        settings.time_sigma_ns
        * 1e-3
        * geometry.C_M_PER_US
        / (1.0 + np.log10(np.maximum(signal_vem, 0.0) + 1.0))
    )
    return np.where(mask, 1.0 / sigma_m**2, 0.0)


def _weighted_centre(values: np.ndarray, w: np.ndarray, wsum: np.ndarray) -> np.ndarray:
    return np.einsum("nk,nk...->n...", w, values) / wsum.reshape((-1,) + (1,) * (values.ndim - 2))


def _front_design(time_us, positions_m, weights, rho2_m2, axis_z_guess) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix (N, K, P) and left-hand side ``c (t - t0)`` (N, K) of the front fit, with
    ``t0`` eliminated by weighted centring."""
    wsum = weights.sum(axis=1)
    safe = np.where(wsum > 0, wsum, 1.0)
    centre = _weighted_centre(positions_m, weights, safe)
    d = positions_m - centre[:, None, :]
    ct = geometry.C_M_PER_US * (time_us - _weighted_centre(time_us, weights, safe)[:, None])
    if axis_z_guess is not None:
        ct = ct + axis_z_guess[:, None] * d[..., 2]
    columns = [-d[..., 0], -d[..., 1]]
    if rho2_m2 is not None:
        rho2 = rho2_m2 - _weighted_centre(rho2_m2, weights, safe)[:, None]
        columns.append(rho2 / 1e6)  # km^2 keeps the normal matrix well scaled
    return np.stack(columns, axis=-1), ct


def _solve_normal_equations(
    design: np.ndarray, ct: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares solution (N, P) by the diagonally scaled normal equations, and
    ``ok`` (N,): more stations with weight than parameters and a regular system."""
    normal = np.einsum("nk,nkp,nkq->npq", weights, design, design)
    rhs = np.einsum("nk,nkp,nk->np", weights, design, ct)
    n_par = design.shape[-1]
    scale = np.sqrt(np.einsum("npp->np", normal))
    scale = np.where(scale > 0, scale, 1.0)
    normal_s = normal / scale[:, :, None] / scale[:, None, :]
    n_used = (weights > 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (n_used >= n_par + 1) & (np.abs(np.linalg.det(normal_s)) > 1e-8)
    eye = np.broadcast_to(np.eye(n_par), normal_s.shape)
    sol = (
        np.linalg.solve(np.where(ok[:, None, None], normal_s, eye), (rhs / scale)[..., None])[..., 0] / scale
    )
    return sol, ok


def _unit_axis(ux: np.ndarray, uy: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Unit vectors (N, 3) with ``u_z >= 0`` from the fitted ``u_x, u_y`` (shrunk onto the
    horizon where ``|u_xy| > 1``); NaN where not ``ok``."""
    norm_xy = np.hypot(ux, uy)
    shrink = np.where(norm_xy > 1.0, 1.0 / np.maximum(norm_xy, 1e-300), 1.0)  # beyond the horizon
    ux, uy = ux * shrink, uy * shrink
    uz = np.sqrt(np.clip(1.0 - ux**2 - uy**2, 0.0, 1.0))
    axis = np.stack([ux, uy, uz], axis=1)
    axis[~ok] = np.nan
    return axis


def front_fit(
    time_us: np.ndarray,
    positions_m: np.ndarray,
    weights: np.ndarray,
    rho2_m2: np.ndarray | None = None,
    axis_z_guess: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least-squares fit of a plane (or curved) front to the arrival times.

    Solves ``c (t_i - t0) = -(u_x x_i + u_y y_i + u_z z_i) + k rho_i^2`` for ``u_x, u_y``
    (and ``k = 1 / (2 R)`` where ``rho2_m2`` is given) per event, with batched normal
    equations; ``t0`` is eliminated by weighted centring. ``u_z`` of a non-flat array is taken
    from ``axis_z_guess`` (it is irrelevant when all stations lie at one height).

    Parameters
    ----------
    time_us, weights
        (N, K) packed arrival times and weights (0 for padding).
    positions_m
        (N, K, 3) packed station positions.
    rho2_m2
        (N, K) squared distances to the shower axis for the curved front, or None (plane).

    Returns
    -------
    axis
        (N, 3) unit vectors towards the source (``u_z >= 0``); NaN where the fit is singular.
    curvature_per_m
        (N,) ``k = 1 / (2 R)``, 0 for the plane.
    ok
        (N,) bool, False where the stations do not constrain the fit (fewer than the parameters,
        or all on one line).
    """
    design, ct = _front_design(time_us, positions_m, weights, rho2_m2, axis_z_guess)
    sol, ok = _solve_normal_equations(design, ct, weights)
    axis = _unit_axis(sol[:, 0], sol[:, 1], ok)
    curvature = sol[:, 2] / 1e6 if rho2_m2 is not None else np.zeros(len(axis))
    curvature = np.where(ok, curvature, np.nan)
    return axis, curvature, ok


def plane_fit(
    time_us: np.ndarray, signal_vem: np.ndarray, positions_m: np.ndarray, settings: BaselineSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Shower axis from a plane-front fit of images (N, n_side, n_side) and positions (n_stations, 3).

    Returns
    -------
    axis
        (N, 3) unit vectors (NaN where the fit is impossible).
    ok
        (N,) bool.
    """
    t, s, pos, mask = triggered_stations(time_us, signal_vem, positions_m)
    w = time_weights(s, mask, settings)
    return plane_fit_packed(t, pos, w)


def axis_sigma_deg(
    time_us: np.ndarray, positions_m: np.ndarray, weights: np.ndarray, axis: np.ndarray
) -> np.ndarray:
    """The plane fit's uncertainty of the axis (N,) in deg: the covariance of ``(u_x, u_y)``, the
    inverse of the fit's normal matrix (the weights are the arrival times' ``1 / sigma^2``, so
    it is the fit's statistical covariance), turned into angles across the axis (the radial
    component of ``u_xy`` over ``cos(zenith)``, the tangential one as it is) and given as the
    root mean square per axis, ``sqrt(trace / 2)``: the sigma of the circular Gaussian with the
    same mean squared opening angle. NaN where the fit is singular or the axis unknown."""
    design, _ = _front_design(time_us, positions_m, weights, None, None)
    normal = np.einsum("nk,nkp,nkq->npq", weights, design, design)
    det = normal[:, 0, 0] * normal[:, 1, 1] - normal[:, 0, 1] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = np.stack([[normal[:, 1, 1], -normal[:, 0, 1]], [-normal[:, 0, 1], normal[:, 0, 0]]]) / det
        ux, uy, uz = axis[:, 0], axis[:, 1], axis[:, 2]
        rho = np.hypot(ux, uy)
        cos_phi = np.where(rho > 0, ux / np.where(rho > 0, rho, 1.0), 1.0)
        sin_phi = np.where(rho > 0, uy / np.where(rho > 0, rho, 1.0), 0.0)
        var_r = cos_phi**2 * cov[0, 0] + 2 * cos_phi * sin_phi * cov[0, 1] + sin_phi**2 * cov[1, 1]
        var_t = sin_phi**2 * cov[0, 0] - 2 * cos_phi * sin_phi * cov[0, 1] + cos_phi**2 * cov[1, 1]
        sigma = np.sqrt(0.5 * (var_r / uz**2 + var_t))
    return np.degrees(np.where(np.isfinite(sigma) & (det > 0), sigma, np.nan))


def plane_fit_packed(
    time_us: np.ndarray, positions_m: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`plane_fit` of packed stations; on a non-flat array ``u_z`` is iterated once."""
    axis, _, ok = front_fit(time_us, positions_m, weights)
    z = positions_m[..., 2][weights > 0]
    if z.size and np.ptp(z) > 1e-3:  # a non-flat array: iterate on u_z once
        axis2, _, ok2 = front_fit(time_us, positions_m, weights, axis_z_guess=np.where(ok, axis[:, 2], 1.0))
        axis, ok = np.where(ok2[:, None], axis2, axis), ok & ok2
    return axis, ok


# ----------------------------------------------------------------------------------------------
# spherical front from a point source


def _sphere_residuals(origin, ct, positions_m, w, wsum):
    """Residuals (N, K), distances to ``origin`` (N, K) and chi^2 (N,), with ``t0`` profiled out."""
    dist = np.linalg.norm(positions_m - origin[:, None, :], axis=-1)
    ct0 = ((ct - dist) * w).sum(axis=1) / wsum  # t0 profiled out
    res = ct - dist - ct0[:, None]
    return res, dist, (w * res * res).sum(axis=1)


def _sphere_step(origin, res, dist, positions_m, w, wsum, lam, use) -> np.ndarray:
    """Levenberg-Marquardt step (N, 3) of the point source (0 for events not fitted)."""
    jac = (origin[:, None, :] - positions_m) / dist[..., None]  # d|x - O| / dO
    jac = jac - (w[..., None] * jac).sum(axis=1, keepdims=True) / wsum[:, None, None]  # t0 profiled
    normal = np.einsum("nk,nkp,nkq->npq", w, jac, jac)
    grad = np.einsum("nk,nkp,nk->np", w, jac, res)
    diag = np.einsum("npp->np", normal)
    # Levenberg-Marquardt damping plus a tiny ridge keeps every system positive definite
    ridge = 1e-12 * diag.sum(axis=1) + np.where(use, 0.0, 1.0)
    damped = normal + (lam[:, None] * diag + ridge[:, None])[:, :, None] * np.eye(3)
    step = np.linalg.solve(damped, grad[..., None])[..., 0]
    return np.where(use[:, None], step, 0.0)


def sphere_fit(
    time_us: np.ndarray, positions_m: np.ndarray, weights: np.ndarray, origin_start_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares fit of a spherical front ``c (t_i - t0) = |x_i - O|`` (Gauss-Newton).

    Parameters
    ----------
    time_us, weights
        (N, K) packed arrival times and weights (1/m^2, 0 for padding and unused events).
    positions_m
        (N, K, 3) packed station positions.
    origin_start_m
        (N, 3) start values of the point source ``O`` (e.g. 10 km up the plane-fit axis).

    Returns
    -------
    origin_m
        (N, 3) fitted point source (NaN where not fitted).
    ok
        (N,) bool: at least 5 stations with weight and a finite fit.
    """
    ct = geometry.C_M_PER_US * time_us
    use = (weights > 0).sum(axis=1) >= 5
    w = np.where(use[:, None], weights, 0.0)
    wsum = np.where(use, w.sum(axis=1), 1.0)
    origin = np.where(use[:, None], origin_start_m, [0.0, 0.0, SPHERE_START_M])
    res, dist, chi2 = _sphere_residuals(origin, ct, positions_m, w, wsum)
    lam = np.full(len(origin), 1e-3)
    for _ in range(SPHERE_ITERATIONS):
        trial = origin + _sphere_step(origin, res, dist, positions_m, w, wsum, lam, use)
        t_res, t_dist, t_chi2 = _sphere_residuals(trial, ct, positions_m, w, wsum)
        better = use & (t_chi2 <= chi2)
        origin = np.where(better[:, None], trial, origin)
        res, dist = np.where(better[:, None], t_res, res), np.where(better[:, None], t_dist, dist)
        chi2 = np.where(better, t_chi2, chi2)
        lam = np.where(better, np.maximum(lam * 0.3, 1e-9), np.minimum(lam * 10.0, 1e9))
    ok = use & np.all(np.isfinite(origin), axis=1)
    return np.where(ok[:, None], origin, np.nan), ok

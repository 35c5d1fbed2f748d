"""Classical (non-ML) reconstruction of the surface-array showers: the physics baseline.

The standard chain of a ground array, vectorized over events:

1. **Direction** -- a weighted least-squares fit of a plane shower front to the arrival times of
   the triggered stations, ``c (t_i - t0) = -u . x_i`` (``u`` the unit axis pointing to where
   the shower comes from). Weights ``1 / sigma_t^2`` with the timing uncertainty
   ``sigma_t = 480 ns / (1 + log10(S + 1))`` of the station signal ``S`` (VEM). Optionally
   (``front: curved``) a spherical front from a point source, ``c (t_i - t0) = |x_i - O|``
   (Gauss-Newton in ``O`` and ``t0``, events with at least 5 stations), after which the axis is
   the direction from the LDF core to ``O``, alternated twice with the LDF fit.
2. **Core and size** -- a fit of the lateral distribution function (LDF) to the signals,
   ``ln S_i = ln S(1000) + ln f(r_i)``, with ``r_i`` the distance of station ``i`` to the axis
   through the core (in the shower plane) and ``f`` a power law ``(r / 1000 m)^-beta`` or an
   NKG-like function, both flat below ``ldf_r_min_m``. Levenberg-Marquardt over all events at
   once; the uncertainty of ``ln S`` is Poisson plus a relative systematic term; the core
   starts at the signal-weighted barycentre and has a weak Gaussian prior of width
   ``core_prior_m`` around it (which only matters for events with very few stations).
3. **Energy** -- a constant-intensity-style zenith correction: in bins of equal numbers of
   events in ``cos^2`` of the reconstructed zenith (equal exposure for an isotropic flux on a
   flat array), the ``S(1000)`` at fixed intensity ranks must all belong to the same energy, so
   their zenith dependence is the attenuation curve ``ln f_CIC(x)``, a polynomial in
   ``x = cos^2(theta) - cos^2(38 deg)`` with ``f_CIC(0) = 1``. It gives
   ``S38 = S(1000) / f_CIC(x)``, and the calibration ``E = A S38^B`` is a least-squares line in
   ``log10 E`` vs ``log10 S38`` on the training split, with ``A`` then scaled so that the mean of
   ``E_rec / E_true`` on the training split is one. No true energy enters the zenith correction.

Events with fewer than ``min_stations`` triggered stations (flag 1) or whose fit failed (flag 2)
are kept: they get the energy of a fallback calibration ``log10 E = a + b log10(sum S)`` on the
total signal (fitted on the training events with a total signal, then clipped to the range of
training energies, since flagged events lie outside the multiplicities it was fitted on), or the
training-split mean energy when no station triggered at all. On the default array (750 m grid,
3-100 EeV) every shower triggers at least ten stations, so the fallback is a safety net that the
flag makes visible, not a reconstruction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from airshower import geometry, io

R_REF_M = 1000.0  # S(1000): the signal at 1000 m from the axis
NKG_R_SCALE_M = 700.0  # scale radius of the NKG-like LDF (r/1000)^-b ((r+700)/1700)^-b
SPHERE_START_M = 10_000.0  # start of the spherical-front fit: this far up the plane-fit axis
SPHERE_MIN_RADIUS_M = 1_000.0  # a fitted point source closer than this to the core is rejected
SPHERE_ITERATIONS = 10
FLAG_OK, FLAG_FEW_STATIONS, FLAG_FIT_FAILED = 0, 1, 2
FLAG_NAMES = {
    FLAG_OK: "ok",
    FLAG_FEW_STATIONS: "fewer than min_stations triggered",
    FLAG_FIT_FAILED: "fit failed",
}


@dataclass(frozen=True)
class BaselineSettings:
    """Settings of the classical reconstruction (config section ``baseline``)."""

    min_stations: int = 3
    front: str = "planar"  # planar | curved
    ldf_form: str = "power_law"  # power_law | nkg
    ldf_slope: float = 5.7  # beta of the LDF
    ldf_r_min_m: float = 150.0  # the LDF is flat below this distance
    ldf_systematic: float = 0.2  # relative signal uncertainty added to the Poisson term
    ldf_iterations: int = 15
    signal_noise_vem: float = 5.0  # absolute signal noise (VEM) in the LDF-fit uncertainty
    core_prior_m: float = 1000.0
    time_sigma_ns: float = 480.0  # timing uncertainty sigma_t = time_sigma_ns / (1 + log10(S + 1))
    zenith_correction: int = 2  # polynomial degree of ln f_CIC in x; 0: no zenith correction
    reference_zenith_deg: float = 38.0
    cic_bins: int = 8
    cic_quantiles: tuple[float, ...] = field(default=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9))

    def __post_init__(self):
        if self.min_stations < 3:
            raise ValueError(
                f"baseline.min_stations must be at least 3 (a plane needs 3), got {self.min_stations}"
            )
        if self.front not in ("planar", "curved"):
            raise ValueError(f"baseline.front must be 'planar' or 'curved', got {self.front!r}")
        if self.ldf_form not in ("power_law", "nkg"):
            raise ValueError(f"baseline.ldf_form must be 'power_law' or 'nkg', got {self.ldf_form!r}")

    @classmethod
    def from_config(cls, section: Mapping | None) -> BaselineSettings:
        section = dict(section or {})
        section.pop("enabled", None)
        known = set(cls.__dataclass_fields__)
        unknown = set(section) - known
        if unknown:
            raise ValueError(f"unknown baseline setting(s): {', '.join(sorted(unknown))}")
        if "cic_quantiles" in section:
            section["cic_quantiles"] = tuple(float(q) for q in section["cic_quantiles"])
        return cls(**section)


# ----------------------------------------------------------------------------------------------
# station bookkeeping


def triggered_stations(
    time_us: np.ndarray, signal_vem: np.ndarray, positions_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pack the triggered stations of each event into the first columns of compact arrays.

    Parameters
    ----------
    time_us, signal_vem
        (N, n_side, n_side) or (N, n_stations) images, NaN where silent.
    positions_m
        (n_stations, 3) station positions, in the order of the flattened images.

    Returns
    -------
    time_us, signal_vem, positions_m, mask
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
    return t, s, pos[order], mask


# ----------------------------------------------------------------------------------------------
# direction


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
    design = np.stack(columns, axis=-1)  # (N, K, P)
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
    ux, uy = sol[:, 0], sol[:, 1]
    norm_xy = np.hypot(ux, uy)
    shrink = np.where(norm_xy > 1.0, 1.0 / np.maximum(norm_xy, 1e-300), 1.0)  # beyond the horizon
    ux, uy = ux * shrink, uy * shrink
    uz = np.sqrt(np.clip(1.0 - ux**2 - uy**2, 0.0, 1.0))
    axis = np.stack([ux, uy, uz], axis=1)
    axis[~ok] = np.nan
    curvature = sol[:, 2] / 1e6 if rho2_m2 is not None else np.zeros(len(axis))
    curvature = np.where(ok, curvature, np.nan)
    return axis, curvature, ok


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

    def residuals(origin):
        dist = np.linalg.norm(positions_m - origin[:, None, :], axis=-1)
        ct0 = ((ct - dist) * w).sum(axis=1) / wsum  # t0 profiled out
        res = ct - dist - ct0[:, None]
        return res, dist, (w * res * res).sum(axis=1)

    origin = np.where(use[:, None], origin_start_m, [0.0, 0.0, SPHERE_START_M])
    res, dist, chi2 = residuals(origin)
    lam = np.full(len(origin), 1e-3)
    eye = np.eye(3)
    for _ in range(SPHERE_ITERATIONS):
        jac = (origin[:, None, :] - positions_m) / dist[..., None]  # d|x - O| / dO
        jac = jac - (w[..., None] * jac).sum(axis=1, keepdims=True) / wsum[:, None, None]  # t0 profiled
        normal = np.einsum("nk,nkp,nkq->npq", w, jac, jac)
        grad = np.einsum("nk,nkp,nk->np", w, jac, res)
        diag = np.einsum("npp->np", normal)
        # Levenberg-Marquardt damping plus a tiny ridge keeps every system positive definite
        ridge = 1e-12 * diag.sum(axis=1) + np.where(use, 0.0, 1.0)
        damped = normal + (lam[:, None] * diag + ridge[:, None])[:, :, None] * eye
        step = np.linalg.solve(damped, grad[..., None])[..., 0]
        trial = origin + np.where(use[:, None], step, 0.0)
        t_res, t_dist, t_chi2 = residuals(trial)
        better = use & (t_chi2 <= chi2)
        origin = np.where(better[:, None], trial, origin)
        res, dist = np.where(better[:, None], t_res, res), np.where(better[:, None], t_dist, dist)
        chi2 = np.where(better, t_chi2, chi2)
        lam = np.where(better, np.maximum(lam * 0.3, 1e-9), np.minimum(lam * 10.0, 1e9))
    ok = use & np.all(np.isfinite(origin), axis=1)
    return np.where(ok[:, None], origin, np.nan), ok


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
    return _plane_fit_packed(t, pos, w)


def _plane_fit_packed(t, pos, w):
    axis, _, ok = front_fit(t, pos, w)
    z = pos[..., 2][w > 0]
    if z.size and np.ptp(z) > 1e-3:  # a non-flat array: iterate on u_z once
        axis2, _, ok2 = front_fit(t, pos, w, axis_z_guess=np.where(ok, axis[:, 2], 1.0))
        axis, ok = np.where(ok2[:, None], axis2, axis), ok & ok2
    return axis, ok


# ----------------------------------------------------------------------------------------------
# lateral distribution


def ldf_log(r_m: np.ndarray, settings: BaselineSettings) -> tuple[np.ndarray, np.ndarray]:
    """``ln f(r)`` with ``f(1000 m) = 1`` and its derivative ``d ln f / dr`` (1/m); flat below r_min."""
    beta = settings.ldf_slope
    flat = r_m < settings.ldf_r_min_m
    r = np.maximum(r_m, settings.ldf_r_min_m)
    if settings.ldf_form == "power_law":
        log_f = -beta * np.log(r / R_REF_M)
        dlog_f = -beta / r
    else:  # NKG-like
        rs = NKG_R_SCALE_M
        log_f = -beta * (np.log(r / R_REF_M) + np.log((r + rs) / (R_REF_M + rs)))
        dlog_f = -beta * (1.0 / r + 1.0 / (r + rs))
    return log_f, np.where(flat, 0.0, dlog_f)


def axis_distance(positions_m: np.ndarray, core_m: np.ndarray, axis: np.ndarray, ground_z_m: np.ndarray):
    """Distances (m) of stations (N, K, 3) to the axes through cores (N, 2) at height ``ground_z_m``.

    Returns ``r`` (N, K) and the gradients ``dr/dcore_x``, ``dr/dcore_y`` (N, K) each.
    """
    dx = positions_m[..., 0] - core_m[:, 0:1]
    dy = positions_m[..., 1] - core_m[:, 1:2]
    dz = positions_m[..., 2] - ground_z_m[:, None]
    r, ud = geometry.axis_distance(dx, dy, dz, axis, min_r2_m2=1e-6)
    return r, (ud * axis[:, 0:1] - dx) / r, (ud * axis[:, 1:2] - dy) / r


def ldf_fit(
    signal_vem: np.ndarray,
    positions_m: np.ndarray,
    mask: np.ndarray,
    axis: np.ndarray,
    settings: BaselineSettings,
    core_start_m: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    core_m
        (N, 2) core on the ground (array plane); NaN where not fitted.
    s1000_vem
        (N,) signal at 1000 m from the axis; NaN where not fitted.
    ok
        (N,) bool, False where no finite fit was found.
    """
    fit = mask.any(axis=1) & np.all(np.isfinite(axis), axis=1)
    axis = np.where(fit[:, None], axis, np.array([0.0, 0.0, 1.0]))
    s = np.where(mask, np.maximum(signal_vem, 1.0), 1.0)  # pedestal-subtracted signals can be tiny
    w_sig = np.where(mask, s, 0.0)
    wsum = np.where(fit, w_sig.sum(axis=1), 1.0)
    barycentre = np.stack([(w_sig * positions_m[..., 0]).sum(1), (w_sig * positions_m[..., 1]).sum(1)], 1)
    barycentre /= wsum[:, None]
    ground_z = _ground_z(positions_m, mask)
    core = barycentre.copy() if core_start_m is None else np.where(fit[:, None], core_start_m, barycentre)
    log_s = np.log(s)
    var_log_s = (s + settings.signal_noise_vem**2) / s**2 + settings.ldf_systematic**2
    weight = np.where(mask, 1.0 / var_log_s, 0.0)
    wn = weight / np.maximum(weight.sum(axis=1, keepdims=True), 1e-300)
    prior_w = 1.0 / settings.core_prior_m**2

    def evaluate(core):
        r, grx, gry = axis_distance(positions_m, core, axis, ground_z)
        log_f, dlog_f = ldf_log(r, settings)
        y = log_s - log_f
        log_s1000 = (wn * y).sum(axis=1)
        res = y - log_s1000[:, None]
        prior = core - barycentre
        chi2 = (weight * res * res).sum(axis=1) + prior_w * (prior * prior).sum(axis=1)
        jx, jy = dlog_f * grx, dlog_f * gry
        # the Jacobian of the residuals with ln S1000 profiled out: centred core derivatives
        jx = jx - (wn * jx).sum(axis=1, keepdims=True)
        jy = jy - (wn * jy).sum(axis=1, keepdims=True)
        return log_s1000, res, chi2, jx, jy, prior

    lam = np.full(len(core), 1e-3)
    state = evaluate(core)
    for _ in range(settings.ldf_iterations):
        log_s1000, res, chi2, jx, jy, prior = state
        wjx, wjy = weight * jx, weight * jy
        a = (wjx * jx).sum(1) + prior_w
        b = (wjx * jy).sum(1)
        c = (wjy * jy).sum(1) + prior_w
        gx = (wjx * res).sum(1) - prior_w * prior[:, 0]
        gy = (wjy * res).sum(1) - prior_w * prior[:, 1]
        a, c = a * (1 + lam), c * (1 + lam)
        det = a * c - b * b
        step = np.stack([c * gx - b * gy, a * gy - b * gx], axis=1) / det[:, None]
        step_len = np.linalg.norm(step, axis=1, keepdims=True)
        step = step * np.minimum(1.0, 1000.0 / np.maximum(step_len, 1e-300))  # at most 1 km per step
        trial = core + step
        t_state = evaluate(trial)
        better = fit & (t_state[2] <= chi2)
        core = np.where(better[:, None], trial, core)
        state = tuple(
            np.where(better.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
            for new, old in zip(t_state, state, strict=True)
        )
        lam = np.where(better, np.maximum(lam * 0.3, 1e-7), np.minimum(lam * 10.0, 1e7))
    s1000 = np.exp(state[0])
    ok = fit & np.isfinite(s1000) & (s1000 > 0) & np.all(np.isfinite(core), axis=1)
    core = np.where(ok[:, None], core, np.nan)
    return core, np.where(ok, s1000, np.nan), ok


# ----------------------------------------------------------------------------------------------
# the event reconstruction


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
    time_flat = np.asarray(time_us).reshape(n, -1)
    signal_flat = np.asarray(signal_vem).reshape(n, -1)
    n_trig = np.count_nonzero(np.isfinite(signal_flat) & np.isfinite(time_flat), axis=1)
    order = np.argsort(n_trig, kind="stable")
    parts = []
    for start in range(0, n, chunk_size):
        idx = order[start : start + chunk_size]
        packed = triggered_stations(time_flat[idx], signal_flat[idx], positions_m)
        parts.append(_reconstruct_packed(*packed, settings))
    out = {}
    for key in parts[0] if parts else ():
        values = np.concatenate([p[key] for p in parts])
        out[key] = np.empty_like(values)
        out[key][order] = values
    if not parts:  # no events
        empty = _reconstruct_packed(
            np.zeros((0, 1)), np.zeros((0, 1)), np.zeros((0, 1, 3)), np.zeros((0, 1), bool), settings
        )
        out = {k: v[:0] for k, v in empty.items()}
    return out


def _reconstruct_packed(
    t: np.ndarray, s: np.ndarray, pos: np.ndarray, mask: np.ndarray, settings: BaselineSettings
) -> dict[str, np.ndarray]:
    n_trig = mask.sum(axis=1)
    enough = n_trig >= settings.min_stations
    w = time_weights(s, mask, settings)
    w_fit = np.where(enough[:, None], w, 0.0)
    axis, ok_dir = _plane_fit_packed(t, pos, w_fit)
    core, s1000, ok_ldf = ldf_fit(s, pos, mask & enough[:, None], axis, settings)
    if settings.front == "curved":
        ground = _ground_z(pos, mask)
        w_curved = np.where((ok_dir & ok_ldf)[:, None], w_fit, 0.0)
        start = np.column_stack([np.nan_to_num(core), ground]) + SPHERE_START_M * np.nan_to_num(axis)
        origin, ok_s = sphere_fit(t, pos, w_curved, start)
        for _ in range(2):  # the axis joins the core to the point source: alternate with the LDF fit
            to_origin = origin - np.column_stack([np.nan_to_num(core), ground])
            radius = np.linalg.norm(to_origin, axis=1)
            axis_s = to_origin / np.where(ok_s, radius, 1.0)[:, None]
            good = ok_s & (radius > SPHERE_MIN_RADIUS_M) & (axis_s[:, 2] > 0)
            axis = np.where(good[:, None], axis_s, axis)
            core_c, s1000_c, ok_c = ldf_fit(s, pos, mask & enough[:, None], axis, settings, core_start_m=core)
            core = np.where((good & ok_c)[:, None], core_c, core)
            s1000 = np.where(good & ok_c, s1000_c, s1000)
    ok = enough & ok_dir & ok_ldf
    flag = np.where(~enough, FLAG_FEW_STATIONS, np.where(ok, FLAG_OK, FLAG_FIT_FAILED)).astype(np.int8)
    zenith, azimuth = geometry.zenith_azimuth(axis)
    return {
        "axis": axis,
        "zenith_rec": zenith,
        "azimuth_rec": azimuth,
        "core_rec": core,
        "s1000_vem": s1000,
        "total_signal_vem": s.sum(axis=1),
        "n_triggered": n_trig.astype(np.int16),
        "flag": flag,
    }


def _ground_z(pos: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean height (m) of the triggered stations of each event: the plane the core lies in."""
    return np.where(mask, pos[..., 2], 0.0).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)


# ----------------------------------------------------------------------------------------------
# energy calibration


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
    dict with ``coefficients`` (c_1..c_degree), ``bins`` (x of each bin), and ``points``.
    """
    degree = settings.zenith_correction
    valid_zen = ok & np.isfinite(zenith_rad)
    if degree == 0:
        return {"coefficients": [], "degree": 0, "n_bins": 0}
    n_bins = int(min(settings.cic_bins, max(np.count_nonzero(valid_zen) // 50, degree + 1)))
    if np.count_nonzero(valid_zen) < 50 * (degree + 1):
        raise ValueError(
            f"constant-intensity zenith correction of degree {degree} needs at least "
            f"{50 * (degree + 1)} reconstructed training events, got {np.count_nonzero(valid_zen)}; "
            "lower baseline.zenith_correction"
        )
    cos2 = np.cos(np.where(np.isfinite(zenith_rad), zenith_rad, np.pi / 2)) ** 2
    # every event takes part in the binning; failed events get the lowest rank in their bin
    edges = np.quantile(cos2[valid_zen], np.linspace(0, 1, n_bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    which = np.clip(np.searchsorted(edges, cos2, side="right") - 1, 0, n_bins - 1)
    log_s = np.where(ok & np.isfinite(s1000_vem), np.log(np.where(ok, s1000_vem, 1.0)), -np.inf)
    qs = np.asarray(settings.cic_quantiles)
    rows, ys = [], []
    x_bins = []
    for b in range(n_bins):
        sel = which == b
        x_b = float(
            np.mean(
                cic_variable(
                    np.arccos(np.sqrt(np.clip(cos2[sel & valid_zen], 0, 1))), settings.reference_zenith_deg
                )
            )
        )
        x_bins.append(x_b)
        values = np.quantile(log_s[sel], qs, method="linear")
        for iq, v in enumerate(values):
            if not np.isfinite(v):
                continue
            row = np.zeros(len(qs) + degree)
            row[iq] = 1.0
            row[len(qs) :] = [x_b**k for k in range(1, degree + 1)]
            rows.append(row)
            ys.append(v)
    design, y = np.array(rows), np.array(ys)
    used = np.any(design[:, : len(qs)] != 0, axis=0)
    design = np.concatenate([design[:, : len(qs)][:, used], design[:, len(qs) :]], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    c = coef[-degree:]
    resid = y - design @ coef
    return {
        "coefficients": [float(v) for v in c],
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


def fit_calibration(
    reco: Mapping[str, np.ndarray], energy_eev: np.ndarray, settings: BaselineSettings
) -> dict:
    """Fit the energy calibration on the training split.

    Parameters
    ----------
    reco
        output of :func:`reconstruct` for the training events.
    energy_eev
        (N,) true energies of those events.

    Returns
    -------
    dict (JSON-serializable): ``A`` (EeV per VEM^B), ``B``, ``zenith_correction``,
    ``fallback`` (total-signal calibration), ``mean_energy_eev`` and fit statistics.
    """
    energy_eev = np.asarray(energy_eev, dtype=np.float64)
    ok = reco["flag"] == FLAG_OK
    if np.count_nonzero(ok) < 3:
        raise ValueError(f"only {np.count_nonzero(ok)} training events were reconstructed: cannot calibrate")
    zen_fit = fit_zenith_correction(reco["s1000_vem"], reco["zenith_rec"], ok, settings)
    size = s38(reco["s1000_vem"][ok], reco["zenith_rec"][ok], zen_fit, settings)
    log_s, log_e = np.log10(size), np.log10(energy_eev[ok])
    b, log_a = np.polyfit(log_s, log_e, 1)
    ratio = 10 ** (log_a + b * log_s) / energy_eev[ok]
    log_a -= np.log10(np.mean(ratio))  # mean E_rec / E_true = 1 on the training split
    a = 10**log_a

    total = reco["total_signal_vem"]
    has_signal = total > 0
    fb_b, fb_a = np.polyfit(np.log10(total[has_signal]), np.log10(energy_eev[has_signal]), 1)
    fb_ratio = 10 ** (fb_a + fb_b * np.log10(total[has_signal])) / energy_eev[has_signal]
    fb_a -= np.log10(np.mean(fb_ratio))

    calib = {
        "A": float(a),
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
    e_rec = apply_calibration(reco, calib, settings)
    calib["train_statistics"] = energy_statistics(e_rec, energy_eev, reco["flag"])
    return calib


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


def containment(values: np.ndarray, fraction: float = 0.68) -> tuple[float, float, float]:
    """Containment value (e.g. the 68 % containment angle) and its ~68 % confidence interval.

    The interval is given by the order statistics at ranks ``n q -+ sqrt(n q (1 - q))``
    (normal approximation of the binomial count of values below the true quantile).

    Returns
    -------
    value, low, high
        NaN for an empty sample.
    """
    values = np.sort(np.asarray(values, dtype=np.float64)[np.isfinite(values)])
    n = values.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    half = np.sqrt(n * fraction * (1.0 - fraction))
    lo = int(np.clip(np.floor(n * fraction - half), 0, n - 1))
    hi = int(np.clip(np.ceil(n * fraction + half), 0, n - 1))
    return float(np.quantile(values, fraction)), float(values[lo]), float(values[hi])


def energy_statistics(energy_rec: np.ndarray, energy_true: np.ndarray, flag: np.ndarray) -> dict:
    """Bias and resolution summaries of reconstructed energies (all events and the unflagged)."""
    out = {}
    for name, sel in (("all", np.ones(len(flag), bool)), ("ok", flag == FLAG_OK)):
        rel = energy_rec[sel] / energy_true[sel] - 1.0
        dlog = np.log10(energy_rec[sel] / energy_true[sel])
        out[name] = {
            "n_events": int(np.count_nonzero(sel)),
            "relative_bias": float(rel.mean()) if rel.size else float("nan"),
            "relative_resolution": float(rel.std()) if rel.size else float("nan"),
            "bias_eev": float(np.mean(energy_rec[sel] - energy_true[sel])) if rel.size else float("nan"),
            "resolution_eev": float(np.std(energy_rec[sel] - energy_true[sel])) if rel.size else float("nan"),
            "log10_bias": float(dlog.mean()) if rel.size else float("nan"),
            "log10_resolution": float(dlog.std()) if rel.size else float("nan"),
        }
    return out


def flag_counts(flag: np.ndarray) -> dict[str, int]:
    return {FLAG_NAMES[k]: int(np.count_nonzero(flag == k)) for k in FLAG_NAMES}


# ----------------------------------------------------------------------------------------------
# the whole baseline: calibrate on the training split, predict the test split

# what predictions.h5 of the baseline carries beyond io.PREDICTION_UNITS
RECONSTRUCTED_UNITS = {
    "zenith_rec": "rad",
    "azimuth_rec": "rad",
    "core_rec": "m",
    "s1000_vem": "VEM",
    "n_triggered": "1",
    "flag": "0 ok, 1 fewer than min_stations triggered, 2 fit failed",
}


def check_array(detector_m: np.ndarray, array: Mapping | None, source: str = "showers.h5") -> None:
    """Check the ``detector`` positions against the configured array (``simulation.array``).

    Raises ValueError naming the mismatch (station count or grid spacing).
    """
    detector_m = np.asarray(detector_m, dtype=np.float64)
    if not array:
        return
    n_side = array.get("n_side")
    if n_side is not None and len(detector_m) != n_side * n_side:
        raise ValueError(
            f"{source}: dataset 'detector' has {len(detector_m)} stations, config simulation.array.n_side "
            f"= {n_side} needs {n_side * n_side}"
        )
    spacing = array.get("spacing_m")
    if spacing is not None and len(detector_m) > 1:
        d = np.linalg.norm(detector_m[:, None, :2] - detector_m[None, :, :2], axis=-1)
        np.fill_diagonal(d, np.inf)
        nearest = float(np.median(d.min(axis=1)))
        if not np.isclose(nearest, spacing, rtol=0.01):
            raise ValueError(
                f"{source}: dataset 'detector' has station spacing {nearest:.1f} m, config "
                f"simulation.array.spacing_m is {spacing} m"
            )


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
    clock=None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Calibrate the baseline on the training split and reconstruct the test split.

    Parameters
    ----------
    showers
        the raw showers (``io.read_showers``): ``time``, ``signal``, ``detector``, ``mass``, ``xmax``.
    train, test
        ``index`` (rows of ``showers``), ``energy`` (EeV) and ``zenith`` (rad) of each split.
    names
        how errors name the two splits (their file paths).
    clock
        a ``time.perf_counter``-like function for the throughput (default ``time.perf_counter``).

    Returns
    -------
    predictions
        the test-split datasets of ``predictions.h5`` (:data:`io.PREDICTION_UNITS` and
        :data:`RECONSTRUCTED_UNITS`).
    calibration
        the JSON-serializable calibration with fit statistics, flag counts per split and the
        throughput ``inference_events_per_s`` (reconstruction and calibration of the test split).
    """
    import time

    clock = clock or time.perf_counter
    tr = _check_split(showers, train, names[0])
    te = _check_split(showers, test, names[1])
    positions = showers["detector"]
    reco_train = reconstruct(showers["time"][tr], showers["signal"][tr], positions, settings)
    calibration = fit_calibration(reco_train, train["energy"], settings)

    start = clock()
    reco_test = reconstruct(showers["time"][te], showers["signal"][te], positions, settings)
    energy_pred = apply_calibration(reco_test, calibration, settings)
    elapsed = clock() - start
    rate = len(te) / elapsed if elapsed > 0 else float("nan")

    energy_true = np.asarray(test["energy"], dtype=np.float64)
    calibration["test_statistics"] = energy_statistics(energy_pred, energy_true, reco_test["flag"])
    calibration["flagged"] = {
        "train": flag_counts(reco_train["flag"]),
        "test": flag_counts(reco_test["flag"]),
    }
    calibration["inference_events_per_s"] = rate
    calibration["settings"] = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    labels = {
        "energy": energy_true,
        "index": te,
        "zenith": test["zenith"],
        "mass": showers["mass"][te],
        "xmax": showers["xmax"][te],
    }
    predictions = io.prediction_datasets(
        energy_pred, labels, extra={name: reco_test[name] for name in RECONSTRUCTED_UNITS}
    )
    return predictions, calibration

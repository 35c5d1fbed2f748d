"""Shower geometry shared by the simulation, the classical reconstruction and the tests.

Coordinates: x, y on the ground plane (m), z up (altitude, m); the array centre is (0, 0). A
shower axis is the unit vector pointing to where the shower comes from (zenith angle from +z,
azimuth from +x towards +y).
"""

from __future__ import annotations

import numpy as np

C_M_PER_US = 299.792458  # speed of light (m/us)


def axis_vector(azimuth_rad, zenith_rad) -> np.ndarray:
    """Unit vectors (..., 3) pointing to where the shower comes from."""
    st = np.sin(zenith_rad)
    return np.stack([st * np.cos(azimuth_rad), st * np.sin(azimuth_rad), np.cos(zenith_rad)], axis=-1)


def zenith_azimuth(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zenith in [0, pi/2] and azimuth in [-pi, pi) (rad) of unit vectors (N, 3)."""
    zenith = np.arccos(np.clip(axis[:, 2], -1.0, 1.0))
    azimuth = np.arctan2(axis[:, 1], axis[:, 0])
    azimuth = np.where(azimuth >= np.pi, azimuth - 2 * np.pi, azimuth)
    return zenith, azimuth


def opening_angle(axis_a: np.ndarray, axis_b: np.ndarray) -> np.ndarray:
    """Angle (rad) between unit vectors (N, 3), numerically safe at small angles."""
    cross = np.linalg.norm(np.cross(axis_a, axis_b), axis=-1)
    dot = np.sum(axis_a * axis_b, axis=-1)
    return np.arctan2(cross, dot)


def axis_distance(dx, dy, dz, axis: np.ndarray, min_r2_m2: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Distance of points to shower axes, from their offsets to a point on the axis.

    Parameters
    ----------
    dx, dy, dz : arrays (N, K), m
        Offsets of K points (stations) from a point on each of N axes (the core).
    axis : array (N, 3)
        Unit vectors of the axes.
    min_r2_m2 : float
        Floor of the squared distance (m^2), e.g. to keep a derivative by ``r`` finite.

    Returns
    -------
    r_m, along_m : arrays (N, K)
        Distance to the axis and the coordinate along it (positive towards where the shower
        comes from).
    """
    along = dx * axis[:, 0:1] + dy * axis[:, 1:2] + dz * axis[:, 2:3]
    r = np.sqrt(np.maximum(dx * dx + dy * dy + dz * dz - along * along, min_r2_m2))
    return r, along


def station_spacing(positions_m: np.ndarray) -> float:
    """The array's station spacing (m): the median over the stations of the ground distance to
    the nearest other station."""
    positions_m = np.asarray(positions_m, dtype=np.float64)
    d = np.linalg.norm(positions_m[:, None, :2] - positions_m[None, :, :2], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))

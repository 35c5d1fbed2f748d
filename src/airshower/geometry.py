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


# --- array layouts: station positions of an n x n image of stations ----------------------------
#
# An array is stored as an image: station ``i * n + j`` of the ``detector`` table is pixel [i, j].
# - square: pixel [i, j] at (x, y) = spacing (i, j), the grid the seed lecture's toy uses;
# - hexagonal: a triangular grid (every station has six neighbours at the spacing, as in the
#   Pierre Auger Observatory's surface detector) in axial coordinates: pixel [i, j] at
#   (x, y) = spacing (i + j / 2, j sqrt(3) / 2), a rhombus of n x n stations. The six neighbours of
#   pixel [i, j] are [i +- 1, j], [i, j +- 1], [i + 1, j - 1] and [i - 1, j + 1]: a 3 x 3 kernel
#   without its corners [i - 1, j - 1] and [i + 1, j + 1] (:func:`hexagonal_kernel_mask`).
# Both are centred on (0, 0). A new layout adds its function here and its name to the schema's
# ``simulation.array.layout``; a convolution that fits it goes to :mod:`airshower.hexconv`.


def _square_xy(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return i, j


def _hexagonal_xy(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return i + j / 2.0, j * np.sqrt(3.0) / 2.0


LAYOUTS = {"square": _square_xy, "hexagonal": _hexagonal_xy}


def grid_positions(layout: str, n_side: int, spacing_m: float) -> np.ndarray:
    """(n_side^2, 2) ground positions (m) of the stations of ``layout`` (:data:`LAYOUTS`), row-major
    (station ``i * n_side + j`` is pixel [i, j]), centred on (0, 0)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown array layout {layout!r} (one of {', '.join(LAYOUTS)})")
    i, j = np.meshgrid(
        np.arange(n_side, dtype=np.float64), np.arange(n_side, dtype=np.float64), indexing="ij"
    )
    x, y = LAYOUTS[layout](i, j)
    xy = np.stack([x.ravel(), y.ravel()], axis=1) * spacing_m
    return xy - xy.mean(axis=0)


def hexagonal_kernel_mask(size: int) -> np.ndarray:
    """(size, size) bool: the pixels of a kernel of odd ``size`` that are within (size - 1) / 2
    steps of its centre on the hexagonal grid in axial coordinates (``|di| <= m``, ``|dj| <= m``,
    ``|di + dj| <= m``): for size 3 the centre and its six neighbours, the corners [0, 0] and
    [2, 2] left out."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"a hexagonal kernel needs an odd size, got {size}")
    m = (size - 1) // 2
    d = np.arange(-m, m + 1)
    return np.abs(d[:, None] + d[None, :]) <= m


def layout_of(positions_m: np.ndarray) -> str | None:
    """The layout of :data:`LAYOUTS` whose grid the stations ``positions_m`` (n^2, 2 or 3) form,
    whatever its centre; None for another arrangement."""
    xy = np.asarray(positions_m, dtype=np.float64)[:, :2]
    n_side = int(round(np.sqrt(len(xy))))
    if n_side * n_side != len(xy) or n_side < 2:
        return None
    spacing = station_spacing(xy)
    for name in LAYOUTS:
        grid = grid_positions(name, n_side, spacing)
        if np.allclose(xy - xy.mean(axis=0), grid, rtol=0.0, atol=1e-3 * spacing):
            return name
    return None

"""Atmospheric depth: the CORSIKA 5-layer parameterization and its inverse.

The vertical depth (mass overburden) above height ``h`` is, in the four lower layers,

    T(h) = a_i + b_i exp(-h / c_i)            (g/cm^2)

and in the fifth layer ``T(h) = a_5 - b_5 h / c_5``, which reaches zero at
``h = a_5 c_5 / b_5`` (112.8 km for the default); above that the depth is 0. The default
constants are CORSIKA's atmosphere model 17, the US standard atmosphere after Keilhauer
(CORSIKA user's guide, "ATMOSPHERE" models; the same numbers as in the toy simulation of
Erdmann, Glombitza, Walz, Astropart. Phys. 97 (2018) 46): layer boundaries 0, 7, 11.4, 37 and
100 km, ``a`` and ``b`` in g/cm^2, ``c`` in cm (converted to m here). With them the vertical
depth at 1400 m is 872.3 g/cm^2.

Slant depths use the flat-earth approximation ``X = T(h) / cos(zenith)``, as the toy model
does; it is good to about 1 % up to 60 deg zenith.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# CORSIKA atmosphere model 17 (US standard after Keilhauer)
DEFAULT_LAYER_BOUNDARIES_KM = (0.0, 7.0, 11.4, 37.0, 100.0)
DEFAULT_A_GCM2 = (-149.801663, -57.932486, 0.63631894, 4.35453690e-4, 0.01128292)
DEFAULT_B_GCM2 = (1183.6071, 1143.0425, 1322.9748, 655.67307, 1.0)
DEFAULT_C_CM = (954248.34, 800005.34, 629568.93, 737521.77, 1.0e9)


@dataclass(frozen=True)
class Atmosphere:
    """Five-layer atmosphere: layer lower boundaries (m), a and b (g/cm^2), c (m)."""

    boundaries_m: tuple[float, ...] = tuple(1e3 * h for h in DEFAULT_LAYER_BOUNDARIES_KM)
    a_gcm2: tuple[float, ...] = DEFAULT_A_GCM2
    b_gcm2: tuple[float, ...] = DEFAULT_B_GCM2
    c_m: tuple[float, ...] = tuple(1e-2 * c for c in DEFAULT_C_CM)

    def __post_init__(self) -> None:
        sizes = {len(self.boundaries_m), len(self.a_gcm2), len(self.b_gcm2), len(self.c_m)}
        if sizes != {5}:
            raise ValueError("the atmosphere needs 5 layer boundaries and 5 values each of a, b and c")
        if np.any(np.diff(self.boundaries_m) <= 0):
            raise ValueError("atmosphere layer boundaries must increase")

    @classmethod
    def from_config(cls, section: Mapping | None) -> Atmosphere:
        """From the ``simulation.atmosphere`` section (km, g/cm^2, g/cm^2, cm; see config/README.md)."""
        section = section or {}
        return cls(
            boundaries_m=tuple(
                1e3 * float(h) for h in section.get("layer_boundaries_km", DEFAULT_LAYER_BOUNDARIES_KM)
            ),
            a_gcm2=tuple(float(a) for a in section.get("a_gcm2", DEFAULT_A_GCM2)),
            b_gcm2=tuple(float(b) for b in section.get("b_gcm2", DEFAULT_B_GCM2)),
            c_m=tuple(1e-2 * float(c) for c in section.get("c_cm", DEFAULT_C_CM)),
        )

    @property
    def top_m(self) -> float:
        """Height where the fifth layer's depth reaches zero (m)."""
        return self.a_gcm2[4] * self.c_m[4] / self.b_gcm2[4]


def vertical_depth(height_m, atmosphere: Atmosphere = Atmosphere()) -> np.ndarray:
    """Vertical depth T(h) in g/cm^2 above ``height_m`` (m above sea level).

    Heights below sea level use the lowest layer; above the top of the atmosphere the depth is 0.
    """
    h = np.asarray(height_m, dtype=float)
    a, b, c = (np.asarray(v) for v in (atmosphere.a_gcm2, atmosphere.b_gcm2, atmosphere.c_m))
    layer = np.clip(np.searchsorted(atmosphere.boundaries_m, h, side="right") - 1, 0, 4)
    lower = a[layer] + b[layer] * np.exp(-h / c[layer])
    upper = a[4] - b[4] * h / c[4]
    depth = np.where(layer < 4, lower, upper)
    return np.where(h >= atmosphere.top_m, 0.0, depth)


def height_at_vertical_depth(depth_gcm2, atmosphere: Atmosphere = Atmosphere()) -> np.ndarray:
    """Height (m a.s.l.) where the vertical depth is ``depth_gcm2``; inverse of :func:`vertical_depth`.

    Depths <= 0 map to the top of the atmosphere; depths beyond sea level extrapolate the lowest layer.
    """
    x = np.asarray(depth_gcm2, dtype=float)
    a, b, c = (np.asarray(v) for v in (atmosphere.a_gcm2, atmosphere.b_gcm2, atmosphere.c_m))
    x_bounds = vertical_depth(np.asarray(atmosphere.boundaries_m), atmosphere)  # decreasing with height
    # layer i holds depths in (x_bounds[i+1], x_bounds[i]]
    layer = np.clip(4 - np.searchsorted(x_bounds[::-1], x, side="left"), 0, 4)
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = -c[layer] * np.log((x - a[layer]) / b[layer])
    upper = (a[4] - x) * c[4] / b[4]
    h = np.where(layer < 4, lower, upper)
    return np.where(x <= 0, atmosphere.top_m, h)


def slant_depth(height_m, zenith_rad, atmosphere: Atmosphere = Atmosphere()) -> np.ndarray:
    """Slant depth (g/cm^2) above ``height_m`` along zenith angle ``zenith_rad`` (flat earth)."""
    return vertical_depth(height_m, atmosphere) / np.cos(zenith_rad)


def height_at_slant_depth(depth_gcm2, zenith_rad, atmosphere: Atmosphere = Atmosphere()) -> np.ndarray:
    """Height (m) where the slant depth along ``zenith_rad`` is ``depth_gcm2`` (inverse of slant_depth)."""
    return height_at_vertical_depth(np.asarray(depth_gcm2) * np.cos(zenith_rad), atmosphere)

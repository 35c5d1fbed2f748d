"""Atmospheric depth: the CORSIKA 5-layer parameterization and its inverse.

The vertical depth (mass overburden) above height ``h`` is, in the four lower layers,

    T(h) = a_i + b_i exp(-h / c_i)            (g/cm^2)

and in the fifth layer ``T(h) = a_5 - b_5 h / c_5``, which reaches zero at
``h = a_5 c_5 / b_5`` (112.8 km for the default); above that the depth is 0. The default
constants (the schema defaults of ``simulation.atmosphere``: ``Atmosphere.from_config()``) are
CORSIKA's atmosphere model 17, the US standard atmosphere after Keilhauer (CORSIKA user's
guide, "ATMOSPHERE" models; the same numbers as in the toy simulation of Erdmann, Glombitza,
Walz, Astropart. Phys. 97 (2018) 46): layer boundaries 0, 7, 11.4, 37 and 100 km, ``a`` and
``b`` in g/cm^2, ``c`` in cm (converted to m here). With them the vertical depth at 1400 m is
872.3 g/cm^2.

Slant depths use the flat-earth approximation ``X = T(h) / cos(zenith)``, as the toy model
does; it is good to about 1 % up to 60 deg zenith.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

import numpy as np

from airshower import schema


@dataclass(frozen=True)
class Atmosphere(schema.Settings):
    """Five-layer atmosphere in the units of the config section ``simulation.atmosphere``:
    layer lower boundaries (km), a and b (g/cm^2), c (cm); ``boundaries_m`` and ``c_m`` in m."""

    SECTION: ClassVar[str] = "simulation.atmosphere"

    layer_boundaries_km: tuple[float, ...]
    a_gcm2: tuple[float, ...]
    b_gcm2: tuple[float, ...]
    c_cm: tuple[float, ...]

    def __post_init__(self) -> None:
        if any(lower >= upper for lower, upper in pairwise(self.layer_boundaries_km)):
            raise schema.ConfigError(
                "config key 'simulation.atmosphere.layer_boundaries_km': must increase, "
                f"got {list(self.layer_boundaries_km)}"
            )

    @property
    def boundaries_m(self) -> tuple[float, ...]:
        """Lower boundaries of the layers (m)."""
        return tuple(1e3 * h for h in self.layer_boundaries_km)

    @property
    def c_m(self) -> tuple[float, ...]:
        """Scale heights c of the layers (m)."""
        return tuple(1e-2 * c for c in self.c_cm)

    @property
    def top_m(self) -> float:
        """Height where the fifth layer's depth reaches zero (m)."""
        return self.a_gcm2[4] * self.c_m[4] / self.b_gcm2[4]


def vertical_depth(height_m, atmosphere: Atmosphere) -> np.ndarray:
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


def height_at_vertical_depth(depth_gcm2, atmosphere: Atmosphere) -> np.ndarray:
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


def slant_depth(height_m, zenith_rad, atmosphere: Atmosphere) -> np.ndarray:
    """Slant depth (g/cm^2) above ``height_m`` along zenith angle ``zenith_rad`` (flat earth)."""
    return vertical_depth(height_m, atmosphere) / np.cos(zenith_rad)


def height_at_slant_depth(depth_gcm2, zenith_rad, atmosphere: Atmosphere) -> np.ndarray:
    """Height (m) where the slant depth along ``zenith_rad`` is ``depth_gcm2`` (inverse of slant_depth)."""
    return height_at_vertical_depth(np.asarray(depth_gcm2) * np.cos(zenith_rad), atmosphere)

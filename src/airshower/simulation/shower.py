"""The showers: primaries and geometry of each event, and the geometry seen by each station.

Per event: log10(E/eV) uniform; mass drawn from the composition; azimuth uniform in
[-pi, pi); zenith with density sin(t) cos(t) up to ``zenith_max_deg``; core uniform in a disc;
Xmax from the generalized Gumbel (:mod:`airshower.xmax`), redrawn while deeper than the slant
depth ``xmax.min_height_above_ground_m`` above the ground; one time offset. The shower maximum
sits on the axis at the height whose slant depth is Xmax (:mod:`airshower.atmosphere`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from airshower import atmosphere as atm
from airshower import geometry
from airshower import xmax as xmax_model
from airshower.simulation import response
from airshower.simulation.settings import SimulationSettings

_MAX_XMAX_DRAWS = 10_000


def sample_zenith(n: int, zenith_max_rad: float, rng: np.random.Generator) -> np.ndarray:
    """Zenith angles (rad) with density ~ sin(t) cos(t) on [0, zenith_max_rad]."""
    u = rng.random(n)
    return np.arccos(np.sqrt(1.0 - u * (1.0 - np.cos(zenith_max_rad) ** 2)))


def sample_events(settings: SimulationSettings, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Primary and geometry of ``n`` showers (float64): log10 energy, mass, direction, core, Xmax,
    time offset (ns), drawn in this order."""
    lo, hi = settings.log10_energy_ev
    log10_energy = lo + (hi - lo) * rng.random(n)
    comp = settings.composition
    mass = rng.choice(np.asarray(comp.mass_numbers, dtype=np.int64), size=n, p=np.asarray(comp.fractions))
    azimuth = -np.pi + 2 * np.pi * rng.random(n)
    zenith = sample_zenith(n, np.deg2rad(settings.zenith_max_deg), rng)
    core_r = settings.core_radius_m * np.sqrt(rng.random(n))
    core_phi = 2 * np.pi * rng.random(n)
    core = np.stack([core_r * np.cos(core_phi), core_r * np.sin(core_phi)], axis=1)
    xmax = sample_xmax_above_ground(settings, log10_energy, mass, zenith, rng)
    offset_ns = settings.timing.event_offset_ns * (2 * rng.random(n) - 1)
    return {
        "log10_energy": log10_energy,
        "mass": mass,
        "azimuth": azimuth,
        "zenith": zenith,
        "axis": geometry.axis_vector(azimuth, zenith),
        "core": core,
        "xmax": xmax,
        "offset_ns": offset_ns,
    }


def sample_xmax_above_ground(
    settings: SimulationSettings, log10_energy, mass, zenith_rad, rng: np.random.Generator
) -> np.ndarray:
    """Xmax (g/cm^2), redrawn (only for the affected events) while deeper than the slant depth
    ``xmax.min_height_above_ground_m`` above the ground."""
    model = settings.interaction_model
    altitude = settings.array.altitude_m
    limit = atm.slant_depth(
        altitude + settings.xmax.min_height_above_ground_m, zenith_rad, settings.atmosphere
    )
    xmax = xmax_model.sample_xmax(log10_energy, mass, rng, model)
    redo = np.flatnonzero(xmax > limit)
    for _ in range(_MAX_XMAX_DRAWS):
        if redo.size == 0:
            return xmax
        xmax[redo] = xmax_model.sample_xmax(log10_energy[redo], mass[redo], rng, model)
        redo = redo[xmax[redo] > limit[redo]]
    raise RuntimeError(
        "Xmax keeps falling below the allowed height; check simulation.xmax.min_height_above_ground_m "
        "and simulation.array.altitude_m"
    )


def _core3(settings: SimulationSettings, events: Mapping) -> np.ndarray:
    """Cores (n, 3) in m at the altitude of the array."""
    return np.column_stack([events["core"], np.full(len(events["core"]), settings.array.altitude_m)])


def point_at_slant_depth(settings: SimulationSettings, depth_gcm2, events: Mapping) -> np.ndarray:
    """Position (n, 3) in m on each shower axis where the slant depth is ``depth_gcm2``."""
    altitude = settings.array.altitude_m
    height = atm.height_at_slant_depth(depth_gcm2, events["zenith"], settings.atmosphere)
    along = (height - altitude) / np.cos(events["zenith"])
    return _core3(settings, events) + events["axis"] * along[:, None]


def _planar_time_us(_settings: SimulationSettings, _events: Mapping, _detector, along_m) -> np.ndarray:
    """A plane through the core moving along the axis at the speed of light."""
    return -along_m / geometry.C_M_PER_US


def _spherical_time_us(settings: SimulationSettings, events: Mapping, detector, _along_m) -> np.ndarray:
    """A sphere from a virtual origin on the axis (slant depth ``virtual_origin_fraction`` x Xmax),
    relative to its arrival at the core."""
    depth = settings.timing.virtual_origin_fraction * events["xmax"]
    origin = point_at_slant_depth(settings, depth, events)
    ox = origin[:, None, 0] - detector[None, :, 0]
    oy = origin[:, None, 1] - detector[None, :, 1]
    oz = origin[:, None, 2] - detector[None, :, 2]
    to_core = np.linalg.norm(origin - _core3(settings, events), axis=1)
    return (np.sqrt(ox * ox + oy * oy + oz * oz) - to_core[:, None]) / geometry.C_M_PER_US


# the distance from the axis (m) at which the muon target compares the muon signal
MUON_REFERENCE_DISTANCE_M = 1000.0

# arrival time of the front (us) by config simulation.shower_front
FRONT_TIMES = {"planar": _planar_time_us, "spherical": _spherical_time_us}


def relative_muon_content(settings: SimulationSettings, events: Mapping) -> np.ndarray:
    """The muon target's label R_mu (n,) float32: the expected muon signal at 1000 m from the axis
    (:data:`MUON_REFERENCE_DISTANCE_M`), attenuated over the slant depth from the shower maximum to
    the ground along the axis, relative to the muon signal of a proton shower of the same energy at
    that distance before attenuation (the toy's muon scale at the reference depth).

    In the toy it is the muon share of the mass (``muon_share A^index``, 1.46 for iron against 1
    for protons) times the attenuation ``min((dX / 100 g/cm^2)^-0.1, 10)`` of the depth ``dX``
    the muons crossed: a shower-to-shower quantity, independent of the energy, through which the
    mass and (weakly) Xmax act on the muon content, as the relative muon number of the literature.
    """
    station = settings.station
    v_max = point_at_slant_depth(settings, events["xmax"], events)
    ground = atm.vertical_depth(np.asarray([settings.array.altitude_m]), settings.atmosphere)
    dx_axis = (ground - atm.vertical_depth(v_max[:, 2], settings.atmosphere)) / np.cos(events["zenith"])
    r = np.full(len(dx_axis), MUON_REFERENCE_DISTANCE_M)
    lg = np.asarray(events["log10_energy"], dtype=float)
    s_mu, _ = response.expected_signals(station, lg, events["mass"], r, dx_axis)
    reference, _ = response.expected_signals(
        dataclasses.replace(station, saturation_vem=np.inf),
        lg,
        1,
        r,
        np.full(len(r), station.attenuation_depth_gcm2),
    )
    return (s_mu / reference).astype(np.float32)


def station_geometry(
    settings: SimulationSettings, events: Mapping, detector: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance to the axis ``r_m``, slant depth to the maximum ``dx_gcm2`` and front time ``time_us``.

    All of shape (n_events, n_stations). ``dx_gcm2`` is the vertical depth difference between
    station and shower maximum divided by the cosine of the direction from station to maximum.
    """
    altitude = settings.array.altitude_m
    wx = detector[None, :, 0] - events["core"][:, 0:1]
    wy = detector[None, :, 1] - events["core"][:, 1:2]
    wz = np.broadcast_to(detector[None, :, 2] - altitude, wx.shape)
    r_m, along = geometry.axis_distance(wx, wy, wz, events["axis"])

    v_max = point_at_slant_depth(settings, events["xmax"], events)
    dx = v_max[:, None, 0] - detector[None, :, 0]
    dy = v_max[:, None, 1] - detector[None, :, 1]
    dz = v_max[:, None, 2] - detector[None, :, 2]
    dist = np.sqrt(dx * dx + dy * dy + dz * dz)
    depth_station = atm.vertical_depth(detector[:, 2], settings.atmosphere)
    depth_max = atm.vertical_depth(v_max[:, 2], settings.atmosphere)
    dx_gcm2 = (depth_station[None, :] - depth_max[:, None]) * dist / np.maximum(dz, 1e-9)

    time_us = FRONT_TIMES[settings.shower_front](settings, events, detector, along)
    return r_m, dx_gcm2, time_us

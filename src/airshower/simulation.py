"""Toy air-shower simulation of a 14 x 14 ground array (arrival-time and signal images).

The physics is the toy model of Erdmann, Glombitza, Walz, Astropart. Phys. 97 (2018) 46
(arXiv:1708.00647) and its public code, on the tutorial's Cartesian array; every constant
is a key of the ``simulation`` config section (see config/README.md), mirrored by the
defaults of the settings dataclasses below.

Per event: log10(E/eV) uniform; azimuth uniform in [-pi, pi); zenith with density
sin(t) cos(t) up to ``zenith_max_deg``; core uniform in a disc; mass drawn from the
composition; Xmax from the generalized Gumbel (:mod:`airshower.xmax`), redrawn while deeper
than the slant depth ``xmax.min_height_above_ground_m`` above the ground; the shower maximum
placed on the axis at the height whose slant depth is Xmax (:mod:`airshower.atmosphere`).

Per station (all arrays have shape ``(n_events, n_stations)``; nothing loops over
particles): distance r to the axis, slant depth dX between station and maximum (vertical
depth difference over the cosine of the station-to-maximum direction), expected muon and
electromagnetic signals (energy scaling, mass-dependent muon share, lateral fall-off,
attenuation, saturation), particle counts ``max(round(S + sqrt(S) g), 0)`` (1 particle =
1 VEM), log-normal arrival-time delays binned in ``n_bins`` bins of ``bin_width_ns``.
Particles arriving outside the trace window are not recorded (as in the public code, where
the integrated signal is the sum of the trace).

Integrated signal, with and without traces
------------------------------------------
With ``store_traces`` the per-bin counts are drawn from the binned delay distribution
(a binomial for the in-window count, then a multinomial over the normalized bin
probabilities: together exactly the multinomial over bins plus overflow; see
:func:`sample_traces` for how the multinomial is drawn cheaply), the detector
noise is added per bin, ``clip(S_b + rel S_b g1 + abs (1 + spread g2), 0)``, and the
integral is the sum over bins. The stored ``trace_muon`` / ``trace_em`` are the detected
particles per bin *before* detector noise (VEM).

Without traces the same integral is drawn per station from its distribution, without
building the bins:

- in-window counts: the same binomial thinning (exact);
- relative noise: given the bin contents it is Gaussian with variance
  ``rel^2 sum_b S_b^2``; ``sum_b S_b^2`` is replaced by its expectation given the in-window
  counts, ``N_mu + N_mu (N_mu - 1) q_mumu + N_em + N_em (N_em - 1) q_emem + 2 N_mu N_em q_muem``
  with ``q`` the collision probabilities of the normalized binned delay distributions
  (tabulated once on a grid of the two delay medians, interpolated bilinearly). This keeps
  the variance exact; it neglects the fluctuation of ``sum S_b^2`` itself, which matters
  only for few particles, where the relative noise is negligible against the absolute one;
- absolute noise: the sum over bins of the clipped Gaussian; empty bins have the moments of
  ``max(abs (1 + spread g), 0)`` (computed in closed form), occupied bins are not clipped
  (probability < 2e-4 for one particle); the number of empty bins is approximated by
  ``max(n_bins - N, 0)`` (exact without particles, off by at most 0.4 VEM in the mean
  otherwise); the sum is drawn as a Gaussian with the first-order Cornish-Fisher skewness
  correction (CLT over 80 bins).

``tests/test_simulation.py`` compares the two paths as distributions.

Stored signal, trigger and time
-------------------------------
A station triggers when its integrated signal *including* the noise pedestal is at least
``trigger.threshold_vem`` (80 x 1.2 x 1.2 = 115.2 VEM). The stored ``signal`` has the mean
pedestal of a particle-free trace (``n_bins E[max(abs (1 + spread g), 0)]`` = 96.4 VEM)
subtracted and is clipped at 0 (a triggered station always has at least 18.8 VEM left).
With ``noise.enabled: false`` the pedestal is this mean exactly, so the trigger acts at the
same particle number. Silent stations are NaN in ``signal`` and ``time``.

The arrival time (microseconds) is that of a planar front through the core moving along the
axis at the speed of light (or of a spherical front from a virtual origin on the axis at the
height where the slant depth is ``virtual_origin_fraction`` x Xmax, relative to the core), plus
Gaussian jitter of ``jitter_ns x jitter_scale / (1 + log10(N + 1))`` (N: detected particles)
and one uniform offset in ``+-event_offset_ns`` per event.

Noiseless mode: ``noise.enabled: false``, ``station.fluctuations: false`` (in-window counts
``round(S P_window)``), ``timing.jitter_ns: 0`` and ``timing.event_offset_ns: 0``.

Reproducibility
---------------
Events are simulated in blocks of ``block_size``; block ``b`` draws from
``rng.generator(seed, "simulation", b)`` only, in a fixed order (event quantities first, so
they do not depend on ``store_traces``), so a shard's data depend only on the blocks it
holds and the merged data set is the same for any number of shards.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from airshower import atmosphere as atm
from airshower import geometry
from airshower import rng as rng_streams
from airshower import xmax as xmax_model


def _from_section(cls, section: Mapping | None):
    """Build a flat settings dataclass from a config section; unknown keys are errors."""
    section = dict(section or {})
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - set(names))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
    kwargs = {}
    for key, value in section.items():
        default = names[key].default
        kwargs[key] = type(default)(value) if isinstance(default, bool | int | float) else value
    return cls(**kwargs)


@dataclass(frozen=True)
class ArrayLayout:
    """Cartesian ``n_side`` x ``n_side`` grid centred on (0, 0) at ``altitude_m`` above sea level."""

    n_side: int = 14
    spacing_m: float = 750.0
    altitude_m: float = 1400.0

    def positions(self) -> np.ndarray:
        """Station positions (n_side^2, 3) in m; row-major: station ``i * n_side + j`` is pixel ``[i, j]``."""
        c = (np.arange(self.n_side) - (self.n_side - 1) / 2) * self.spacing_m
        x, y = np.meshgrid(c, c, indexing="ij")
        z = np.full_like(x, self.altitude_m)
        return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


@dataclass(frozen=True)
class StationModel:
    """Expected signal and particle-count fluctuations of a station (config ``simulation.station``)."""

    s1000_vem: float = 900.0  # total signal at the reference distance and energy (VEM)
    reference_log10_energy_ev: float = 19.0
    reference_distance_m: float = 1000.0
    muon_share: float = 0.3  # r1 = muon_share * A**muon_share_mass_index
    muon_share_mass_index: float = 0.15
    em_share: float = 0.7  # r2
    min_distance_m: float = 150.0  # the lateral fall-off is flat inside this distance
    muon_lateral_index: float = 4.7
    em_lateral_index: float = 6.1
    attenuation_depth_gcm2: float = 100.0
    muon_attenuation_index: float = 0.1
    em_attenuation_index: float = 0.4
    max_attenuation_factor: float = 10.0
    saturation_vem: float = 1.0e7  # cap on muon + em
    fluctuations: bool = True  # False: counts round(S) (noiseless mode)


@dataclass(frozen=True)
class TraceModel:
    """Binned log-normal arrival-time delays (config ``simulation.trace``).

    Medians: ``muon_delay_ns + muon_delay_scale_ns (r / delay_distance_m)**delay_distance_index
    max(1 - muon_delay_depth_coefficient dX / delay_depth_gcm2, 0)`` (same for em); the em delays
    are shifted by ``(median_em - median_mu) / em_shift_divisor``.
    """

    n_bins: int = 80
    bin_width_ns: float = 25.0
    delay_sigma: float = 0.7  # log-normal sigma (of ln t/ns)
    delay_distance_m: float = 750.0
    delay_distance_index: float = 1.4
    delay_depth_gcm2: float = 1000.0
    muon_delay_ns: float = 50.0
    muon_delay_scale_ns: float = 140.0
    muon_delay_depth_coefficient: float = 0.2
    em_delay_ns: float = 80.0
    em_delay_scale_ns: float = 200.0
    em_delay_depth_coefficient: float = 0.1
    em_shift_divisor: float = 1.5

    @property
    def window_ns(self) -> float:
        return self.n_bins * self.bin_width_ns

    @property
    def edges_ns(self) -> np.ndarray:
        return np.arange(self.n_bins + 1) * self.bin_width_ns


@dataclass(frozen=True)
class NoiseModel:
    """Per-bin detector noise (config ``simulation.noise``)."""

    enabled: bool = True
    relative: float = 0.05  # Gaussian, relative to the bin content
    absolute_vem: float = 1.2  # per bin: absolute_vem * (1 + absolute_spread * g), clipped at 0
    absolute_spread: float = 0.5


@dataclass(frozen=True)
class TimingModel:
    """Arrival-time smearing (config ``simulation.timing``)."""

    jitter_ns: float = 60.0  # sigma = jitter_ns * jitter_scale / (1 + log10(N + 1))
    jitter_scale: float = 8.0
    event_offset_ns: float = 50.0  # one uniform offset in [-event_offset_ns, event_offset_ns) per event
    virtual_origin_fraction: float = 0.5  # spherical front: origin at this fraction of Xmax


@dataclass(frozen=True)
class SimulationSettings:
    """Everything the simulation needs; built from the ``simulation`` config section."""

    n_events: int = 1000
    n_shards: int = 1
    block_size: int = 1000
    array: ArrayLayout = field(default_factory=ArrayLayout)
    log10_energy_ev: tuple[float, float] = (18.5, 20.0)
    zenith_max_deg: float = 60.0
    core_radius_m: float = 750.0
    mass_numbers: tuple[int, ...] = (1,)
    fractions: tuple[float, ...] = (1.0,)
    interaction_model: str = "EPOS-LHC"
    shower_front: str = "planar"
    store_traces: bool = False
    xmax_min_height_above_ground_m: float = 200.0
    atmosphere: atm.Atmosphere = field(default_factory=atm.Atmosphere)
    station: StationModel = field(default_factory=StationModel)
    trace: TraceModel = field(default_factory=TraceModel)
    noise: NoiseModel = field(default_factory=NoiseModel)
    trigger_threshold_vem: float = 115.2
    timing: TimingModel = field(default_factory=TimingModel)

    def __post_init__(self) -> None:
        if self.interaction_model not in xmax_model.INTERACTION_MODELS:
            raise ValueError(f"unknown interaction model {self.interaction_model!r}")
        if self.shower_front not in ("planar", "spherical"):
            raise ValueError(f"shower_front must be 'planar' or 'spherical', got {self.shower_front!r}")
        if len(self.mass_numbers) != len(self.fractions) or not math.isclose(
            sum(self.fractions), 1, abs_tol=1e-6
        ):
            raise ValueError("composition: one fraction per mass number, summing to 1")
        lo, hi = self.log10_energy_ev
        if not lo < hi:
            raise ValueError("log10_energy_ev: minimum must be below maximum")
        if not 0 < self.zenith_max_deg < 90:
            raise ValueError("zenith_max_deg must lie in (0, 90)")

    @classmethod
    def from_config(cls, section: Mapping) -> SimulationSettings:
        """From the validated ``simulation`` config section (missing keys take the defaults)."""
        s = dict(section)
        comp = s.get("composition", {"mass_numbers": [1], "fractions": [1.0]})
        kwargs = {
            k: s[k]
            for k in (
                "n_events",
                "n_shards",
                "block_size",
                "zenith_max_deg",
                "core_radius_m",
                "interaction_model",
                "shower_front",
                "store_traces",
            )
            if k in s
        }
        if "log10_energy_ev" in s:
            kwargs["log10_energy_ev"] = tuple(float(v) for v in s["log10_energy_ev"])
        kwargs["mass_numbers"] = tuple(int(a) for a in comp["mass_numbers"])
        kwargs["fractions"] = tuple(float(f) for f in comp["fractions"])
        if "xmax" in s:
            kwargs["xmax_min_height_above_ground_m"] = float(
                s["xmax"].get("min_height_above_ground_m", cls.xmax_min_height_above_ground_m)
            )
        if "trigger" in s:
            kwargs["trigger_threshold_vem"] = float(
                s["trigger"].get("threshold_vem", cls.trigger_threshold_vem)
            )
        kwargs["array"] = _from_section(ArrayLayout, s.get("array"))
        kwargs["atmosphere"] = atm.Atmosphere.from_config(s.get("atmosphere"))
        kwargs["station"] = _from_section(StationModel, s.get("station"))
        kwargs["trace"] = _from_section(TraceModel, s.get("trace"))
        kwargs["noise"] = _from_section(NoiseModel, s.get("noise"))
        kwargs["timing"] = _from_section(TimingModel, s.get("timing"))
        return cls(**kwargs)

    def replace(self, **changes) -> SimulationSettings:
        return dataclasses.replace(self, **changes)

    @property
    def n_blocks(self) -> int:
        return math.ceil(self.n_events / self.block_size)


# ---------------------------------------------------------------------------------------------
# shower geometry


def sample_zenith(n: int, zenith_max_rad: float, rng: np.random.Generator) -> np.ndarray:
    """Zenith angles (rad) with density ~ sin(t) cos(t) on [0, zenith_max_rad]."""
    u = rng.random(n)
    return np.arccos(np.sqrt(1.0 - u * (1.0 - np.cos(zenith_max_rad) ** 2)))


def sample_events(settings: SimulationSettings, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Primary and geometry of ``n`` showers (float64): log10 energy, mass, direction, core, Xmax.

    Xmax is redrawn (only for the affected events) while it lies deeper than the slant depth
    ``xmax_min_height_above_ground_m`` above the ground.
    """
    lo, hi = settings.log10_energy_ev
    log10_energy = lo + (hi - lo) * rng.random(n)
    mass = rng.choice(
        np.asarray(settings.mass_numbers, dtype=np.int64), size=n, p=np.asarray(settings.fractions)
    )
    azimuth = -np.pi + 2 * np.pi * rng.random(n)
    zenith = sample_zenith(n, np.deg2rad(settings.zenith_max_deg), rng)
    core_r = settings.core_radius_m * np.sqrt(rng.random(n))
    core_phi = 2 * np.pi * rng.random(n)
    core = np.stack([core_r * np.cos(core_phi), core_r * np.sin(core_phi)], axis=1)

    model = settings.interaction_model
    altitude = settings.array.altitude_m
    limit = atm.slant_depth(altitude + settings.xmax_min_height_above_ground_m, zenith, settings.atmosphere)
    xmax = xmax_model.sample_xmax(log10_energy, mass, rng, model)
    redo = np.flatnonzero(xmax > limit)
    for _ in range(10_000):
        if redo.size == 0:
            break
        xmax[redo] = xmax_model.sample_xmax(log10_energy[redo], mass[redo], rng, model)
        redo = redo[xmax[redo] > limit[redo]]
    else:
        raise RuntimeError(
            "Xmax keeps falling below the allowed height; check simulation.xmax.min_height_above_ground_m "
            "and simulation.array.altitude_m"
        )
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


def point_at_slant_depth(settings: SimulationSettings, depth_gcm2, events: Mapping) -> np.ndarray:
    """Position (n, 3) in m on each shower axis where the slant depth is ``depth_gcm2``."""
    altitude = settings.array.altitude_m
    height = atm.height_at_slant_depth(depth_gcm2, events["zenith"], settings.atmosphere)
    along = (height - altitude) / np.cos(events["zenith"])
    core3 = np.column_stack([events["core"], np.full(len(height), altitude)])
    return core3 + events["axis"] * along[:, None]


def station_geometry(
    settings: SimulationSettings, events: Mapping, detector: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance to the axis ``r_m``, slant depth to the maximum ``dx_gcm2`` and front time ``time_us``.

    All of shape (n_events, n_stations). ``dx_gcm2`` is the vertical depth difference between
    station and shower maximum divided by the cosine of the direction from station to maximum.
    """
    altitude = settings.array.altitude_m
    axis = events["axis"]
    wx = detector[None, :, 0] - events["core"][:, 0:1]
    wy = detector[None, :, 1] - events["core"][:, 1:2]
    wz = np.broadcast_to(detector[None, :, 2] - altitude, wx.shape)
    r_m, along = geometry.axis_distance(wx, wy, wz, axis)

    v_max = point_at_slant_depth(settings, events["xmax"], events)
    dx = v_max[:, None, 0] - detector[None, :, 0]
    dy = v_max[:, None, 1] - detector[None, :, 1]
    dz = v_max[:, None, 2] - detector[None, :, 2]
    dist = np.sqrt(dx * dx + dy * dy + dz * dz)
    depth_station = atm.vertical_depth(detector[:, 2], settings.atmosphere)
    depth_max = atm.vertical_depth(v_max[:, 2], settings.atmosphere)
    dx_gcm2 = (depth_station[None, :] - depth_max[:, None]) * dist / np.maximum(dz, 1e-9)

    if settings.shower_front == "planar":
        time_us = -along / geometry.C_M_PER_US
    else:
        depth = settings.timing.virtual_origin_fraction * events["xmax"]
        origin = point_at_slant_depth(settings, depth, events)
        ox = origin[:, None, 0] - detector[None, :, 0]
        oy = origin[:, None, 1] - detector[None, :, 1]
        oz = origin[:, None, 2] - detector[None, :, 2]
        to_core = np.linalg.norm(
            origin - np.column_stack([events["core"], np.full(len(origin), altitude)]), axis=1
        )
        time_us = (np.sqrt(ox * ox + oy * oy + oz * oz) - to_core[:, None]) / geometry.C_M_PER_US
    return r_m, dx_gcm2, time_us


# ---------------------------------------------------------------------------------------------
# station response


def expected_signals(
    station: StationModel, log10_energy_ev, mass, r_m, dx_gcm2
) -> tuple[np.ndarray, np.ndarray]:
    """Expected muon and electromagnetic signals (VEM), saturation included.

    ``log10_energy_ev`` and ``mass`` broadcast against ``r_m`` and ``dx_gcm2`` (e.g. shapes
    (n, 1) against (n, n_stations)).
    """
    s0 = station.s1000_vem * 10.0 ** (np.asarray(log10_energy_ev) - station.reference_log10_energy_ev)
    r1 = station.muon_share * np.asarray(mass, dtype=float) ** station.muon_share_mass_index
    r2 = station.em_share
    # the lateral and attenuation factors in float32 (SIMD log/exp; 1e-7 relative precision)
    f32 = np.float32
    r_m = np.asarray(r_m, dtype=f32)
    dx_gcm2 = np.asarray(dx_gcm2, dtype=f32)
    ln_r = np.log(np.maximum(r_m, f32(station.min_distance_m)) * f32(1.0 / station.reference_distance_m))
    ln_d = np.log(np.maximum(dx_gcm2, f32(1e-9)) * f32(1.0 / station.attenuation_depth_gcm2))
    ln_cap = f32(np.log(station.max_attenuation_factor))
    s_mu = (s0 * r1 / (r1 + r2)) * np.exp(
        f32(-station.muon_lateral_index) * ln_r
        + np.minimum(f32(-station.muon_attenuation_index) * ln_d, ln_cap)
    )
    s_em = (s0 * r2 / (r1 + r2)) * np.exp(
        f32(-station.em_lateral_index) * ln_r + np.minimum(f32(-station.em_attenuation_index) * ln_d, ln_cap)
    )
    total = s_mu + s_em
    scale = np.minimum(1.0, station.saturation_vem / np.maximum(total, 1e-300))
    return s_mu * scale, s_em * scale


def particle_counts(expected, rng: np.random.Generator, fluctuations: bool = True) -> np.ndarray:
    """Detected particles ``max(round(S + sqrt(S) g), 0)`` (``round(S)`` without fluctuations), float64."""
    expected = np.asarray(expected, dtype=float)
    if not fluctuations:
        return np.rint(expected)
    return np.maximum(np.rint(expected + np.sqrt(expected) * rng.standard_normal(expected.shape)), 0.0)


def delay_medians_ns(trace: TraceModel, r_m, dx_gcm2) -> tuple[np.ndarray, np.ndarray]:
    """Medians (ns) of the log-normal muon and em delays at axis distance ``r_m`` and depth ``dx_gcm2``."""
    x = (np.asarray(r_m, dtype=float) / trace.delay_distance_m) ** trace.delay_distance_index
    d = np.asarray(dx_gcm2, dtype=float) / trace.delay_depth_gcm2
    m_mu = trace.muon_delay_ns + trace.muon_delay_scale_ns * x * np.maximum(
        1 - trace.muon_delay_depth_coefficient * d, 0
    )
    m_em = trace.em_delay_ns + trace.em_delay_scale_ns * x * np.maximum(
        1 - trace.em_delay_depth_coefficient * d, 0
    )
    return m_mu, m_em


def em_shift_ns(trace: TraceModel, median_mu_ns, median_em_ns) -> np.ndarray:
    return (np.asarray(median_em_ns) - np.asarray(median_mu_ns)) / trace.em_shift_divisor


def delay_cdf(t_ns, median_ns, shift_ns, sigma: float) -> np.ndarray:
    """P(delay <= t) of a log-normal delay with median ``median_ns`` shifted by ``shift_ns``."""
    u = np.asarray(t_ns, dtype=float) - shift_ns
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(np.maximum(u, 1e-300)) - np.log(median_ns)) / sigma
    return np.where(u > 0, special.ndtr(z), 0.0)


def window_loss_probabilities(trace: TraceModel, median_mu_ns, median_em_ns) -> tuple[np.ndarray, np.ndarray]:
    """Probability that a muon / em particle arrives outside the trace window ``[0, window_ns]``.

    Computed as tail probabilities (not ``1 - P(inside)``) so that tiny losses keep their precision.
    """
    m_mu = np.asarray(median_mu_ns, dtype=float)
    m_em = np.asarray(median_em_ns, dtype=float)
    s, end = trace.delay_sigma, trace.window_ns
    q_mu = special.ndtr((np.log(m_mu) - math.log(end)) / s)  # muon delays are positive
    shift = em_shift_ns(trace, m_mu, m_em)
    u_end = end - shift
    with np.errstate(divide="ignore", invalid="ignore"):
        q_em = np.where(u_end > 0, special.ndtr((np.log(m_em) - np.log(np.maximum(u_end, 1e-300))) / s), 1.0)
    early = np.flatnonzero(shift < 0)  # em particles can arrive before t = 0 only with a negative shift
    if early.size:
        q_em[early] = np.minimum(q_em[early] + delay_cdf(0.0, m_em[early], shift[early], s), 1.0)
    return q_mu, q_em


def window_probabilities(trace: TraceModel, median_mu_ns, median_em_ns) -> tuple[np.ndarray, np.ndarray]:
    """Probability that a muon / em particle arrives inside the trace window."""
    q_mu, q_em = window_loss_probabilities(trace, median_mu_ns, median_em_ns)
    return 1.0 - q_mu, 1.0 - q_em


def bin_probabilities(trace: TraceModel, median_mu_ns, median_em_ns) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin arrival probabilities, shape (..., n_bins), for muons and em particles."""
    m_mu = np.asarray(median_mu_ns, dtype=float)[..., None]
    m_em = np.asarray(median_em_ns, dtype=float)[..., None]
    shift = em_shift_ns(trace, m_mu, m_em)
    edges = trace.edges_ns
    p_mu = np.diff(delay_cdf(edges, m_mu, 0.0, trace.delay_sigma), axis=-1)
    p_em = np.diff(delay_cdf(edges, m_em, shift, trace.delay_sigma), axis=-1)
    return np.maximum(p_mu, 0.0), np.maximum(p_em, 0.0)


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
        n_m, q_m, u_m = n[maybe], q[maybe], u[maybe]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_keep = np.log1p(-q_m)  # -inf for q = 1
            p_none = np.exp(n_m * log_keep)
            some = np.flatnonzero(u_m >= p_none)
            if some.size:
                p0, lk = p_none[some], log_keep[some]
                v = (u_m[some] - p0) / (1.0 - p0)  # uniform in [0, 1) given at least one loss
                first = np.ceil(np.log1p(-v * (1.0 - p0)) / lk)  # P(J <= j) = (1 - (1-q)^j) / (1 - p0)
                first = np.clip(np.nan_to_num(first, nan=1.0), 1.0, n_m[some])
                rest = (n_m[some] - first).astype(np.int64)
                lost[maybe[some]] = 1.0 + rng.binomial(rest, q_m[some])
    return n - lost


def window_counts(
    n_mu, n_em, expected_mu, expected_em, q_mu, q_em, rng: np.random.Generator, fluctuations: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """In-window particles (loss probabilities ``q``): binomial thinning, or ``round(S (1 - q))``."""
    if not fluctuations:
        return np.rint(expected_mu * (1.0 - q_mu)), np.rint(expected_em * (1.0 - q_em))
    return thin_counts(n_mu, q_mu, rng), thin_counts(n_em, q_em, rng)


# ---------------------------------------------------------------------------------------------
# integrated signal without traces


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
def empty_bin_moments(noise: NoiseModel) -> tuple[float, float, float]:
    """Mean, variance and third central moment of ``max(a (1 + s g), 0)``, the noise of an empty bin."""
    mu = noise.absolute_vem
    sd = noise.absolute_vem * noise.absolute_spread
    if sd == 0:
        return max(mu, 0.0), 0.0, 0.0
    alpha = mu / sd
    cdf, pdf = special.ndtr(alpha), math.exp(-0.5 * alpha**2) / math.sqrt(2 * math.pi)
    m1 = mu * cdf + sd * pdf
    m2 = (mu**2 + sd**2) * cdf + mu * sd * pdf
    m3 = (mu**3 + 3 * mu * sd**2) * cdf + (mu**2 + 2 * sd**2) * sd * pdf
    var = m2 - m1**2
    return float(m1), float(var), float(m3 - 3 * m1 * m2 + 2 * m1**3)


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


def pedestal_vem(settings: SimulationSettings) -> float:
    """Mean integrated signal of a particle-free trace (VEM); subtracted from the stored signal."""
    return settings.trace.n_bins * empty_bin_moments(settings.noise)[0]


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
        sum_sq = n_tot[occupied]  # one particle per bin: sum S_b^2 = N (fancy indexing copies)
        many = np.flatnonzero(sum_sq >= 2)
        if many.size:
            idx = occupied[many]
            q_mumu, q_emem, q_muem = collision_tables(settings.trace).lookup(
                np.asarray(median_mu_ns)[idx], np.asarray(median_em_ns)[idx]
            )
            a, b = n_mu[idx], n_em[idx]
            sum_sq[many] = a + a * (a - 1) * q_mumu + b + b * (b - 1) * q_emem + 2 * a * b * q_muem
        raw[occupied] += noise.relative * np.sqrt(sum_sq) * rng.standard_normal(occupied.size)
    return np.maximum(raw, 0.0)


# ---------------------------------------------------------------------------------------------
# time traces

_CHUNK_ROWS = 4096  # stations per chunk of the trace arrays (keeps the temporaries in cache)
_CATEGORICAL_MAX = 64  # up to this many particles, a station draws each particle's bin (see sample_traces)


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
        # categorical draw of each particle's bin: searchsorted in the rows' CDFs stacked as row + CDF
        k = few_rows.size
        row = np.repeat(np.arange(k), n[few_rows])
        key = row + rng.random(row.size)
        stacked = window_cdf[few_rows] if k < rows else window_cdf.copy()
        stacked += np.arange(k)[:, None]
        pos = np.searchsorted(stacked.ravel(), key, side="right")
        flat = row * n_bins
        flat += np.minimum(pos - flat, n_bins - 1)  # a key rounded up to row + 1 stays in its row
        counts[few_rows] = np.bincount(flat, minlength=k * n_bins).reshape(k, n_bins)
    if many_rows.size:
        probs = np.diff(window_cdf[many_rows], axis=1, prepend=0.0)
        np.maximum(probs, 0.0, out=probs)
        counts[many_rows] = rng.multinomial(n[many_rows], probs)
    return counts


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


def integrate_noisy_traces(noise: NoiseModel, trace_muon, trace_em, rng: np.random.Generator) -> np.ndarray:
    """Sum over bins of ``clip(S_b + rel S_b g1 + abs (1 + spread g2), 0)``, ``S_b`` = muon + em (VEM).

    The pedestal is included.

    Without noise: the sum of the bins plus the mean pedestal ``n_bins E[max(abs (1 + spread g), 0)]``.
    Computed in chunks of ``_CHUNK_ROWS`` stations, in float32 (sums in float64).
    """
    trace_muon = np.asarray(trace_muon, dtype=np.float32)
    trace_em = np.asarray(trace_em, dtype=np.float32)
    n_rows, n_bins = trace_muon.shape
    out = np.empty(n_rows)
    a = np.float32(noise.absolute_vem)
    a_spread = np.float32(noise.absolute_vem * noise.absolute_spread)
    rel = np.float32(noise.relative)
    pedestal = n_bins * empty_bin_moments(noise)[0]
    for start in range(0, n_rows, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n_rows)
        total = trace_muon[start:stop] + trace_em[start:stop]
        if not noise.enabled:
            out[start:stop] = total.sum(-1, dtype=np.float64) + pedestal
            continue
        noisy = rng.standard_normal(total.shape, dtype=np.float32)
        noisy *= a_spread
        noisy += a
        flat_total, flat_noisy = total.reshape(-1), noisy.reshape(-1)
        nz = np.flatnonzero(flat_total)
        s = flat_total[nz]
        flat_noisy[nz] += s + rel * s * rng.standard_normal(s.size, dtype=np.float32)
        np.maximum(noisy, 0.0, out=noisy)
        out[start:stop] = noisy.sum(-1, dtype=np.float64)
    return out


# ---------------------------------------------------------------------------------------------
# events


def simulate_block(
    settings: SimulationSettings, n: int, rng: np.random.Generator, detector: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Simulate ``n`` events with one generator; float64 arrays of shape (n, n_stations) for time and signal.

    Random numbers are drawn in a fixed order: event quantities, particle counts, window
    thinning, time jitter, then the integrated signal (or the traces and their noise), so
    that everything before the signal is the same with and without ``store_traces``.
    """
    detector = settings.array.positions() if detector is None else detector
    n_st = len(detector)
    ev = sample_events(settings, n, rng)
    r_m, dx_gcm2, time_us = station_geometry(settings, ev, detector)
    st = settings.station
    s_mu, s_em = expected_signals(st, ev["log10_energy"][:, None], ev["mass"][:, None], r_m, dx_gcm2)
    s_mu, s_em = s_mu.ravel(), s_em.ravel()
    n_mu = particle_counts(s_mu, rng, st.fluctuations)
    n_em = particle_counts(s_em, rng, st.fluctuations)

    # delays and window thinning only where particles arrive
    tr = settings.trace
    hit = np.flatnonzero((n_mu + n_em) > 0)
    m_mu = np.full(n * n_st, tr.muon_delay_ns)
    m_em = np.full(n * n_st, tr.em_delay_ns)
    m_mu[hit], m_em[hit] = delay_medians_ns(tr, r_m.ravel()[hit], dx_gcm2.ravel()[hit])
    q_mu, q_em = window_loss_probabilities(tr, m_mu[hit], m_em[hit])
    k_mu = np.zeros(n * n_st)
    k_em = np.zeros(n * n_st)
    k_mu[hit], k_em[hit] = window_counts(
        n_mu[hit], n_em[hit], s_mu[hit], s_em[hit], q_mu, q_em, rng, st.fluctuations
    )
    n_tot = k_mu + k_em

    tm = settings.timing
    if tm.jitter_ns > 0:
        jitter_sd_us = 1e-3 * tm.jitter_ns * tm.jitter_scale / (1.0 + np.log10(n_tot + 1.0))
        time_us = time_us + (jitter_sd_us * rng.standard_normal(n * n_st)).reshape(n, n_st)
    time_us = time_us + 1e-3 * ev["offset_ns"][:, None]

    out = {}
    if settings.store_traces:
        t_mu, t_em = sample_traces(tr, k_mu, k_em, m_mu, m_em, rng)
        raw = integrate_noisy_traces(settings.noise, t_mu, t_em, rng)
        out["trace_muon"] = t_mu.reshape(n, n_st, tr.n_bins)
        out["trace_em"] = t_em.reshape(n, n_st, tr.n_bins)
    else:
        raw = integrated_signal(settings, k_mu, k_em, m_mu, m_em, rng)
    raw = raw.reshape(n, n_st)
    triggered = raw >= settings.trigger_threshold_vem
    signal = np.where(triggered, np.maximum(raw - pedestal_vem(settings), 0.0), np.nan)
    out.update(
        time=np.where(triggered, time_us, np.nan),
        signal=signal,
        energy=10.0 ** (ev["log10_energy"] - 18.0),
        zenith=ev["zenith"],
        azimuth=ev["azimuth"],
        axis=ev["axis"],
        core=ev["core"],
        xmax=ev["xmax"],
        mass=ev["mass"],
    )
    return out


def block_ranges(n_events: int, block_size: int) -> list[tuple[int, int]]:
    """Event ranges ``[start, stop)`` of the seeded blocks."""
    return [(b, min(b + block_size, n_events)) for b in range(0, n_events, block_size)]


def shard_blocks(n_blocks: int, n_shards: int, shard: int) -> np.ndarray:
    """Blocks of shard ``shard``: ``np.array_split(range(n_blocks), n_shards)[shard]``."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} outside 0..{n_shards - 1}")
    return np.array_split(np.arange(n_blocks), n_shards)[shard]


def _settings(settings: SimulationSettings | Mapping) -> SimulationSettings:
    return settings if isinstance(settings, SimulationSettings) else SimulationSettings.from_config(settings)


def simulate_events(
    settings: SimulationSettings | Mapping, seed: int, blocks: Sequence[int]
) -> dict[str, np.ndarray]:
    """Simulate the given blocks (each from ``rng.generator(seed, "simulation", b)``), in order.

    Returns the raw-shower data contract (float32, int16 mass, NaN for silent stations,
    images (N, n_side, n_side)), ``detector`` (n_side^2, 3) and, with ``store_traces``,
    ``trace_muon`` and ``trace_em`` (N, n_side, n_side, n_bins) float32.
    """
    settings = _settings(settings)
    layout = settings.array
    detector = layout.positions()
    ranges = block_ranges(settings.n_events, settings.block_size)
    blocks = [int(b) for b in blocks]
    for b in blocks:
        if not 0 <= b < len(ranges):
            raise ValueError(f"block {b} outside 0..{len(ranges) - 1}")
    n_total = sum(ranges[b][1] - ranges[b][0] for b in blocks)
    side = (n_total, layout.n_side, layout.n_side)
    out = {
        "time": np.empty(side, np.float32),
        "signal": np.empty(side, np.float32),
        "energy": np.empty(n_total, np.float32),
        "zenith": np.empty(n_total, np.float32),
        "azimuth": np.empty(n_total, np.float32),
        "axis": np.empty((n_total, 3), np.float32),
        "core": np.empty((n_total, 2), np.float32),
        "xmax": np.empty(n_total, np.float32),
        "mass": np.empty(n_total, np.int16),
    }
    if settings.store_traces:
        for name in ("trace_muon", "trace_em"):
            out[name] = np.empty((*side, settings.trace.n_bins), np.float32)
    start = 0
    for b in blocks:
        n = ranges[b][1] - ranges[b][0]
        block = simulate_block(settings, n, rng_streams.generator(seed, "simulation", b), detector)
        for name, array in out.items():
            array[start : start + n] = block[name].reshape(array[start : start + n].shape)
        start += n
    out["detector"] = detector.astype(np.float32)
    return out


def simulate_shard(
    settings: SimulationSettings | Mapping, seed: int, shard: int, n_shards: int | None = None
) -> dict[str, np.ndarray]:
    """Simulate shard ``shard`` of ``n_shards`` (default ``settings.n_shards``): its contiguous blocks."""
    settings = _settings(settings)
    n_shards = settings.n_shards if n_shards is None else int(n_shards)
    return simulate_events(settings, seed, shard_blocks(settings.n_blocks, n_shards, int(shard)))


def trace_units(settings: SimulationSettings | Mapping) -> dict[str, str]:
    """Units of the optional per-event datasets (for ``io.shower_units``)."""
    return {"trace_muon": "VEM", "trace_em": "VEM"} if _settings(settings).store_traces else {}

"""Settings of the toy simulation: frozen dataclasses mirroring the ``simulation`` config section.

Every field is a config key of the same name and nesting (see config/README.md); the defaults
live in the schema only, so settings are built with ``SimulationSettings.from_config(section)``
(any nested class likewise from its own section, e.g. ``NoiseModel.from_config({...})``).
``__post_init__`` checks only what the schema cannot express.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from airshower import atmosphere as atm
from airshower import geometry, schema


@dataclass(frozen=True)
class ArrayLayout(schema.Settings):
    """``n_side`` x ``n_side`` stations on a square or hexagonal (triangular) grid
    (:func:`airshower.geometry.grid_positions`) centred on (0, 0) at ``altitude_m`` above sea level."""

    SECTION: ClassVar[str] = "simulation.array"

    n_side: int
    spacing_m: float
    altitude_m: float
    layout: str = "square"

    def positions(self) -> np.ndarray:
        """Station positions (n_side^2, 3) in m; row-major: station ``i * n_side + j`` is pixel ``[i, j]``."""
        if self.layout == "square":  # the grid of before, to the bit
            c = (np.arange(self.n_side) - (self.n_side - 1) / 2) * self.spacing_m
            x, y = np.meshgrid(c, c, indexing="ij")
            xy = np.stack([x.ravel(), y.ravel()], axis=1)
        else:
            xy = geometry.grid_positions(self.layout, self.n_side, self.spacing_m)
        return np.column_stack([xy, np.full(len(xy), self.altitude_m)])


@dataclass(frozen=True)
class Composition(schema.Settings):
    """Mass numbers of the primaries and the fraction of each (summing to 1)."""

    SECTION: ClassVar[str] = "simulation.composition"

    mass_numbers: tuple[int, ...]
    fractions: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mass_numbers) != len(self.fractions):
            raise schema.ConfigError(
                "config key 'simulation.composition.fractions': needs one fraction per mass number "
                f"({len(self.fractions)} fractions for {len(self.mass_numbers)} mass numbers)"
            )
        if not math.isclose(sum(self.fractions), 1.0, abs_tol=1e-6):
            raise schema.ConfigError(
                f"config key 'simulation.composition.fractions': must sum to 1, got {sum(self.fractions):.6g}"
            )


@dataclass(frozen=True)
class StationModel(schema.Settings):
    """Expected signal of a station and its particle-count fluctuations.

    ``S0 = s1000_vem 10^(log10 E - reference_log10_energy_ev)``, split into muons and em as
    ``r1 : r2`` with ``r1 = muon_share A^muon_share_mass_index``, ``r2 = em_share``; each falls as
    ``(max(r, min_distance_m) / reference_distance_m)^-lateral_index`` times
    ``min((dX / attenuation_depth_gcm2)^-attenuation_index, max_attenuation_factor)``; the sum is
    capped at ``saturation_vem``. Without ``fluctuations`` the counts are ``round(S)``.
    """

    SECTION: ClassVar[str] = "simulation.station"

    s1000_vem: float
    reference_log10_energy_ev: float
    reference_distance_m: float
    muon_share: float
    muon_share_mass_index: float
    em_share: float
    min_distance_m: float
    muon_lateral_index: float
    em_lateral_index: float
    attenuation_depth_gcm2: float
    muon_attenuation_index: float
    em_attenuation_index: float
    max_attenuation_factor: float
    saturation_vem: float
    fluctuations: bool


@dataclass(frozen=True)
class TraceModel(schema.Settings):
    """Binned log-normal arrival-time delays.

    Medians: ``muon_delay_ns + muon_delay_scale_ns (r / delay_distance_m)**delay_distance_index
    max(1 - muon_delay_depth_coefficient dX / delay_depth_gcm2, 0)`` (same for em); the em delays
    are shifted by ``(median_em - median_mu) / em_shift_divisor``.
    """

    SECTION: ClassVar[str] = "simulation.trace"

    n_bins: int
    bin_width_ns: float
    delay_sigma: float  # log-normal sigma (of ln t/ns)
    delay_distance_m: float
    delay_distance_index: float
    delay_depth_gcm2: float
    muon_delay_ns: float
    muon_delay_scale_ns: float
    muon_delay_depth_coefficient: float
    em_delay_ns: float
    em_delay_scale_ns: float
    em_delay_depth_coefficient: float
    em_shift_divisor: float

    @property
    def window_ns(self) -> float:
        return self.n_bins * self.bin_width_ns

    @property
    def edges_ns(self) -> np.ndarray:
        return np.arange(self.n_bins + 1) * self.bin_width_ns


@dataclass(frozen=True)
class NoiseModel(schema.Settings):
    """Per-bin detector noise: ``clip(S_b + relative S_b g1 + absolute_vem (1 + absolute_spread g2), 0)``."""

    SECTION: ClassVar[str] = "simulation.noise"

    enabled: bool
    relative: float
    absolute_vem: float
    absolute_spread: float


@dataclass(frozen=True)
class TimingModel(schema.Settings):
    """Arrival-time smearing and the virtual origin of the spherical front.

    Jitter sigma ``jitter_ns jitter_scale / (1 + log10(N + 1))``; one uniform offset in
    ``[-event_offset_ns, event_offset_ns)`` per event; the spherical front starts on the axis at
    the slant depth ``virtual_origin_fraction`` x Xmax.
    """

    SECTION: ClassVar[str] = "simulation.timing"

    jitter_ns: float
    jitter_scale: float
    event_offset_ns: float
    virtual_origin_fraction: float


@dataclass(frozen=True)
class XmaxModel(schema.Settings):
    """Xmax is redrawn while deeper than the slant depth ``min_height_above_ground_m`` above the ground."""

    SECTION: ClassVar[str] = "simulation.xmax"

    min_height_above_ground_m: float


@dataclass(frozen=True)
class TriggerModel(schema.Settings):
    """A station triggers when its integrated signal (noise pedestal included) reaches ``threshold_vem``."""

    SECTION: ClassVar[str] = "simulation.trigger"

    threshold_vem: float


@dataclass(frozen=True)
class SimulationSettings(schema.Settings):
    """Everything the simulation needs: the ``simulation`` config section."""

    SECTION: ClassVar[str] = "simulation"

    n_events: int
    n_shards: int
    block_size: int
    array: ArrayLayout
    log10_energy_ev: tuple[float, float]
    zenith_max_deg: float
    core_radius_m: float
    composition: Composition
    interaction_model: str
    shower_front: str
    store_traces: bool
    station: StationModel
    trace: TraceModel
    noise: NoiseModel
    timing: TimingModel
    atmosphere: atm.Atmosphere
    xmax: XmaxModel
    trigger: TriggerModel

    def __post_init__(self) -> None:
        lo, hi = self.log10_energy_ev
        if not lo < hi:
            raise schema.ConfigError(
                f"config key 'simulation.log10_energy_ev': minimum {lo} must be below maximum {hi}"
            )
        if self.n_shards > self.n_blocks:
            raise schema.ConfigError(
                f"config key 'simulation.n_shards': {self.n_shards} shards for only {self.n_blocks} blocks "
                f"of {self.block_size} events; lower n_shards or block_size"
            )

    def replace(self, **changes) -> SimulationSettings:
        return dataclasses.replace(self, **changes)

    @property
    def n_blocks(self) -> int:
        return math.ceil(self.n_events / self.block_size)

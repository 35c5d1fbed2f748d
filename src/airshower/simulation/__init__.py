"""Toy air-shower simulation of a square ground array (arrival-time and signal images).

The physics is the toy model of Erdmann, Glombitza, Walz, Astropart. Phys. 97 (2018) 46
(arXiv:1708.00647) and its public code, on the tutorial's Cartesian array; every constant is a
key of the ``simulation`` config section (see config/README.md), and the settings dataclasses
mirror that section (:mod:`.settings`). The modules, in the order of a simulation:

- :mod:`.shower`: primaries, directions, cores, Xmax and the geometry seen by each station
  (distance to the axis, slant depth to the maximum, arrival time of a planar or spherical
  front);
- :mod:`.response`: expected muon and electromagnetic signals, particle counts, arrival-time
  delays, the noise pedestal and the trigger;
- :mod:`.traces`: particles inside the trace window, binned traces and their noisy integral;
- :mod:`.integral`: the same integral drawn per station without building the traces;
- :mod:`.driver`: blocks of events from seeded random streams, shards, the output arrays.

Output (per event): ``time`` (us) and ``signal`` (VEM) images, NaN where a station did not
trigger; the arrival time is that of the front plus Gaussian jitter of
``jitter_ns x jitter_scale / (1 + log10(N + 1))`` (N: detected particles) and one uniform offset
in ``+-event_offset_ns`` per event.

Noiseless mode: ``noise.enabled: false``, ``station.fluctuations: false`` (in-window counts
``round(S P_window)``), ``timing.jitter_ns: 0`` and ``timing.event_offset_ns: 0``.
"""

from airshower.simulation.driver import (
    block_ranges,
    shard_blocks,
    simulate_block,
    simulate_events,
    simulate_shard,
    trace_units,
)
from airshower.simulation.response import pedestal_vem
from airshower.simulation.settings import (
    ArrayLayout,
    Composition,
    NoiseModel,
    SimulationSettings,
    StationModel,
    TimingModel,
    TraceModel,
    TriggerModel,
    XmaxModel,
)

__all__ = [
    "ArrayLayout",
    "Composition",
    "NoiseModel",
    "SimulationSettings",
    "StationModel",
    "TimingModel",
    "TraceModel",
    "TriggerModel",
    "XmaxModel",
    "block_ranges",
    "pedestal_vem",
    "shard_blocks",
    "simulate_block",
    "simulate_events",
    "simulate_shard",
    "trace_units",
]

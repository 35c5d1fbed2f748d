"""Events in seeded blocks: one block of showers, the blocks of a shard, the output arrays.

Events are simulated in blocks of ``block_size``; block ``b`` draws from
``rng.generator(seed, "simulation", b)`` only, in a fixed order (event quantities first, so
they do not depend on ``store_traces``), so a shard's data depend only on the blocks it holds
and the merged data set is the same for any number of shards.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from airshower import rng as rng_streams
from airshower.simulation import integral, response, shower, traces
from airshower.simulation.settings import SimulationSettings

# per-event datasets of the output: dtype and shape after the event axis
EVENT_FIELDS = {
    "energy": (np.float32, ()),
    "zenith": (np.float32, ()),
    "azimuth": (np.float32, ()),
    "axis": (np.float32, (3,)),
    "core": (np.float32, (2,)),
    "xmax": (np.float32, ()),
    "mass": (np.int16, ()),
    "muon": (np.float32, ()),
}
# the recorded trace (what the detector measures) and the truth of its two components
TRACE_KEYS = ("trace", "trace_muon", "trace_em")


def _in_window(settings: SimulationSettings, events: dict, r_m, dx_gcm2, rng: np.random.Generator):
    """Flat per-station in-window muon and em counts and the medians of their delays."""
    st, tr = settings.station, settings.trace
    s_mu, s_em = response.expected_signals(
        st, events["log10_energy"][:, None], events["mass"][:, None], r_m, dx_gcm2
    )
    s_mu, s_em = s_mu.ravel(), s_em.ravel()
    n_mu = response.particle_counts(s_mu, rng, st.fluctuations)
    n_em = response.particle_counts(s_em, rng, st.fluctuations)
    # delays and window thinning only where particles arrive
    hit = np.flatnonzero((n_mu + n_em) > 0)
    m_mu = np.full(s_mu.size, tr.muon_delay_ns)
    m_em = np.full(s_mu.size, tr.em_delay_ns)
    m_mu[hit], m_em[hit] = response.delay_medians_ns(tr, r_m.ravel()[hit], dx_gcm2.ravel()[hit])
    q_mu, q_em = response.window_loss_probabilities(tr, m_mu[hit], m_em[hit])
    k_mu = np.zeros(s_mu.size)
    k_em = np.zeros(s_mu.size)
    k_mu[hit], k_em[hit] = traces.window_counts(
        n_mu[hit], n_em[hit], s_mu[hit], s_em[hit], q_mu, q_em, rng, st.fluctuations
    )
    return k_mu, k_em, m_mu, m_em


def _jittered_time_us(settings: SimulationSettings, time_us, offset_ns, n_particles, rng) -> np.ndarray:
    """Front time plus the jitter (falling with the detected particles) and the event offset."""
    tm = settings.timing
    if tm.jitter_ns > 0:
        jitter_sd_us = 1e-3 * tm.jitter_ns * tm.jitter_scale / (1.0 + np.log10(n_particles + 1.0))
        time_us = time_us + (jitter_sd_us * rng.standard_normal(n_particles.size)).reshape(time_us.shape)
    return time_us + 1e-3 * offset_ns[:, None]


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
    ev = shower.sample_events(settings, n, rng)
    r_m, dx_gcm2, time_us = shower.station_geometry(settings, ev, detector)
    ev["muon"] = shower.relative_muon_content(settings, ev)
    k_mu, k_em, m_mu, m_em = _in_window(settings, ev, r_m, dx_gcm2, rng)
    time_us = _jittered_time_us(settings, time_us, ev["offset_ns"], k_mu + k_em, rng)

    out = {}
    if settings.store_traces:
        t_mu, t_em = traces.sample_traces(settings.trace, k_mu, k_em, m_mu, m_em, rng)
        noisy = traces.noisy_traces(settings.noise, t_mu, t_em, rng)
        raw = noisy.sum(-1, dtype=np.float64)
    else:
        raw = integral.integrated_signal(settings, k_mu, k_em, m_mu, m_em, rng)
    triggered, signal = response.trigger(settings, raw.reshape(n, n_st))
    if settings.store_traces:
        shape = (n, n_st, settings.trace.n_bins)
        recorded = traces.recorded_trace(noisy, response.pedestal_vem(settings), triggered)
        out.update(
            trace=recorded.reshape(shape), trace_muon=t_mu.reshape(shape), trace_em=t_em.reshape(shape)
        )
    out.update(
        time=np.where(triggered, time_us, np.nan),
        signal=signal,
        energy=10.0 ** (ev["log10_energy"] - 18.0),
        **{key: ev[key] for key in ("zenith", "azimuth", "axis", "core", "xmax", "mass", "muon")},
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


def _empty_output(settings: SimulationSettings, n_events: int) -> dict[str, np.ndarray]:
    """The output arrays of ``n_events`` events, in the order of the data contract."""
    side = (n_events, settings.array.n_side, settings.array.n_side)
    out = {"time": np.empty(side, np.float32), "signal": np.empty(side, np.float32)}
    for key, (dtype, shape) in EVENT_FIELDS.items():
        out[key] = np.empty((n_events, *shape), dtype)
    if settings.store_traces:
        for key in TRACE_KEYS:
            out[key] = np.empty((*side, settings.trace.n_bins), np.float32)
    return out


def simulate_events(settings: SimulationSettings, seed: int, blocks: Sequence[int]) -> dict[str, np.ndarray]:
    """Simulate the given blocks (each from ``rng.generator(seed, "simulation", b)``), in order.

    Returns the raw-shower data contract (float32, int16 mass, NaN for silent stations,
    images (N, n_side, n_side)), ``detector`` (n_side^2, 3) and, with ``store_traces``,
    ``trace`` (the recorded trace, :func:`airshower.simulation.traces.recorded_trace`),
    ``trace_muon`` and ``trace_em`` (the detected particles per bin before detector noise, the
    truth) (N, n_side, n_side, n_bins) float32.
    """
    detector = settings.array.positions()
    ranges = block_ranges(settings.n_events, settings.block_size)
    blocks = [int(b) for b in blocks]
    for b in blocks:
        if not 0 <= b < len(ranges):
            raise ValueError(f"block {b} outside 0..{len(ranges) - 1}")
    out = _empty_output(settings, sum(ranges[b][1] - ranges[b][0] for b in blocks))
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
    settings: SimulationSettings, seed: int, shard: int, n_shards: int | None = None
) -> dict[str, np.ndarray]:
    """Simulate shard ``shard`` of ``n_shards`` (default ``settings.n_shards``): its contiguous blocks."""
    n_shards = settings.n_shards if n_shards is None else int(n_shards)
    return simulate_events(settings, seed, shard_blocks(settings.n_blocks, n_shards, int(shard)))


def trace_units(settings: SimulationSettings) -> dict[str, str]:
    """Units of the optional per-event datasets (for ``io.shower_units``)."""
    return dict.fromkeys(TRACE_KEYS, "VEM") if settings.store_traces else {}

"""Figures of the simulated showers: example footprints on the station grid and the input
distributions (energy, zenith angle, Xmax, triggered stations vs energy)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from airshower import geometry, showerfile, statistics
from airshower.plotting.style import LABEL, PALETTE, log_energy_axis, styled

# the copies of the showers' time and signal plot_data holds when it reads them at once; above
# preparation.memory_budget_mb it reads them block by block
IMAGE_COPIES = 1.5


def n_triggered(signal_vem: np.ndarray) -> np.ndarray:
    """Number of triggered (finite-signal) stations per event."""
    return np.isfinite(signal_vem).reshape(len(signal_vem), -1).sum(axis=1)


def n_triggered_of(showers: Mapping[str, np.ndarray] | showerfile.ShowerBlocks) -> np.ndarray:
    """:func:`n_triggered` of every event of showers in memory or read block by block."""
    if not isinstance(showers, showerfile.ShowerBlocks):
        return n_triggered(showers["signal"])
    counts = np.zeros(len(showers), dtype=np.int64)
    for start, stop, block in showers:
        counts[start:stop] = n_triggered(block["signal"])
    return counts


def choose_footprints(
    energy_eev: np.ndarray, n_trig: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of ``n`` example events spanning the energy range (one random event per energy
    quantile, among events with at least three triggered stations), sorted by energy."""
    candidates = np.flatnonzero(n_trig >= 3)
    if candidates.size == 0:
        candidates = np.arange(len(energy_eev))
    n = min(n, candidates.size)
    order = candidates[np.argsort(energy_eev[candidates], kind="stable")]
    groups = np.array_split(order, n)
    return np.array([g[rng.integers(len(g))] for g in groups], dtype=np.int64)


# --- footprints ------------------------------------------------------------------------------


def _grid_km(detector_m: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    det = np.asarray(detector_m, dtype=np.float64).reshape(side, side, -1)
    return det[..., 0] / 1000.0, det[..., 1] / 1000.0


def _map(fig: Figure, ax, x_km: np.ndarray, y_km: np.ndarray, values: np.ndarray, key: str) -> None:
    """Colour map of one event's ``time`` (linear) or ``signal`` (log scale) with its colour bar."""
    masked = np.ma.masked_invalid(values)
    if key == "signal":
        finite = np.isfinite(values).any()
        vmin = max(np.nanmin(values), np.finfo(np.float64).tiny) if finite else 1.0
        vmax = max(np.nanmax(values), vmin * 10) if finite else 10.0
        mesh = ax.pcolormesh(x_km, y_km, masked, shading="nearest", cmap="inferno", norm=LogNorm(vmin, vmax))
    else:
        mesh = ax.pcolormesh(x_km, y_km, masked, shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label=LABEL[key], shrink=0.9, pad=0.02)


def _hexagon_map(fig: Figure, ax, x_km: np.ndarray, y_km: np.ndarray, values: np.ndarray, key: str) -> None:
    """:func:`_map` on a hexagonal array: every station its hexagonal cell (the stations closer to
    it than to any other), the silent ones light grey."""
    spacing_km = geometry.station_spacing(np.column_stack([x_km.ravel(), y_km.ravel()]))
    angles = np.radians(30.0 + 60.0 * np.arange(6))
    corners = spacing_km / np.sqrt(3.0) * np.column_stack([np.cos(angles), np.sin(angles)])
    cells = np.column_stack([x_km.ravel(), y_km.ravel()])[:, None, :] + corners[None]
    flat = values.ravel()
    fired = np.isfinite(flat)
    ax.add_collection(PolyCollection(cells[~fired], facecolors="0.93", edgecolors="0.8", linewidths=0.3))
    finite = fired.any()
    if key == "signal":
        vmin = max(np.nanmin(flat), np.finfo(np.float64).tiny) if finite else 1.0
        norm = LogNorm(vmin, max(np.nanmax(flat), vmin * 10) if finite else 10.0)
        cmap = "inferno"
    else:
        norm, cmap = None, "viridis"
    cells_fired = PolyCollection(
        cells[fired], array=flat[fired], cmap=cmap, norm=norm, edgecolors="0.3", linewidths=0.3
    )
    ax.add_collection(cells_fired)
    ax.autoscale_view()
    fig.colorbar(cells_fired, ax=ax, label=LABEL[key], shrink=0.9, pad=0.02)


def _footprint_panel(
    fig: Figure, ax, x_km, y_km, values: np.ndarray, key: str, core_m, hexagonal: bool
) -> None:
    """One map on the station grid (hexagonal cells on a hexagonal array): silent stations grey,
    the true core (if given) a star."""
    ax.set_visible(True)
    if hexagonal:
        _hexagon_map(fig, ax, x_km, y_km, values, key)
    else:
        ax.set_facecolor("0.88")
        _map(fig, ax, x_km, y_km, values, key)
        silent = ~np.isfinite(values)
        ax.plot(x_km[silent], y_km[silent], ls="none", marker=".", ms=2, color="0.6")
    if core_m is not None:
        ax.plot(
            core_m[0] / 1000,
            core_m[1] / 1000,
            marker="*",
            color="white",
            mec="black",
            ms=13,
            ls="none",
            label="true core",
        )
    ax.set_aspect("equal")
    ax.grid(False)
    ax.set_xlabel(LABEL["x_km"])
    ax.set_ylabel(LABEL["y_km"])


def _event_maps(time_us: np.ndarray, signal_vem: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arrival time relative to the first triggered station, and the positive signals."""
    t = np.asarray(time_us, dtype=np.float64)
    s = np.asarray(signal_vem, dtype=np.float64)
    t_rel = t - np.nanmin(t) if np.isfinite(t).any() else t
    s_pos = np.where(s > 0, s, np.nan) if np.isfinite(s).any() else s
    return t_rel, s_pos


@styled
def footprints(
    time_us: np.ndarray,
    signal_vem: np.ndarray,
    detector_m: np.ndarray,
    energy_eev: np.ndarray,
    zenith_rad: np.ndarray,
    xmax_gcm2: np.ndarray,
    core_m: np.ndarray | None = None,
) -> Figure:
    """Arrival-time and signal maps of a few events on the station grid.

    Each event is a column pair of panels: arrival time relative to the first triggered
    station (top) and signal on a log colour scale (bottom). Silent stations are grey; the
    star marks the true shower core. ``time_us``/``signal_vem`` are (n, side, side), row-major
    like ``detector_m`` (side*side, 3); a hexagonal array (:func:`airshower.geometry.layout_of`)
    is drawn as hexagonal cells.
    """
    n, side = len(energy_eev), time_us.shape[1]
    ncol = min(n, 4)
    nrow = 2 * int(np.ceil(n / ncol))
    fig = Figure(figsize=(3.9 * ncol, 3.5 * nrow), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrow, ncol, squeeze=False))
    x, y = _grid_km(detector_m, side)
    hexagonal = geometry.layout_of(detector_m) == "hexagonal"
    for ax in axes.ravel():
        ax.set_visible(False)
    for i in range(n):
        r, c = 2 * (i // ncol), i % ncol
        t_rel, s_pos = _event_maps(time_us[i], signal_vem[i])
        core = None if core_m is None else core_m[i]
        _footprint_panel(fig, axes[r, c], x, y, t_rel, "time", core, hexagonal)
        _footprint_panel(fig, axes[r + 1, c], x, y, s_pos, "signal", core, hexagonal)
        axes[r, c].set_title(
            f"E = {energy_eev[i]:.1f} EeV, θ = {np.degrees(zenith_rad[i]):.0f}°\n"
            f"$X_\\mathrm{{max}}$ = {xmax_gcm2[i]:.0f} g cm$^{{-2}}$, "
            f"{int(np.isfinite(np.asarray(signal_vem[i], dtype=np.float64)).sum())} stations",
            fontsize=10,
        )
        if i == 0 and core_m is not None:
            axes[r, c].legend(loc="upper left", fontsize=8)
    fig.suptitle("Example footprints: arrival time (upper) and signal (lower); grey = silent station")
    return fig


# --- input distributions ---------------------------------------------------------------------


def _filled_hist(ax, values: np.ndarray, bins, color: str, label: str) -> None:
    """One shaded input histogram with its legend (the style of the data figure)."""
    ax.hist(values, bins=bins, histtype="stepfilled", alpha=0.6, color=color, ec=color, label=label)
    ax.legend()


def _triggered_vs_energy(fig: Figure, ax, energy_eev, n_trig, e_bins: np.ndarray) -> None:
    """2-D histogram of triggered stations vs energy with the mean ± standard deviation
    (:func:`airshower.statistics.spread`) per energy bin."""
    n_bins = np.arange(
        -0.5, max(int(np.max(n_trig)), 1) + 1.5, max(1, int(np.ceil((np.max(n_trig) + 1) / 40)))
    )
    *_, image = ax.hist2d(
        energy_eev, n_trig, bins=[e_bins[::2], n_bins], cmin=1, cmap="Blues", norm=LogNorm()
    )
    fig.colorbar(image, ax=ax, label=LABEL["events"])
    prof_edges = e_bins[::3]
    # the edges span the data; the clip keeps the extreme events that rounding puts just outside
    idx = statistics.bin_index(np.clip(energy_eev, prof_edges[0], prof_edges[-1]), prof_edges)
    n_prof = len(prof_edges) - 1
    means = statistics.binned(n_trig, idx, n_prof, np.mean)
    stds = statistics.binned(n_trig, idx, n_prof, statistics.spread)
    centers = statistics.bin_centers(prof_edges)
    ax.errorbar(centers, means, yerr=stds, fmt="o", color="black", label="mean ± std")


@styled
def input_distributions(
    energy_eev: np.ndarray, zenith_rad: np.ndarray, xmax_gcm2: np.ndarray, n_trig: np.ndarray
) -> Figure:
    """Histograms of energy, zenith angle and Xmax, and triggered stations vs energy."""
    fig = Figure(figsize=(11, 8.5), layout="constrained")
    (a_e, a_z), (a_x, a_n) = fig.subplots(2, 2)
    n = len(energy_eev)
    e_lo, e_hi = float(np.min(energy_eev)), float(np.max(energy_eev))
    e_bins = np.logspace(np.log10(e_lo), np.log10(e_hi) + 1e-9, 31)
    _filled_hist(a_e, energy_eev, e_bins, PALETTE[0], f"{n:,} showers")
    log_energy_axis(a_e, [e_lo * 1.04, e_hi / 1.04])
    a_e.set_xlabel(LABEL["energy_true"])
    a_e.set_ylabel(LABEL["events"] + " (log-spaced bins)")
    zen = np.degrees(zenith_rad)
    _filled_hist(a_z, zen, 30, PALETTE[1], f"median {np.median(zen):.0f}°")
    a_z.set_xlabel(LABEL["zenith"])
    a_z.set_ylabel(LABEL["events"])
    label = f"mean {np.mean(xmax_gcm2):.0f}, std {statistics.spread(xmax_gcm2):.0f} g cm$^{{-2}}$"
    _filled_hist(a_x, xmax_gcm2, 40, PALETTE[2], label)
    a_x.set_xlabel(LABEL["xmax"])
    a_x.set_ylabel(LABEL["events"])
    _triggered_vs_energy(fig, a_n, energy_eev, n_trig, e_bins)
    log_energy_axis(a_n, [e_lo * 1.04, e_hi / 1.04])
    a_n.set_xlabel(LABEL["energy_true"])
    a_n.set_ylabel(LABEL["n_triggered"])
    a_n.legend(loc="upper left")
    fig.suptitle("Simulated showers: input distributions")
    return fig

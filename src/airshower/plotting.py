"""Figures of the study. Every function takes data and returns a matplotlib ``Figure``.

The shared style lives at the top of this module: font sizes (:data:`RC`), one colour and
marker per model (:func:`model_styles`: by position in the list of compared models, the
classical baseline always black), and axis labels with units (:data:`LABEL`). Figures are built
with ``matplotlib.figure.Figure`` (no pyplot state, Agg canvas) and written by :func:`save`,
atomically, in every requested format.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.colors
import matplotlib.ticker
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from airshower import io
from airshower.config import BASELINE

# --- shared style ----------------------------------------------------------------------------

RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "figure.titlesize": 13,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 6,
    "errorbar.capsize": 3,
    "image.cmap": "viridis",
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
MARKERS = ["o", "s", "D", "^", "v", "P", "X", "<", ">"]
BASELINE_STYLE = {"color": "black", "marker": "*", "linestyle": "--"}

LABEL = {
    "energy_true": r"true energy $E_\mathrm{true}$ [EeV]",
    "energy_rec": r"reconstructed energy $E_\mathrm{rec}$ [EeV]",
    "residual": r"$E_\mathrm{rec} - E_\mathrm{true}$ [EeV]",
    "relative_residual": r"$(E_\mathrm{rec} - E_\mathrm{true})\,/\,E_\mathrm{true}$ [%]",
    "bias": r"bias $\langle E_\mathrm{rec} - E_\mathrm{true}\rangle$ [EeV]",
    "relative_bias": r"relative bias $\langle \Delta E / E_\mathrm{true}\rangle$ [%]",
    "resolution": r"resolution $\sigma_E$ [EeV]",
    "relative_resolution": r"relative resolution $\sigma_E / E$ [%]",
    "zenith": r"zenith angle $\theta$ [deg]",
    "xmax": r"depth of shower maximum $X_\mathrm{max}$ [g cm$^{-2}$]",
    "n_triggered": "triggered stations",
    "events": "events / bin",
    "x_km": "x [km]",
    "y_km": "y [km]",
    "time": r"arrival time $t - t_\mathrm{first}$ [µs]",
    "signal": "signal S [VEM]",
    "epoch": "epoch",
    "loss": "loss (standardized target)",
    "learning_rate": "learning rate",
}


def styled(func):
    """Run a figure function under the shared rc settings (fonts, grid, line widths)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper


def model_styles(models: Sequence[str]) -> dict[str, dict]:
    """Colour, marker and line style per model.

    Networks are numbered by their position in ``models`` (the baseline skipped), so a model
    keeps its colour whether or not the baseline is compared; the baseline is always black.
    """
    out = {}
    k = 0
    for name in models:
        if name == BASELINE:
            out[name] = dict(BASELINE_STYLE)
        else:
            out[name] = {
                "color": PALETTE[k % len(PALETTE)],
                "marker": MARKERS[k % len(MARKERS)],
                "linestyle": "-",
            }
            k += 1
    return out


def model_color(model: str, models: Sequence[str] | None = None) -> str:
    """The colour of ``model`` in every figure (see :func:`model_styles`)."""
    models = list(models or [])
    if model not in models:
        models.append(model)
    return model_styles(models)[model]["color"]


def seed_colors(seeds: Sequence[int], base: str | None = None) -> dict[int, str]:
    """A colour per training seed, for the per-model figures.

    With ``base`` (the model's colour) the seeds are shades of it, from darker to lighter, so a
    model looks the same in its own figures and in the comparison; without, palette colours.
    """
    seeds = list(seeds)
    if base is None:
        return {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(seeds)}
    rgb = np.array(matplotlib.colors.to_rgb(base))
    out = {}
    for i, s in enumerate(seeds):
        f = 0.0 if len(seeds) == 1 else -0.35 + 0.85 * i / (len(seeds) - 1)  # -: towards black, +: white
        mixed = rgb * (1 + f) if f < 0 else rgb + (1 - rgb) * f * 0.7
        out[s] = matplotlib.colors.to_hex(np.clip(mixed, 0, 1))
    return out


def _plain_log_labels(axis) -> None:
    """Tick labels like 0.3, 0.5, 1 instead of 3 x 10^-1 on a log axis (minor labels only where
    the axis spans less than about a decade, so they never crowd)."""
    axis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1.2, 0.6)))


class _PlainLogFormatter(matplotlib.ticker.LogFormatter):
    """LogFormatter (which decides which minor ticks get a label) writing 0.3 rather than 3e-01."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


def save(fig: Figure, png_path: str | Path, formats: Sequence[str] = ("png",), dpi: int = 120) -> list[Path]:
    """Write ``fig`` once per format, next to ``png_path`` with the suffix swapped, atomically.

    Returns the written paths. PDF metadata carry no creation date, so reruns give the same bytes.
    """
    png_path = Path(png_path)
    written = []
    for fmt in formats:
        target = png_path.with_suffix(f".{fmt}")
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        with io.atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
        written.append(target)
    return written


def _log_energy_axis(ax, edges: Sequence[float] | None = None, which: str = "x") -> None:
    """Log energy axis with plain tick labels (3, 5, 10, 20, 50, 100 EeV), limits around ``edges``."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    ticks = [1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300]
    if edges is not None:
        lo, hi = edges[0] / 1.08, edges[-1] * 1.08
        (ax.set_xlim if which == "x" else ax.set_ylim)(lo, hi)
        ticks = [t for t in ticks if lo <= t <= hi] or ticks
    axis.set_ticks(ticks, labels=[str(t) for t in ticks])
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _dodge(x: np.ndarray, k: int, n: int, width: float = 0.025) -> np.ndarray:
    """Shift markers of series ``k`` of ``n`` sideways on a log axis so error bars do not overlap."""
    return np.asarray(x) * 10 ** (width * (k - (n - 1) / 2))


def _arr(values: Sequence[float | None], scale: float = 1.0) -> np.ndarray:
    return np.array([np.nan if v is None else v * scale for v in values], dtype=np.float64)


# --- data ------------------------------------------------------------------------------------


def n_triggered(signal_vem: np.ndarray) -> np.ndarray:
    """Number of triggered (finite-signal) stations per event."""
    return np.isfinite(signal_vem).reshape(len(signal_vem), -1).sum(axis=1)


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


def _grid_km(detector_m: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    det = np.asarray(detector_m, dtype=np.float64).reshape(side, side, -1)
    return det[..., 0] / 1000.0, det[..., 1] / 1000.0


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
    like ``detector_m`` (side*side, 3).
    """
    n, side = len(energy_eev), time_us.shape[1]
    ncol = min(n, 4)
    nrow = 2 * int(np.ceil(n / ncol))
    fig = Figure(figsize=(3.9 * ncol, 3.5 * nrow), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrow, ncol, squeeze=False))
    x, y = _grid_km(detector_m, side)
    pos = np.finfo(np.float64).tiny
    for ax in axes.ravel():
        ax.set_visible(False)
    for i in range(n):
        r, c = 2 * (i // ncol), i % ncol
        t = np.asarray(time_us[i], dtype=np.float64)
        s = np.asarray(signal_vem[i], dtype=np.float64)
        t_rel = t - np.nanmin(t) if np.isfinite(t).any() else t
        s_pos = np.where(s > 0, s, np.nan) if np.isfinite(s).any() else s
        title = (
            f"E = {energy_eev[i]:.1f} EeV, θ = {np.degrees(zenith_rad[i]):.0f}°\n"
            f"$X_\\mathrm{{max}}$ = {xmax_gcm2[i]:.0f} g cm$^{{-2}}$, {int(np.isfinite(s).sum())} stations"
        )
        for ax, values, key in ((axes[r, c], t_rel, "time"), (axes[r + 1, c], s_pos, "signal")):
            ax.set_visible(True)
            ax.set_facecolor("0.88")
            masked = np.ma.masked_invalid(values)
            if key == "signal":
                vmin = max(np.nanmin(values), pos) if np.isfinite(values).any() else 1.0
                vmax = max(np.nanmax(values), vmin * 10) if np.isfinite(values).any() else 10.0
                mesh = ax.pcolormesh(
                    x, y, masked, shading="nearest", cmap="inferno", norm=LogNorm(vmin, vmax)
                )
            else:
                mesh = ax.pcolormesh(x, y, masked, shading="nearest", cmap="viridis")
            fig.colorbar(mesh, ax=ax, label=LABEL[key], shrink=0.9, pad=0.02)
            silent = ~np.isfinite(values)
            ax.plot(x[silent], y[silent], ls="none", marker=".", ms=2, color="0.6")
            if core_m is not None:
                ax.plot(
                    core_m[i][0] / 1000,
                    core_m[i][1] / 1000,
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
        axes[r, c].set_title(title, fontsize=10)
        if i == 0 and core_m is not None:
            axes[r, c].legend(loc="upper left", fontsize=8)
    fig.suptitle("Example footprints: arrival time (upper) and signal (lower); grey = silent station")
    return fig


def _filled_hist(ax, values: np.ndarray, bins, color: str, label: str) -> None:
    """One shaded input histogram with its legend (the style of the data figure)."""
    ax.hist(values, bins=bins, histtype="stepfilled", alpha=0.6, color=color, ec=color, label=label)
    ax.legend()


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
    _log_energy_axis(a_e, [e_lo * 1.04, e_hi / 1.04])
    a_e.set_xlabel(LABEL["energy_true"])
    a_e.set_ylabel(LABEL["events"] + " (log-spaced bins)")
    zen = np.degrees(zenith_rad)
    _filled_hist(a_z, zen, 30, PALETTE[1], f"median {np.median(zen):.0f}°")
    a_z.set_xlabel(LABEL["zenith"])
    a_z.set_ylabel(LABEL["events"])
    label = f"mean {np.mean(xmax_gcm2):.0f}, std {np.std(xmax_gcm2):.0f} g cm$^{{-2}}$"
    _filled_hist(a_x, xmax_gcm2, 40, PALETTE[2], label)
    a_x.set_xlabel(LABEL["xmax"])
    a_x.set_ylabel(LABEL["events"])
    n_bins = np.arange(
        -0.5, max(int(np.max(n_trig)), 1) + 1.5, max(1, int(np.ceil((np.max(n_trig) + 1) / 40)))
    )
    *_, image = a_n.hist2d(
        energy_eev, n_trig, bins=[e_bins[::2], n_bins], cmin=1, cmap="Blues", norm=LogNorm()
    )
    fig.colorbar(image, ax=a_n, label=LABEL["events"])
    prof_edges = e_bins[::3]
    idx = np.clip(np.searchsorted(prof_edges, energy_eev, side="right") - 1, 0, len(prof_edges) - 2)
    centers = np.sqrt(prof_edges[:-1] * prof_edges[1:])
    means = np.array([n_trig[idx == k].mean() if np.any(idx == k) else np.nan for k in range(len(centers))])
    stds = np.array([n_trig[idx == k].std() if np.any(idx == k) else np.nan for k in range(len(centers))])
    a_n.errorbar(centers, means, yerr=stds, fmt="o", color="black", label="mean ± std")
    _log_energy_axis(a_n, [e_lo * 1.04, e_hi / 1.04])
    a_n.set_xlabel(LABEL["energy_true"])
    a_n.set_ylabel(LABEL["n_triggered"])
    a_n.legend(loc="upper left")
    fig.suptitle("Simulated showers: input distributions")
    return fig


# --- per model -------------------------------------------------------------------------------


@styled
def training_curves(
    histories: Mapping[int, Mapping[str, np.ndarray]], model: str, color: str | None = None
) -> Figure:
    """Training and validation loss per seed (log scale) and the learning rate, vs epoch.

    ``histories`` maps seed -> columns of the Keras CSV log (``epoch`` counted from 0,
    ``loss``, ``val_loss``, ``learning_rate``); ``color`` is the model's colour (seeds are
    drawn in shades of it).
    """
    fig = Figure(figsize=(8, 7.5), layout="constrained")
    a_loss, a_lr = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
    colors = seed_colors(list(histories), color)
    for k, (seed, h) in enumerate(histories.items()):
        epoch = np.asarray(h["epoch"]) + 1
        col = colors[seed]
        dots = {"marker": "o", "ms": 4} if len(epoch) <= 3 else {}  # a line needs points to be seen
        a_loss.plot(epoch, h["loss"], color=col, ls="-", label=f"seed {seed}: training", **dots)
        if "val_loss" in h:
            val = np.asarray(h["val_loss"], dtype=np.float64)
            a_loss.plot(epoch, val, color=col, ls="--", label=f"seed {seed}: validation", **dots)
            if np.isfinite(val).any():
                best = int(np.nanargmin(val))
                a_loss.plot(epoch[best], val[best], marker="o", mfc="none", mec=col, ms=10, ls="none")
        if "learning_rate" in h:
            # identical schedules would hide each other: earlier seeds drawn wider underneath
            a_lr.step(
                epoch,
                h["learning_rate"],
                where="post",
                color=col,
                label=f"seed {seed}",
                lw=1.6 + 2.0 * (len(histories) - 1 - k),
                **dots,
            )
    a_loss.plot([], [], marker="o", mfc="none", mec="0.3", ms=10, ls="none", label="lowest validation loss")
    a_loss.set_yscale("log")
    _plain_log_labels(a_loss.yaxis)
    a_loss.set_ylabel(LABEL["loss"])
    a_loss.set_title(f"{model}: training history (loss on the standardized energy)")
    a_loss.legend(ncols=2 if len(histories) > 2 else 1)
    if not any("learning_rate" in h for h in histories.values()):
        a_lr.text(0.5, 0.5, "learning rate not logged", transform=a_lr.transAxes, ha="center")
    elif len(histories) > 1:
        a_lr.legend()
    a_lr.set_yscale("log")
    _plain_log_labels(a_lr.yaxis)
    a_lr.set_ylabel(LABEL["learning_rate"])
    a_lr.set_xlabel(LABEL["epoch"])
    a_lr.xaxis.get_major_locator().set_params(integer=True)
    return fig


def _run_label(model: str, seed: int) -> str:
    """Legend name of one run: the training seed, or "classical" for the baseline (no seeds)."""
    return "classical" if model == BASELINE else f"seed {seed}"


def _percentile_range(values: Sequence[np.ndarray], q: float = 0.5) -> tuple[float, float]:
    pooled = np.concatenate([np.asarray(v, dtype=np.float64) for v in values])
    lo, hi = np.percentile(pooled, [q, 100 - q])
    half = max(abs(lo), abs(hi))
    return (-half, half) if half > 0 else (-1.0, 1.0)


@styled
def residuals(
    runs: Mapping[int, tuple[np.ndarray, np.ndarray]], model: str, color: str | None = None
) -> Figure:
    """Histograms of ``E_rec - E_true`` [EeV] and of the relative residual [%] per seed, with
    mean (mu) and standard deviation (sigma) in the legend.

    ``runs`` maps seed -> (energy_true, energy_pred) in EeV; ``color`` is the model's colour.
    """
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    a_abs, a_rel = fig.subplots(1, 2)
    colors = seed_colors(list(runs), color)
    res = {s: np.asarray(p, float) - np.asarray(t, float) for s, (t, p) in runs.items()}
    rel = {s: 100 * res[s] / np.asarray(runs[s][0], float) for s in runs}
    for ax, data, unit, key in ((a_abs, res, "EeV", "residual"), (a_rel, rel, "%", "relative_residual")):
        lo, hi = _percentile_range(list(data.values()))
        n_min = min(len(r) for r in data.values())
        bins = np.linspace(lo, hi, int(np.clip(np.sqrt(n_min), 15, 60)) + 1)  # fewer bins for small samples
        for seed, r in data.items():
            mu, sigma = float(np.mean(r)), float(np.std(r, ddof=1)) if r.size > 1 else float("nan")
            ax.hist(
                np.clip(r, lo, hi),
                bins=bins,
                histtype="step",
                lw=1.8,
                color=colors[seed],
                label=f"{_run_label(model, seed)}: μ = {mu:.2f} {unit}, σ = {sigma:.2f} {unit}",
            )
        ax.axvline(0.0, color="0.3", lw=1, ls=":")
        ax.set_xlabel(LABEL[key])
        ax.set_ylabel(LABEL["events"])
        ax.legend(loc="upper left", fontsize=8)
    n = len(next(iter(runs.values()))[0])
    fig.suptitle(
        f"{model}: residuals on the test set ({n:,} events per seed; outermost bins include overflow)"
    )
    return fig


@styled
def energy_scatter(
    energy_true: np.ndarray,
    energy_pred: np.ndarray,
    model: str,
    range_eev: tuple[float, float] = (3.16, 100.0),
    n_seeds: int = 1,
    color: str | None = None,
) -> Figure:
    """Reconstructed vs true energy: 2-D histogram (points for < 2000 events) on log axes, the
    diagonal, and the mean reconstructed energy per true-energy bin (error bar: standard
    deviation)."""
    e_true = np.asarray(energy_true, dtype=np.float64)
    e_pred = np.asarray(energy_pred, dtype=np.float64)
    lo, hi = range_eev[0] / 1.3, range_eev[1] * 1.3
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.subplots()
    edges = np.logspace(np.log10(lo), np.log10(hi), 61)
    if e_true.size >= 2000:
        shown = np.clip(e_pred, lo, hi)
        *_, image = ax.hist2d(e_true, shown, bins=[edges, edges], cmin=1, cmap="viridis", norm=LogNorm())
        fig.colorbar(image, ax=ax, label=LABEL["events"])
    else:
        ax.scatter(e_true, np.clip(e_pred, lo, hi), s=6, alpha=0.5, color=color or PALETTE[0], label="events")
    ax.plot([lo, hi], [lo, hi], color="red", lw=1.5, ls="--", label=r"$E_\mathrm{rec} = E_\mathrm{true}$")
    p_edges = np.logspace(np.log10(range_eev[0]), np.log10(range_eev[1]), 11)
    idx = np.searchsorted(p_edges, e_true, side="right") - 1
    centers = np.sqrt(p_edges[:-1] * p_edges[1:])
    means, stds = np.full(10, np.nan), np.full(10, np.nan)
    for k in range(10):
        sel = e_pred[idx == k]
        if sel.size:
            means[k], stds[k] = sel.mean(), sel.std()
    ax.errorbar(
        centers,
        means,
        yerr=stds,
        fmt="o",
        color="white",
        mec="black",
        ecolor="black",
        label=r"mean $E_\mathrm{rec}$ ± std per bin",
    )
    _log_energy_axis(ax, [lo * 1.08, hi / 1.08], "x")
    _log_energy_axis(ax, [lo * 1.08, hi / 1.08], "y")
    ax.set_aspect("equal")
    ax.set_xlabel(LABEL["energy_true"])
    ax.set_ylabel(LABEL["energy_rec"])
    n_low = int(np.count_nonzero(e_pred < lo))
    note = f"{e_true.size:,} events" + (f" ({n_seeds} seeds pooled)" if n_seeds > 1 else "")
    if n_low:
        note += f"; {n_low} with $E_\\mathrm{{rec}}$ < {lo:.1f} EeV drawn at the lower edge"
    ax.set_title(f"{model}: {note}", fontsize=10)
    ax.legend(loc="upper left")
    return fig


def _errorbar_series(ax, x, entries: Mapping, key: str, scale: float, **style) -> None:
    """Points with their bootstrap interval (from per-seed metrics lists value/lo/hi)."""
    v = _arr(entries[key]["value"], scale)
    lo = _arr(entries[key]["lo"], scale)
    hi = _arr(entries[key]["hi"], scale)
    yerr = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
    yerr = np.where(np.isfinite(yerr), yerr, 0.0)
    ax.errorbar(x, v, yerr=yerr, **style)


@styled
def bias_resolution_vs_energy(records: Sequence[Mapping], model: str, color: str | None = None) -> Figure:
    """Bias, resolution (std and robust 68 % half-width) and relative resolution vs true energy,
    one series per seed, error bars the bootstrap 68 % intervals. ``records`` are metrics dicts
    (:func:`airshower.evaluation.compute_metrics` plus ``seed``); ``color`` is the model's colour."""
    fig = Figure(figsize=(15, 4.8), layout="constrained")
    a_bias, a_res, a_rel = fig.subplots(1, 3)
    seeds = [rec.get("seed", k) for k, rec in enumerate(records)]
    colors = seed_colors(seeds, color)
    edges = records[0]["bins"]["edges_eev"]
    for k, (seed, rec) in enumerate(zip(seeds, records, strict=True)):
        b = rec["bins"]
        x = _dodge(b["center_eev"], k, len(records))
        col = colors[seed]
        common = {"color": col, "ls": "-", "lw": 1.0}
        _errorbar_series(a_bias, x, b, "bias_eev", 1.0, fmt="o", label=f"{_run_label(model, seed)}", **common)
        _errorbar_series(
            a_res, x, b, "resolution_eev", 1.0, fmt="o", label=f"{_run_label(model, seed)}: std", **common
        )
        _errorbar_series(
            a_res,
            _dodge(x, 1, 2, 0.01),
            b,
            "resolution68_eev",
            1.0,
            fmt="s",
            mfc="white",
            label=f"{_run_label(model, seed)}: 68 % half-width",
            color=col,
            ls=":",
            lw=1.0,
        )
        _errorbar_series(
            a_rel, x, b, "relative_resolution", 100.0, fmt="o", label=f"{_run_label(model, seed)}", **common
        )
    a_bias.axhline(0.0, color="0.3", lw=1, ls=":")
    for ax, key in ((a_bias, "bias"), (a_res, "resolution"), (a_rel, "relative_resolution")):
        _log_energy_axis(ax, edges)
        ax.grid(axis="x", visible=False)
        for e in edges:
            ax.axvline(e, color="0.85", lw=0.8, zorder=0)
        ax.set_xlabel(LABEL["energy_true"])
        ax.set_ylabel(LABEL[key])
        ax.legend(fontsize=8)
    a_res.set_ylim(bottom=0)
    a_rel.set_ylim(bottom=0)
    fig.suptitle(
        f"{model}: performance in bins of true energy (grey lines: bin edges; "
        "error bars: bootstrap 68 % intervals)"
    )
    return fig


# --- comparison of models --------------------------------------------------------------------


def _seed_errors(entry: Mapping, scale: float) -> tuple[np.ndarray, bool]:
    """Error bars of an aggregated binned quantity: spread over seeds, or the bootstrap
    half-width for a model with one seed. Returns (errors, is_statistical)."""
    std = _arr(entry["std"], scale)
    if np.isfinite(std).any():
        return np.where(np.isfinite(std), std, 0.0), False
    stat = _arr(entry["stat"], scale)
    return np.where(np.isfinite(stat), stat, 0.0), True


def _series_label(model: str, agg: Mapping, statistical: bool) -> str:
    n = agg["n_seeds"]
    return f"{model} (1 seed; bootstrap 68 %)" if statistical or n == 1 else f"{model} ({n} seeds)"


def _compare_binned(ax, summary: Mapping, models: Sequence[str], key: str, scale: float) -> None:
    styles = model_styles(models)
    present = [m for m in models if m in summary]
    for k, model in enumerate(present):
        agg = summary[model]
        b = agg["bins"]
        x = _dodge(b["center_eev"], k, len(present), 0.012)
        y = _arr(b[key]["mean"], scale)
        err, statistical = _seed_errors(b[key], scale)
        st = styles[model]
        ax.errorbar(
            x,
            y,
            yerr=err,
            color=st["color"],
            marker=st["marker"],
            ls=st["linestyle"],
            lw=1.4,
            ms=10 if model == BASELINE else 6,
            label=_series_label(model, agg, statistical),
        )
    edges = summary[present[0]]["bins"]["edges_eev"]
    _log_energy_axis(ax, edges)
    ax.set_xlabel(LABEL["energy_true"])


@styled
def relative_resolution_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """sigma_E / E vs true energy of every model, error bars the spread over seeds.

    ``summary`` maps model -> :func:`airshower.evaluation.aggregate_seeds` output.
    """
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.subplots()
    _compare_binned(ax, summary, models, "relative_resolution", 100.0)
    ax.set_ylabel(LABEL["relative_resolution"])
    ax.set_ylim(bottom=0)
    ax.set_title("Energy resolution of all models (test set; error bars: spread over seeds)")
    ax.legend()
    return fig


@styled
def bias_vs_energy(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """Absolute [EeV] and relative [%] bias vs true energy of every model."""
    fig = Figure(figsize=(13, 5.2), layout="constrained")
    a_abs, a_rel = fig.subplots(1, 2)
    _compare_binned(a_abs, summary, models, "bias_eev", 1.0)
    _compare_binned(a_rel, summary, models, "relative_bias", 100.0)
    for ax, key in ((a_abs, "bias"), (a_rel, "relative_bias")):
        ax.axhline(0.0, color="0.3", lw=1, ls=":")
        ax.set_ylabel(LABEL[key])
    a_abs.legend(fontsize=8)
    fig.suptitle("Energy bias of all models (test set; error bars: spread over seeds)")
    return fig


@styled
def resolution_overall(summary: Mapping[str, Mapping], models: Sequence[str]) -> Figure:
    """Dot chart of the overall resolution per model: std and robust 68 % half-width [EeV], and
    sigma_E / E [%]; mean over seeds with the seed spread as error bar, single seeds as dots."""
    present = [m for m in models if m in summary]
    styles = model_styles(models)
    fig = Figure(figsize=(12, 1.8 + 0.65 * len(present)), layout="constrained")
    a_abs, a_rel = fig.subplots(1, 2, sharey=True)
    ypos = np.arange(len(present))[::-1]
    for y, model in zip(ypos, present, strict=True):
        o = summary[model]["overall"]
        st = styles[model]
        ms = 12 if model == BASELINE else 9
        for ax, key, scale, dy, filled in (
            (a_abs, "resolution_eev", 1.0, 0.13, True),
            (a_abs, "resolution68_eev", 1.0, -0.13, False),
            (a_rel, "relative_resolution", 100.0, 0.0, True),
        ):
            q = o[key]
            if q["mean"] is None:
                continue
            err = q["std"] if q["std"] is not None else q["stat"]
            ax.errorbar(
                q["mean"] * scale,
                y + dy,
                xerr=None if err is None else err * scale,
                color=st["color"],
                marker=st["marker"],
                ms=ms,
                mfc=st["color"] if filled else "white",
                ls="none",
                capsize=0,
                lw=2,
            )
            vals = _arr(q["values"], scale)
            if len(vals) > 1:
                ax.plot(
                    vals,
                    np.full(len(vals), y + dy),
                    ls="none",
                    marker="o",
                    ms=4,
                    mfc="white",
                    mec=st["color"],
                    mew=1.2,
                )
    a_abs.set_yticks(ypos, labels=present)
    a_abs.set_xlabel(LABEL["resolution"])
    a_rel.set_xlabel(LABEL["relative_resolution"])
    a_abs.plot([], [], ls="none", marker="o", ms=9, color="0.4", label="std(E_rec − E_true), mean over seeds")
    a_abs.plot([], [], ls="none", marker="o", ms=9, color="0.4", mfc="white", label="robust: 68 % half-width")
    a_abs.plot([], [], ls="none", marker="o", ms=4, mfc="white", mec="0.4", label="single seeds")
    fig.legend(loc="outside lower center", ncols=3, fontsize=9)
    for ax in (a_abs, a_rel):
        ax.grid(axis="y", visible=False)
        ax.set_ylim(-0.6, len(present) - 0.4)
        ax.set_xlim(0, ax.get_xlim()[1] * 1.05)
    fig.suptitle(
        "Overall resolution per model (test set; error bars: spread over seeds, or bootstrap "
        "68 % for one seed)"
    )
    return fig

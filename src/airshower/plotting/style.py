"""The one style of every figure: font sizes (:data:`RC`), one colour and marker per model
(:func:`model_styles`: by position in the list of compared models, the classical baseline always
black), seed shades, axis labels with units (:data:`LABEL`), log energy axes, and :func:`save`,
which writes a figure atomically in every format of the ``plots`` config section."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import matplotlib
import matplotlib.collections as mcoll
import matplotlib.colors
import matplotlib.container as mcont
import matplotlib.lines as mlines
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from airshower import io, schema
from airshower.schema import BASELINE, ENSEMBLE_SUFFIX

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


@dataclass(frozen=True)
class PlotSettings(schema.Settings):
    """The ``plots`` config section (defaults in the schema)."""

    SECTION: ClassVar[str] = "plots"

    formats: tuple[str, ...]  # file formats of every figure, png always among them
    dpi: int  # resolution of the PNGs
    n_footprints: int  # example events in the footprint figure


def styled(func):
    """Run a figure function under the shared rc settings (fonts, grid, line widths)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper


def model_styles(models: Sequence[str]) -> dict[str, dict]:
    """Colour, marker and line style per model.

    Networks are numbered by their position in ``models`` (the baseline and the seed ensembles
    skipped), so a model keeps its colour whether or not the baseline is compared; the baseline
    is always black; a seed ensemble (``{model}_ensemble``) has its network's colour and marker,
    dashed, with open markers.
    """
    out = {}
    k = 0
    for name in models:
        member = name.removesuffix(ENSEMBLE_SUFFIX)
        if name == BASELINE:
            out[name] = dict(BASELINE_STYLE)
        elif member != name and member in out:
            out[name] = {**out[member], "linestyle": "--", "markerfacecolor": "none"}
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


def run_label(model: str, seed: int) -> str:
    """Legend name of one run: the training seed, or "classical" for the baseline (no seeds)."""
    return "classical" if model == BASELINE else f"seed {seed}"


# --- axes ------------------------------------------------------------------------------------


class _PlainLogFormatter(matplotlib.ticker.LogFormatter):
    """LogFormatter (which decides which minor ticks get a label) writing 0.3 rather than 3e-01."""

    def _num_to_string(self, x, _vmin, _vmax):
        return f"{x:g}"


def plain_log_labels(axis) -> None:
    """Tick labels like 0.3, 0.5, 1 instead of 3 x 10^-1 on a log axis (minor labels only where
    the axis spans less than about a decade, so they never crowd)."""
    axis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1.2, 0.6)))


def log_energy_axis(ax, edges: Sequence[float] | None = None, which: str = "x") -> None:
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


def dodge(x: np.ndarray, k: int, n: int, width: float = 0.025) -> np.ndarray:
    """Shift markers of series ``k`` of ``n`` sideways on a log axis so error bars do not overlap."""
    return np.asarray(x) * 10 ** (width * (k - (n - 1) / 2))


BIN_DODGE = 0.15  # the models of one energy bin lie within ± this fraction of its log width


def dodge_in_bins(
    centers: Sequence[float], edges: Sequence[float], k: int, n: int, fraction: float = BIN_DODGE
) -> np.ndarray:
    """Shift series ``k`` of ``n`` sideways on a log axis, all ``n`` within ± ``fraction`` of each
    bin's log width (``edges``: the bin edges), so the points of one bin read as one energy."""
    edges = np.asarray(edges, dtype=np.float64)
    step = 0.0 if n < 2 else 2 * fraction * np.log10(edges[1:] / edges[:-1]) / (n - 1)
    return np.asarray(centers, dtype=np.float64) * 10 ** (step * (k - (n - 1) / 2))


def bin_bands(ax, edges: Sequence[float], which: str = "x") -> None:
    """Shade every other bin (``edges``) faintly, so the points of one bin read as one group."""
    span = ax.axvspan if which == "x" else ax.axhspan
    for lo, hi in zip(edges[1::2], edges[2::2], strict=False):
        span(lo, hi, color="0.5", alpha=0.08, lw=0, zorder=0)


# --- error bars: which interval ------------------------------------------------------------

SPREAD_CAPSIZE = 0.0  # error bar of several seeds: their spread, no caps
BOOTSTRAP_CAPSIZE = 4.0  # error bar of one result (one seed, ensemble, baseline): bootstrap, caps
ERROR_KINDS = {
    "spread": "error bar without caps: spread (std) over the training seeds",
    "bootstrap": "error bar with caps: 68 % bootstrap interval of one result",
}


def error_capsize(statistical: bool) -> float:
    """Cap size of an error bar: caps for a bootstrap interval, none for a spread over seeds."""
    return BOOTSTRAP_CAPSIZE if statistical else SPREAD_CAPSIZE


def error_kind_handles(kinds: Collection[str] = tuple(ERROR_KINDS), labels: dict | None = None) -> tuple:
    """Legend proxies (grey bars, no marker) of the error bar ``kinds`` (:data:`ERROR_KINDS`
    keys, in its order; ``labels`` overrides their text): ``(handles, labels)`` for ``fig.legend``."""
    text = {**ERROR_KINDS, **(labels or {})}
    kinds = [k for k in text if k in kinds]
    handles = []
    for kind in kinds:
        caps = ()
        if kind == "bootstrap":
            cap = mlines.Line2D([], [], color="0.35", marker="_", ms=2 * BOOTSTRAP_CAPSIZE, ls="none")
            caps = (cap, cap)
        bars = mcoll.LineCollection([], colors="0.35", linewidths=1.6)
        handles.append(mcont.ErrorbarContainer((None, caps, (bars,)), has_yerr=True))
    return handles, [text[k] for k in kinds]


SYMLOG_SPAN = 10.0  # values whose largest is more than this times their median: symmetric-log axis


def nice_ceil(value: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``value`` (> 0)."""
    exponent = np.floor(np.log10(value))
    for mantissa in (1.0, 2.0, 5.0, 10.0):
        if mantissa * 10**exponent >= value * (1 - 1e-9):
            return float(mantissa * 10**exponent)
    return float(10 ** (exponent + 1))  # pragma: no cover (10 x 10^e is always enough)


def symlog_threshold(values: Sequence[float], span: float = SYMLOG_SPAN) -> float | None:
    """The linear half-width of a symmetric-log axis for ``values`` (NaN ignored): the
    :func:`nice_ceil` of their typical (median) magnitude, or None when the largest magnitude is
    within ``span`` times the typical one and a linear axis shows every value."""
    mags = np.abs(np.asarray(values, dtype=np.float64))
    mags = mags[np.isfinite(mags) & (mags > 0)]
    if mags.size == 0 or mags.max() <= span * np.median(mags):
        return None
    return nice_ceil(float(np.median(mags)))


class SymlogTicks(matplotlib.ticker.Locator):
    """Ticks of a symmetric-log axis with linear half-width ``linthresh``: 0, ±``linthresh`` / 2
    and ±``linthresh``, beyond it 1, 2, 5 times powers of ten (only the powers of ten over more
    than three decades)."""

    def __init__(self, linthresh: float):
        self.linthresh = linthresh

    def __call__(self):
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((vmin, vmax))
        top = max(abs(vmin), abs(vmax), self.linthresh)
        decades = np.arange(np.floor(np.log10(self.linthresh)), np.ceil(np.log10(top)) + 1)
        mantissas = (1.0,) if len(decades) > 4 else (1.0, 2.0, 5.0)
        mags = [m * 10**d for d in decades for m in mantissas if m * 10**d > self.linthresh * (1 + 1e-9)]
        linear = [0.0, *(sign * f * self.linthresh for sign in (1, -1) for f in (0.5, 1.0))]
        ticks = [*linear, *mags, *(-m for m in mags)]
        return np.array(sorted(t for t in ticks if vmin <= t <= vmax))


def symlog_axis(ax, linthresh: float, which: str = "y") -> None:
    """A symmetric-log axis, linear within ± ``linthresh`` (shaded faintly, and said in a small
    title left above the panel), plain tick labels (-100, -10, 0, 2, 10, 100 rather than powers of ten)."""
    (ax.set_yscale if which == "y" else ax.set_xscale)("symlog", linthresh=linthresh, linscale=1.0)
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_locator(SymlogTicks(linthresh))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(matplotlib.ticker.NullLocator())
    span = ax.axhspan if which == "y" else ax.axvspan
    span(-linthresh, linthresh, color="0.5", alpha=0.08, lw=0, zorder=0)
    note = f"{which} axis: linear within ±{linthresh:g} (shaded), logarithmic beyond"
    ax.set_title(note, loc="left", fontsize=8, color="0.3")


def seed_errors(entry: Mapping, scale: float) -> tuple[np.ndarray, bool]:
    """Error bars of an aggregated binned quantity: spread over seeds, or the bootstrap
    half-width for a model with one seed. Returns (errors, is_statistical)."""
    std = as_array(entry["std"], scale)
    if np.isfinite(std).any():
        return np.where(np.isfinite(std), std, 0.0), False
    stat = as_array(entry["stat"], scale)
    return np.where(np.isfinite(stat), stat, 0.0), True


def series_label(model: str, agg: Mapping, statistical: bool) -> str:
    """Legend name of a model's series: its seeds, or what its single result is."""
    n = agg["n_seeds"]
    if not statistical and n > 1:
        return f"{model} ({n} seeds)"
    return f"{model} ({'seed ensemble' if model.endswith(ENSEMBLE_SUFFIX) else '1 seed'}; bootstrap 68 %)"


def as_array(values: Sequence[float | None], scale: float = 1.0) -> np.ndarray:
    """Values of a metrics record (None where undefined) times ``scale``, NaN for None."""
    return np.array([np.nan if v is None else v * scale for v in values], dtype=np.float64)


# --- output ----------------------------------------------------------------------------------


def save(fig: Figure, png_path: str | Path, settings: PlotSettings | None = None) -> list[Path]:
    """Write ``fig`` once per format of ``settings`` (the schema's ``plots`` defaults if None),
    next to ``png_path`` with the suffix swapped, atomically.

    Returns the written paths. PDF metadata carry no creation date, so reruns give the same bytes.
    """
    settings = settings or PlotSettings.from_config()
    png_path = Path(png_path)
    written = []
    for fmt in settings.formats:
        target = png_path.with_suffix(f".{fmt}")
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        with io.atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=settings.dpi, metadata=metadata)
        written.append(target)
    return written


# the error bars of the per-target figures (:mod:`.targets`, :mod:`.mass`)
TARGET_ERRORS = "error bars: spread over seeds, or bootstrap 68 % for one seed"


def present_models(summary: Mapping, models: Sequence[str]) -> list[str]:
    """The models of ``models`` that ``summary`` has, in order; ValueError naming them where it
    has none."""
    present = [m for m in models if m in summary]
    if not present:
        raise ValueError(f"none of the models {', '.join(models)} is in the summary")
    return present


def target_title(fig: Figure, what: str) -> None:
    """A per-target figure's title: ``what``, the test set and :data:`TARGET_ERRORS`."""
    fig.suptitle(f"{what}\n(test set; {TARGET_ERRORS})")

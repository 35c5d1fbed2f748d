"""Performance metrics of an energy reconstruction: bias, resolution, their uncertainties.

For events with true energy ``E_true`` and reconstructed energy ``E_rec`` (both in EeV):

- bias ``mean(E_rec - E_true)`` [EeV] and relative bias ``mean((E_rec - E_true) / E_true)``;
- resolution ``std(E_rec - E_true)`` [EeV] (sample standard deviation, ``ddof=1``);
- robust resolution: half-width of the central 68.27 % interval of ``E_rec - E_true`` [EeV],
  ``(q84.135 - q15.865) / 2``; equal to the standard deviation for Gaussian residuals, but
  insensitive to a few wild reconstructions;
- relative resolution ``std((E_rec - E_true) / E_true)`` (sigma_E / E, dimensionless).

Each is computed over all events and in bins of the *true* energy (log-spaced by default). The
68 % intervals are percentile-bootstrap intervals: the events are resampled with replacement
``n_bootstrap`` times and the 15.87 and 84.13 percentiles of the resampled metric are quoted.
A bin without events (or with too few for a spread) yields ``None``, never an error.

Seeds of one model are combined by :func:`aggregate_seeds` (mean and standard deviation over
seeds); :func:`summary_rows` turns the per-model aggregates into the study's summary table.
"""

from __future__ import annotations

import csv
import io as _io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

INTERVAL = 0.6827  # central probability of the quoted intervals (one Gaussian sigma)
_LO, _HI = 50.0 * (1.0 - INTERVAL), 50.0 * (1.0 + INTERVAL)  # percentiles 15.865, 84.135

QUANTITIES: dict[str, str] = {
    "bias_eev": "mean(E_rec - E_true) in EeV",
    "resolution_eev": "std(E_rec - E_true) in EeV (ddof=1)",
    "resolution68_eev": "half-width of the central 68.27 % interval of E_rec - E_true in EeV",
    "relative_bias": "mean((E_rec - E_true) / E_true)",
    "relative_resolution": "std((E_rec - E_true) / E_true) (ddof=1)",
}
# quantities that need at least two events (a spread)
_SPREADS = ("resolution_eev", "resolution68_eev", "relative_resolution")
_MAX_BOOTSTRAP_CELLS = 4_000_000  # resampled values held in memory at once


@dataclass(frozen=True)
class EvaluationSettings:
    """The ``evaluation`` config section."""

    bins_min_eev: float = 3.16
    bins_max_eev: float = 100.0
    n_bins: int = 6
    spacing: str = "log"  # or "linear"
    n_bootstrap: int = 200

    @classmethod
    def from_config(cls, section: Mapping) -> EvaluationSettings:
        bins = section.get("energy_bins_eev", {})
        return cls(
            bins_min_eev=float(bins.get("min", cls.bins_min_eev)),
            bins_max_eev=float(bins.get("max", cls.bins_max_eev)),
            n_bins=int(bins.get("n", cls.n_bins)),
            spacing=str(bins.get("spacing", cls.spacing)),
            n_bootstrap=int(section.get("bootstrap", cls.n_bootstrap)),
        )


def bin_edges(settings: EvaluationSettings) -> np.ndarray:
    """Energy bin edges in EeV, ``n_bins + 1`` values, log- or linearly spaced."""
    lo, hi, n = settings.bins_min_eev, settings.bins_max_eev, settings.n_bins
    if not 0 < lo < hi or n < 1:
        raise ValueError(f"energy bins need 0 < min < max and n >= 1, got min={lo}, max={hi}, n={n}")
    if settings.spacing == "log":
        return np.logspace(np.log10(lo), np.log10(hi), n + 1)
    if settings.spacing == "linear":
        return np.linspace(lo, hi, n + 1)
    raise ValueError(f"energy bin spacing must be 'log' or 'linear', got {settings.spacing!r}")


def bin_centers(edges: np.ndarray, spacing: str = "log") -> np.ndarray:
    """Geometric (log spacing) or arithmetic (linear spacing) bin centres."""
    edges = np.asarray(edges, dtype=np.float64)
    if spacing == "log":
        return np.sqrt(edges[:-1] * edges[1:])
    return 0.5 * (edges[:-1] + edges[1:])


def bin_index(energy_eev: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each event: ``i`` for ``edges[i] <= E < edges[i+1]`` (last bin includes its upper
    edge), ``-1`` outside the range."""
    energy_eev = np.asarray(energy_eev, dtype=np.float64)
    idx = np.searchsorted(edges, energy_eev, side="right") - 1
    idx[energy_eev == edges[-1]] = len(edges) - 2
    idx[(idx < 0) | (idx >= len(edges) - 1)] = -1
    return idx


def _statistics(residual: np.ndarray, relative: np.ndarray) -> dict[str, np.ndarray]:
    """Every quantity along the last axis (events); works on one sample or a stack of them."""
    n = residual.shape[-1]
    out = {"bias_eev": residual.mean(axis=-1), "relative_bias": relative.mean(axis=-1)}
    if n >= 2:
        q_lo, q_hi = np.percentile(residual, [_LO, _HI], axis=-1)
        out["resolution_eev"] = residual.std(axis=-1, ddof=1)
        out["resolution68_eev"] = 0.5 * (q_hi - q_lo)
        out["relative_resolution"] = relative.std(axis=-1, ddof=1)
    else:
        nan = np.full(residual.shape[:-1], np.nan)
        out.update({q: nan for q in _SPREADS})
    return out


def _check(energy_true: np.ndarray, energy_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e_true = np.asarray(energy_true, dtype=np.float64).ravel()
    e_pred = np.asarray(energy_pred, dtype=np.float64).ravel()
    if e_true.shape != e_pred.shape:
        raise ValueError(f"energy_true has {e_true.size} events, energy_pred {e_pred.size}")
    if not (np.all(np.isfinite(e_true)) and np.all(np.isfinite(e_pred))):
        raise ValueError("energies must be finite (a NaN prediction means the network diverged)")
    if np.any(e_true <= 0):
        raise ValueError("true energies must be positive")
    return e_true, e_pred


def _value(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def point_estimates(energy_true: np.ndarray, energy_pred: np.ndarray) -> dict[str, float | None]:
    """Every quantity of :data:`QUANTITIES` for one sample; ``None`` where undefined."""
    e_true, e_pred = _check(energy_true, energy_pred)
    if e_true.size == 0:
        return dict.fromkeys(QUANTITIES)
    residual = e_pred - e_true
    stats = _statistics(residual, residual / e_true)
    return {q: _value(stats[q]) for q in QUANTITIES}


def bootstrap_intervals(
    energy_true: np.ndarray, energy_pred: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> dict[str, tuple[float | None, float | None]]:
    """Percentile-bootstrap 68.27 % interval ``(lo, hi)`` of every quantity.

    The events are resampled with replacement ``n_bootstrap`` times (in chunks, so memory stays
    bounded for large samples).
    """
    e_true, e_pred = _check(energy_true, energy_pred)
    n = e_true.size
    if n == 0:
        return {q: (None, None) for q in QUANTITIES}
    residual = e_pred - e_true
    relative = residual / e_true
    chunk = max(1, _MAX_BOOTSTRAP_CELLS // n)
    parts: dict[str, list[np.ndarray]] = {q: [] for q in QUANTITIES}
    for start in range(0, n_bootstrap, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))
        stats = _statistics(residual[idx], relative[idx])
        for q in QUANTITIES:
            parts[q].append(stats[q])
    out = {}
    for q in QUANTITIES:
        values = np.concatenate(parts[q])
        if not np.all(np.isfinite(values)):
            out[q] = (None, None)
        else:
            lo, hi = np.percentile(values, [_LO, _HI])
            out[q] = (float(lo), float(hi))
    return out


def summarize(
    energy_true: np.ndarray, energy_pred: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> dict:
    """``{"n": events, quantity: {"value", "lo", "hi"}}`` for one sample."""
    values = point_estimates(energy_true, energy_pred)
    intervals = bootstrap_intervals(energy_true, energy_pred, n_bootstrap, rng)
    out: dict = {"n": int(np.size(energy_true))}
    for q in QUANTITIES:
        lo, hi = intervals[q]
        out[q] = {"value": values[q], "lo": lo, "hi": hi}
    return out


def compute_metrics(
    energy_true: np.ndarray,
    energy_pred: np.ndarray,
    settings: EvaluationSettings,
    rng: np.random.Generator,
) -> dict:
    """All metrics of one model and seed, as a JSON-ready dict.

    Layout::

        {"n_events", "n_bootstrap", "interval", "definitions",
         "overall": {"n", <quantity>: {"value", "lo", "hi"}, ...},
         "bins": {"edges_eev", "center_eev", "spacing", "n", "n_outside",
                  <quantity>: {"value": [...], "lo": [...], "hi": [...]}, ...}}

    Bins are in true energy; events outside the bin range count in ``overall`` and in
    ``bins.n_outside`` only. Undefined entries (empty bins, spreads of single events) are None.
    """
    e_true, e_pred = _check(energy_true, energy_pred)
    overall = summarize(e_true, e_pred, settings.n_bootstrap, rng)
    edges = bin_edges(settings)
    idx = bin_index(e_true, edges)
    bins: dict = {
        "edges_eev": edges.tolist(),
        "center_eev": bin_centers(edges, settings.spacing).tolist(),
        "spacing": settings.spacing,
        "n": [int(np.count_nonzero(idx == i)) for i in range(len(edges) - 1)],
        "n_outside": int(np.count_nonzero(idx < 0)),
    }
    for q in QUANTITIES:
        bins[q] = {"value": [], "lo": [], "hi": []}
    for i in range(len(edges) - 1):
        sel = idx == i
        cell = summarize(e_true[sel], e_pred[sel], settings.n_bootstrap, rng)
        for q in QUANTITIES:
            for key in ("value", "lo", "hi"):
                bins[q][key].append(cell[q][key])
    return {
        "n_events": int(e_true.size),
        "n_bootstrap": settings.n_bootstrap,
        "interval": INTERVAL,
        "definitions": dict(QUANTITIES),
        "overall": overall,
        "bins": bins,
    }


# --- reading run records ------------------------------------------------------------------------

_RUN_DIR = re.compile(r"(?:^|/)(?P<model>[A-Za-z][A-Za-z0-9_]*)/seed(?P<seed>\d+)/[^/]+$")


def run_key(path: str, record: Mapping | None = None) -> tuple[str, int]:
    """(model, seed) of a run file: from the record's ``model``/``seed`` fields if present, else
    from the path ``.../{model}/seed{seed}/<file>``."""
    record = record or {}
    if "model" in record and "seed" in record:
        return str(record["model"]), int(record["seed"])
    match = _RUN_DIR.search(str(path).replace("\\", "/"))
    if match is None:
        raise ValueError(
            f"{path}: cannot tell model and seed (no 'model'/'seed' fields, path not .../MODEL/seedN/FILE)"
        )
    return match["model"], int(match["seed"])


# --- combining seeds -------------------------------------------------------------------------


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation over seeds, ignoring None; std None for one value."""
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return None, None
    return float(v.mean()), (float(v.std(ddof=1)) if v.size >= 2 else None)


def _half_width(entry: Mapping) -> float | None:
    if entry["lo"] is None or entry["hi"] is None:
        return None
    return 0.5 * (entry["hi"] - entry["lo"])


def aggregate_seeds(records: Sequence[Mapping]) -> dict:
    """Combine the metrics of the seeds of one model.

    Parameters
    ----------
    records
        metrics dicts of :func:`compute_metrics`, each with ``"seed"`` (and ``"model"``) set; all
        with the same energy bins.

    Returns
    -------
    dict
        ``{"seeds", "n_seeds", "overall": {q: {"mean", "std", "stat", "values"}},
        "bins": {"edges_eev", "center_eev", "n", q: {"mean": [...], "std": [...], "stat": [...]}}}``
        where ``std`` is the standard deviation over seeds (None for a single seed) and ``stat``
        the mean over seeds of the bootstrap half-width ``(hi - lo) / 2`` (the statistical
        uncertainty from the finite test sample).
    """
    if not records:
        raise ValueError("no metrics to aggregate")
    edges = records[0]["bins"]["edges_eev"]
    for rec in records[1:]:
        other = rec["bins"]["edges_eev"]
        if len(other) != len(edges) or not np.allclose(other, edges):
            raise ValueError(
                f"seed {rec.get('seed')} has different energy bins than seed {records[0].get('seed')}"
            )
    out: dict = {
        "seeds": [rec.get("seed") for rec in records],
        "n_seeds": len(records),
        "n_events": records[0]["n_events"],
        "overall": {},
        "bins": {
            "edges_eev": list(edges),
            "center_eev": list(records[0]["bins"]["center_eev"]),
            "n": list(records[0]["bins"]["n"]),
        },
    }
    for q in QUANTITIES:
        entries = [rec["overall"][q] for rec in records]
        mean, std = _mean_std([e["value"] for e in entries])
        stat, _ = _mean_std([_half_width(e) for e in entries])
        out["overall"][q] = {"mean": mean, "std": std, "stat": stat, "values": [e["value"] for e in entries]}
        cols: dict[str, list] = {"mean": [], "std": [], "stat": []}
        for i in range(len(edges) - 1):
            cells = [{k: rec["bins"][q][k][i] for k in ("value", "lo", "hi")} for rec in records]
            mean, std = _mean_std([c["value"] for c in cells])
            stat, _ = _mean_std([_half_width(c) for c in cells])
            cols["mean"].append(mean)
            cols["std"].append(std)
            cols["stat"].append(stat)
        out["bins"][q] = cols
    return out


# --- the summary table -----------------------------------------------------------------------

SUMMARY_COLUMNS = (
    "model",
    "n_parameters",
    "n_seeds",
    "resolution_eev",
    "resolution_eev_seed_std",
    "resolution_eev_stat",
    "resolution68_eev",
    "resolution68_eev_seed_std",
    "relative_resolution",
    "relative_resolution_seed_std",
    "bias_eev",
    "bias_eev_seed_std",
    "bias_eev_stat",
    "relative_bias",
    "relative_bias_seed_std",
    "epochs_run",
    "training_time_s",
    "train_samples_per_s",
    "inference_events_per_s",
)


def _mean_of(values: Sequence[float | None]) -> float | None:
    return _mean_std(values)[0]


def summary_rows(
    aggregated: Mapping[str, Mapping],
    training_info: Mapping[str, Sequence[Mapping]],
    inference_events_per_s: Mapping[str, Sequence[float]],
    models: Sequence[str],
) -> list[dict]:
    """One row per model (in ``models`` order) with the columns of :data:`SUMMARY_COLUMNS`.

    Training columns (parameters, epochs, time, throughput) are averaged over the seeds'
    ``training.json`` records; a model without records (the classical baseline) gets None there.
    """
    rows = []
    for model in models:
        if model not in aggregated:
            raise ValueError(f"model '{model}' has no metrics")
        agg = aggregated[model]["overall"]
        info = list(training_info.get(model, []))
        row: dict = {"model": model, "n_seeds": aggregated[model]["n_seeds"]}
        for q in ("resolution_eev", "resolution68_eev", "relative_resolution", "bias_eev", "relative_bias"):
            row[q] = agg[q]["mean"]
            row[f"{q}_seed_std"] = agg[q]["std"]
            if f"{q}_stat" in SUMMARY_COLUMNS:
                row[f"{q}_stat"] = agg[q]["stat"]
        if info:
            row["n_parameters"] = int(info[0]["n_parameters"])
            row["epochs_run"] = _mean_of([i.get("epochs_run") for i in info])
            row["training_time_s"] = _mean_of([i.get("training_time_s") for i in info])
            row["train_samples_per_s"] = _mean_of([i.get("train_samples_per_s") for i in info])
        else:
            row.update(n_parameters=None, epochs_run=None, training_time_s=None, train_samples_per_s=None)
        row["inference_events_per_s"] = _mean_of(list(inference_events_per_s.get(model, [])))
        rows.append({c: row.get(c) for c in SUMMARY_COLUMNS})
    return rows


def summary_csv(rows: Sequence[Mapping]) -> str:
    """The rows as CSV text (empty cells for missing values)."""
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: ("" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)) for k, v in row.items()}
        )
    return buf.getvalue()


DASH = "–"  # shown where a quantity does not apply (the baseline has no training)


def _sig(x: float, err: float | None) -> int:
    """Decimals that show ``err`` with two significant digits (at least one, at most six)."""
    scale = abs(err) if err else abs(x)
    if not scale:
        return 2
    return int(min(6, max(1, 1 - math.floor(math.log10(scale)))))


def _pm(value: float | None, spread: float | None, scale: float = 1.0) -> str:
    if value is None:
        return DASH
    v = value * scale
    if spread is None:
        return f"{v:.{_sig(v, None) + 1}f}"
    s = spread * scale
    d = _sig(v, s)
    return f"{v:.{d}f} ± {s:.{d}f}"


def _count(value: float | None, fmt: str = ",.0f") -> str:
    return DASH if value is None else format(value, fmt)


def summary_markdown(rows: Sequence[Mapping]) -> str:
    """The summary as a Markdown table: values are means over seeds ± standard deviation over
    seeds (a single value where there is one seed)."""
    header = [
        "model",
        "parameters",
        "seeds",
        "resolution [EeV]",
        "robust resolution [EeV]",
        "σ_E/E [%]",
        "bias [EeV]",
        "epochs",
        "training time [s]",
        "train samples/s",
        "inference events/s",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for r in rows:
        cells = [
            str(r["model"]),
            _count(r["n_parameters"]),
            str(r["n_seeds"]),
            _pm(r["resolution_eev"], r["resolution_eev_seed_std"]),
            _pm(r["resolution68_eev"], r["resolution68_eev_seed_std"]),
            _pm(r["relative_resolution"], r["relative_resolution_seed_std"], 100.0),
            _pm(r["bias_eev"], r["bias_eev_seed_std"]),
            _count(
                r["epochs_run"],
                ".0f" if r["epochs_run"] is None or float(r["epochs_run"]).is_integer() else ".1f",
            ),
            _count(r["training_time_s"], ",.0f"),
            _count(r["train_samples_per_s"], ",.0f"),
            _count(r["inference_events_per_s"], ",.0f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    note = (
        "\nValues are means over the training seeds ± their standard deviation (one value where a "
        "model has one seed); resolution = std(E_rec − E_true), robust resolution = half-width of the "
        "central 68 % of E_rec − E_true, σ_E/E = std((E_rec − E_true)/E_true), bias = mean(E_rec − "
        f"E_true), all on the test set. {DASH}: does not apply (no training).\n"
    )
    return "\n".join(lines) + "\n" + note

"""Combining the seeds of a model and the rows of the study's summary table.

:func:`run_key` tells model and seed of a run record, :func:`aggregate_seeds` combines the
metrics of the seeds of one model (mean and sample standard deviation over seeds, ``ddof=1``,
:func:`airshower.statistics.spread`) and :func:`summary_rows` turns the per-model aggregates,
training records and convergence verdicts into the rows of :data:`SUMMARY_COLUMNS`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from airshower import statistics
from airshower.evaluation.convergence import Convergence
from airshower.evaluation.metrics import QUANTITIES
from airshower.evaluation.uncertainty import UNCERTAINTY_QUANTITIES

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
    return float(v.mean()), (float(statistics.spread(v)) if v.size >= 2 else None)


def _half_width(entry: Mapping) -> float | None:
    if entry["lo"] is None or entry["hi"] is None:
        return None
    return 0.5 * (entry["hi"] - entry["lo"])


def _combined(entries: Sequence[Mapping]) -> tuple[float | None, float | None, float | None]:
    """(mean, std, stat) of one quantity over seeds: mean and spread of the values, mean of the
    bootstrap half-widths."""
    mean, std = _mean_std([e["value"] for e in entries])
    stat, _ = _mean_std([_half_width(e) for e in entries])
    return mean, std, stat


def _check_same_bins(records: Sequence[Mapping]) -> list[float]:
    edges = records[0]["bins"]["edges_eev"]
    for rec in records[1:]:
        other = rec["bins"]["edges_eev"]
        if len(other) != len(edges) or not np.allclose(other, edges):
            raise ValueError(
                f"seed {rec.get('seed')} has different energy bins than seed {records[0].get('seed')}"
            )
    return edges


def _combined_bins(records: Sequence[Mapping], q: str, n_bins: int) -> dict[str, list]:
    """``{"mean": [...], "std": [...], "stat": [...]}`` of quantity ``q`` per energy bin."""
    cols: dict[str, list] = {"mean": [], "std": [], "stat": []}
    for i in range(n_bins):
        cells = [{k: rec["bins"][q][k][i] for k in ("value", "lo", "hi")} for rec in records]
        for key, value in zip(("mean", "std", "stat"), _combined(cells), strict=True):
            cols[key].append(value)
    return cols


def _combined_entries(entries: Sequence[Mapping | None]) -> dict:
    """``{"mean", "std", "stat", "values"}`` of one quantity over seeds; a seed without the
    quantity (None) counts as missing."""
    entries = [e or {"value": None, "lo": None, "hi": None} for e in entries]
    mean, std, stat = _combined(entries)
    return {"mean": mean, "std": std, "stat": stat, "values": [e["value"] for e in entries]}


def aggregate_uncertainty(records: Sequence[Mapping]) -> dict | None:
    """The per-event uncertainty metrics (``metrics.json``'s ``uncertainty``) combined over seeds
    like :func:`aggregate_seeds`: ``{"seeds", "overall": {q: {"mean", "std", "stat", "values"}},
    "cut": {"keep_fraction", q: {...}}}`` over the seeds that have them; None when none has."""
    found = [rec for rec in records if rec.get("uncertainty")]
    if not found:
        return None
    unc = [rec["uncertainty"] for rec in found]
    return {
        "seeds": [rec.get("seed") for rec in found],
        "overall": {q: _combined_entries([u["overall"].get(q) for u in unc]) for q in UNCERTAINTY_QUANTITIES},
        "cut": {
            "keep_fraction": unc[0]["cut"]["keep_fraction"],
            **{q: _combined_entries([u["cut"].get(q) for u in unc]) for q in QUANTITIES},
        },
    }


def aggregate_seeds(records: Sequence[Mapping]) -> dict:
    """Combine the metrics of the seeds of one model.

    Parameters
    ----------
    records
        metrics dicts of :func:`airshower.evaluation.compute_metrics`, each with ``"seed"`` (and
        ``"model"``) set; all with the same energy bins.

    Returns
    -------
    dict
        ``{"seeds", "n_seeds", "overall": {q: {"mean", "std", "stat", "values"}},
        "bins": {"edges_eev", "center_eev", "n", q: {"mean": [...], "std": [...], "stat": [...]}}}``
        where ``std`` is the sample standard deviation over seeds (None for a single seed) and
        ``stat`` the mean over seeds of the bootstrap half-width ``(hi - lo) / 2`` (the
        statistical uncertainty from the finite test sample); plus ``"uncertainty"``
        (:func:`aggregate_uncertainty`) when the seeds have per-event uncertainty metrics.
    """
    if not records:
        raise ValueError("no metrics to aggregate")
    edges = _check_same_bins(records)
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
        mean, std, stat = _combined(entries)
        out["overall"][q] = {"mean": mean, "std": std, "stat": stat, "values": [e["value"] for e in entries]}
        out["bins"][q] = _combined_bins(records, q, len(edges) - 1)
    uncertainty = aggregate_uncertainty(records)
    if uncertainty is not None:
        out["uncertainty"] = uncertainty
    return out


# --- the summary table -----------------------------------------------------------------------

# summary column -> (part, quantity) of the aggregated per-event uncertainty metrics
UNCERTAINTY_COLUMNS = {
    "coverage68": ("overall", "coverage68"),
    "coverage95": ("overall", "coverage95"),
    "pull_width": ("overall", "pull_width"),
    "resolution_cut90_eev": ("cut", "resolution_eev"),
    "relative_resolution_cut90": ("cut", "relative_resolution"),
}

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
    "resumed_seeds",
    "converged_seeds",
    "not_converged_seeds",
    *(f"{name}{suffix}" for name in UNCERTAINTY_COLUMNS for suffix in ("", "_seed_std")),
)
_SUMMARY_QUANTITIES = (
    "resolution_eev",
    "resolution68_eev",
    "relative_resolution",
    "bias_eev",
    "relative_bias",
)
_TRAINING_COLUMNS = ("epochs_run", "training_time_s", "train_samples_per_s")


def _mean_of(values: Sequence[float | None]) -> float | None:
    return _mean_std(values)[0]


def resumed_seeds(info: Sequence[Mapping]) -> list[int]:
    """Seeds whose training was resumed from a checkpoint (``training.json`` records
    ``resumed_from_epoch``), sorted: equivalent to, not bit-identical with, an uninterrupted run."""
    return sorted(int(i["seed"]) for i in info if i.get("resumed_from_epoch") is not None)


def _training_columns(info: Sequence[Mapping]) -> dict:
    """Parameters, the mean over seeds of the training records and the resumed seeds; None
    without records."""
    if not info:
        return dict.fromkeys(("n_parameters", *_TRAINING_COLUMNS, "resumed_seeds"))
    row: dict = {"n_parameters": int(info[0]["n_parameters"]), "resumed_seeds": resumed_seeds(info)}
    for key in _TRAINING_COLUMNS:
        row[key] = _mean_of([i.get(key) for i in info])
    return row


def _convergence_columns(verdicts: Mapping[int, Convergence] | None) -> dict:
    """``converged_seeds`` ("converged/all", e.g. "1/2") and the sorted ``not_converged_seeds``;
    None without verdicts (the baseline)."""
    if not verdicts:
        return {"converged_seeds": None, "not_converged_seeds": None}
    failed = sorted(int(seed) for seed, v in verdicts.items() if not v.converged)
    return {
        "converged_seeds": f"{len(verdicts) - len(failed)}/{len(verdicts)}",
        "not_converged_seeds": failed,
    }


def _uncertainty_columns(uncertainty: Mapping | None) -> dict:
    """The :data:`UNCERTAINTY_COLUMNS` (mean over seeds) and their ``_seed_std``; None for a
    model without a per-event uncertainty."""
    row: dict = {}
    for column, (part, q) in UNCERTAINTY_COLUMNS.items():
        entry = uncertainty[part][q] if uncertainty else {"mean": None, "std": None}
        row[column], row[f"{column}_seed_std"] = entry["mean"], entry["std"]
    return row


def summary_rows(
    aggregated: Mapping[str, Mapping],
    training_info: Mapping[str, Sequence[Mapping]],
    inference_events_per_s: Mapping[str, Sequence[float]],
    models: Sequence[str],
    convergence: Mapping[str, Mapping[int, Convergence]] | None = None,
) -> list[dict]:
    """One row per model (in ``models`` order) with the columns of :data:`SUMMARY_COLUMNS`.

    Training columns (parameters, epochs, time, throughput) are averaged over the seeds'
    ``training.json`` records, ``resumed_seeds`` lists the seeds resumed from a checkpoint; a
    model without records (the classical baseline) gets None there. ``convergence`` maps model
    -> seed -> verdict (:func:`airshower.evaluation.judge_convergence`): ``converged_seeds``
    counts the converged seeds ("1/2"), ``not_converged_seeds`` lists the others; None for a
    model without verdicts. The :data:`UNCERTAINTY_COLUMNS` (coverage, pull width, resolution
    after the cut on the predicted uncertainty) are None for a model without ``energy_sigma``.
    """
    convergence = convergence or {}
    rows = []
    for model in models:
        if model not in aggregated:
            raise ValueError(f"model '{model}' has no metrics")
        agg = aggregated[model]["overall"]
        row: dict = {"model": model, "n_seeds": aggregated[model]["n_seeds"]}
        for q in _SUMMARY_QUANTITIES:
            row[q] = agg[q]["mean"]
            row[f"{q}_seed_std"] = agg[q]["std"]
            row[f"{q}_stat"] = agg[q]["stat"]
        row.update(_training_columns(list(training_info.get(model, []))))
        row["inference_events_per_s"] = _mean_of(list(inference_events_per_s.get(model, [])))
        row.update(_convergence_columns(convergence.get(model)))
        row.update(_uncertainty_columns(aggregated[model].get("uncertainty")))
        rows.append({c: row.get(c) for c in SUMMARY_COLUMNS})
    return rows

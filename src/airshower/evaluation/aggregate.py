"""The seeds of a model combined, one rule for every target: :func:`run_key` tells model and seed of
a run record, :func:`aggregate_seeds` combines the metrics records of one target of the seeds of
one model.

Every ``{"value", "lo", "hi"}`` entry of the seeds' records becomes
``{"mean", "std", "stat", "lo", "hi", "values"}``: the mean over seeds of the values, their
sample standard deviation (``ddof=1``; None for one seed), ``stat`` the mean of the bootstrap
half-widths ``(hi - lo) / 2`` and ``values`` the seeds' values. ``lo``/``hi`` is the combined
interval: a model with one seed keeps its bootstrap interval; with several,
``mean -+ sqrt(std^2 + stat^2)``, the seed-to-seed spread and the finite test sample in
quadrature (where a single training of the model lands). A binned entry
(``{"value": [...], ...}``) is combined bin by bin into lists. ROC curves are averaged over the
seeds at fixed false-positive rates (:data:`ROC_GRID`), confusion counts summed. Everything else
(bin edges, event counts, names) is the first seed's; the bin edges must agree.
A block of bins chosen on each seed's own values (``edges`` without a unit: the quantile bins
of a predicted width) is not comparable across seeds and is left out; the seeds' records keep it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from airshower import statistics

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


ROC_GRID = np.linspace(0.0, 1.0, 101)  # false-positive rates of a ROC curve averaged over seeds
_ENTRY_KEYS = {"value", "lo", "hi"}


def _is_entry(node) -> bool:
    return isinstance(node, Mapping) and set(node) == _ENTRY_KEYS


def combine_entries(entries: Sequence[Mapping | None]) -> dict:
    """``{"mean", "std", "stat", "lo", "hi", "values"}`` of one quantity over seeds (None
    entries and None values count as missing)."""
    entries = [e or {"value": None, "lo": None, "hi": None} for e in entries]
    have = [e for e in entries if e["value"] is not None]
    values = np.array([e["value"] for e in have], dtype=np.float64)
    halves = np.array(
        [0.5 * (e["hi"] - e["lo"]) for e in have if e["lo"] is not None and e["hi"] is not None],
        dtype=np.float64,
    )
    out = {
        "mean": None,
        "std": None,
        "stat": None,
        "lo": None,
        "hi": None,
        "values": [e["value"] for e in entries],
    }
    if not have:
        return out
    out["mean"] = float(values.mean())
    out["std"] = float(statistics.spread(values)) if values.size > 1 else None
    out["stat"] = float(halves.mean()) if halves.size else None
    if len(have) == 1:
        out["lo"], out["hi"] = have[0]["lo"], have[0]["hi"]
    else:
        half = float(np.hypot(out["std"], out["stat"] or 0.0))
        out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    return out


def combine_binned(entries: Sequence[Mapping]) -> dict:
    """A binned entry of every seed combined bin by bin: ``{key: [...]}`` for the keys of
    :func:`combine_entries` (``values``: per bin, the seeds' values)."""
    n_bins = len(entries[0]["value"])
    cells = [combine_entries([{k: e[k][i] for k in _ENTRY_KEYS} for e in entries]) for i in range(n_bins)]
    return {key: [cell[key] for cell in cells] for key in cells[0]}


def average_roc(curves: Sequence[Mapping]) -> dict:
    """One ROC curve, or the mean true-positive rate of several at the rates of :data:`ROC_GRID`."""
    if len(curves) == 1:
        return {"fpr": list(curves[0]["fpr"]), "tpr": list(curves[0]["tpr"])}
    tpr = np.mean([np.interp(ROC_GRID, c["fpr"], c["tpr"]) for c in curves], axis=0)
    return {"fpr": ROC_GRID.tolist(), "tpr": tpr.tolist()}


def sum_confusion(matrices: Sequence[Mapping]) -> dict:
    """Confusion counts summed over seeds, fractions of each true class from the sums."""
    counts = np.sum([np.asarray(m["counts"], dtype=np.int64) for m in matrices], axis=0)
    rows = counts.sum(axis=1)
    fractions = [[float(c / r) if r else None for c in row] for row, r in zip(counts, rows, strict=True)]
    return {"classes": list(matrices[0]["classes"]), "counts": counts.tolist(), "fractions": fractions}


def _check_edges(key: str, nodes: Sequence) -> None:
    for node in nodes[1:]:
        if len(node) != len(nodes[0]) or not np.allclose(node, nodes[0]):
            raise ValueError(f"the seeds have different bins '{key}': {nodes[0]} and {node}")


def _per_seed(node) -> bool:
    """A block of bins of a seed's own (``edges`` without a unit, such as the quantile bins of a
    predicted width), not comparable across seeds."""
    return isinstance(node, Mapping) and "edges" in node


def _combine(nodes: Sequence, key: str = ""):
    """The seeds' values of one node of the record tree, combined."""
    first = nodes[0]
    if _is_entry(first):
        return combine_binned(nodes) if isinstance(first["value"], list) else combine_entries(nodes)
    if isinstance(first, Mapping) and set(first) == {"fpr", "tpr"}:
        return average_roc(nodes)
    if isinstance(first, Mapping) and "counts" in first:
        return sum_confusion(nodes)
    if isinstance(first, Mapping):
        return {k: _combine([node.get(k) for node in nodes], k) for k in first if not _per_seed(first[k])}
    if key.startswith("edges_"):
        _check_edges(key, nodes)
    return first


def aggregate_seeds(records: Sequence[Mapping]) -> dict:
    """Combine the metrics records of one target of the seeds of one model (see the module).

    Returns the record's layout with every entry combined, plus ``"seeds"`` and ``"n_seeds"``;
    ``model`` and ``seed`` of the records are dropped (``model`` kept from the first).
    """
    if not records:
        raise ValueError("no metrics to aggregate")
    targets = {rec.get("target") for rec in records}
    if len(targets) != 1:
        raise ValueError(f"records of different targets: {sorted(map(str, targets))}")
    body = [{k: v for k, v in rec.items() if k not in ("seed", "model")} for rec in records]
    out = _combine(body)
    out.update({"seeds": [rec.get("seed") for rec in records], "n_seeds": len(records)})
    if "model" in records[0]:
        out["model"] = records[0]["model"]
    return out

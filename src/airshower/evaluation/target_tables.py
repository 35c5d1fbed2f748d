"""The summary tables of the reconstructed targets: the headline numbers of each target
(:data:`HEADLINES`) per model, from the seed aggregates of
:func:`airshower.evaluation.aggregate_target_seeds`, as rows, CSV and Markdown.

CSV: per headline column its mean over seeds, ``_seed_std`` (sample standard deviation over
seeds, empty for one seed) and ``_stat`` (mean bootstrap 68 % half-width). Markdown: mean ±
the seed spread, or ± the bootstrap half-width for a model with one seed (said in the note),
rounded to two significant digits of that uncertainty.
"""

from __future__ import annotations

import csv
import io as _io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from airshower.evaluation.tables import DASH, NOT_CONVERGED, _csv_cell, _pm
from airshower.schema import ENSEMBLE_SUFFIX

PAIR = "{pair}"  # stands for the record's headline pair of mass classes in a path


@dataclass(frozen=True)
class Headline:
    """One headline number of a target: the CSV column, where it is in the aggregated record
    (``PAIR`` replaced by the headline pair), its Markdown header (with the unit), a scale
    (100 for per cent) and whether the path leads to a binned entry (one column per energy bin)."""

    column: str
    path: tuple[str, ...]
    header: str
    scale: float = 1.0
    per_bin: bool = False


HEADLINES: dict[str, tuple[Headline, ...]] = {
    "direction": (
        Headline("psi68_deg", ("overall", "psi68_deg"), "ψ68 [deg]"),
        Headline("psi_mean_deg", ("overall", "psi_mean_deg"), "mean ψ [deg]"),
        Headline("psi68_deg", ("bins", "psi68_deg"), "ψ68 [deg]", per_bin=True),
    ),
    "core": (
        Headline("r68_m", ("overall", "r68_m"), "r68 [m]"),
        Headline("bias_x_m", ("overall", "bias_x_m"), "bias x [m]"),
        Headline("bias_y_m", ("overall", "bias_y_m"), "bias y [m]"),
    ),
    "xmax": (
        Headline("bias_gcm2", ("overall", "bias_gcm2"), "bias [g/cm²]"),
        Headline("resolution_gcm2", ("overall", "resolution_gcm2"), "resolution [g/cm²]"),
        Headline("resolved_fraction", ("overall", "resolved_fraction"), "resolved fraction [%]", 100.0),
    ),
    "mass": (
        Headline("auc", ("pairs", PAIR, "auc"), "AUC {names}"),
        Headline("merit", ("pairs", PAIR, "merit"), "merit factor, classifier"),
        Headline("merit_xmax_reco", ("pairs", PAIR, "merit_xmax_reco"), "merit factor, X_max reco"),
        Headline("merit_xmax_true", ("pairs", PAIR, "merit_xmax_true"), "merit factor, true X_max"),
        Headline("accuracy", ("overall", "accuracy"), "accuracy [%]", 100.0),
    ),
}
NOTES = {
    "direction": "ψ: opening angle between reconstructed and true shower axis; ψ68: the angle "
    "that contains 68 % of the events; per energy bin: bins of true energy.",
    "core": "r68: the distance |core_rec − core_true| that contains 68 % of the events; bias x, "
    "y: mean of the reconstructed minus the true core coordinate.",
    "xmax": "bias = mean(X_max,rec − X_max), resolution = std(X_max,rec − X_max) (ddof = 1); "
    "resolved fraction = 1 − resolution² / std(X_max)² in each bin of true energy, averaged "
    "over the bins weighted by their events.",
    "mass": "score s = p_heavy / (p_light + p_heavy) on the events of the two classes; AUC: "
    "probability that a heavy event scores above a light one (ties ½); merit factor = "
    "|⟨x⟩_light − ⟨x⟩_heavy| / √(var_light + var_heavy) of the score, of the reconstructed and "
    "of the true X_max; accuracy: argmax of the class probabilities is the true class.",
}
NOTE_TAIL = (
    " Values are means over the training seeds ± their standard deviation (ddof = 1); for a "
    "model with one seed (the classical baseline, the seed ensembles), and for a quantity the seeds "
    "share (the true X_max's merit factor), ± the half-width of the 68 % bootstrap interval. All on "
    f"the test set. {DASH}: the model does not provide it."
)


@dataclass(frozen=True)
class Column:
    """One column of a target's table: CSV name, Markdown header, the aggregate's entry path
    (and the energy bin for a per-bin column), scale."""

    name: str
    header: str
    path: tuple[str, ...]
    scale: float
    bin: int | None = None


def table_columns(target: str, reference: Mapping) -> list[Column]:
    """The columns of ``target``'s table, with the energy bins and mass pair of ``reference``
    (one model's aggregate)."""
    pair = reference.get("headline_pair")
    names = "–".join(reference["pairs"][pair]["names"]) if pair else ""
    columns = []
    for h in HEADLINES[target]:
        path = tuple(pair if p == PAIR else p for p in h.path)
        if not h.per_bin:
            columns.append(Column(h.column, h.header.format(names=names), path, h.scale))
            continue
        edges = reference["bins"]["edges_eev"]
        for k in range(len(edges) - 1):
            name, _, unit = h.header.partition(" [")
            header = f"{name}, {edges[k]:.3g}–{edges[k + 1]:.3g} EeV [{unit}"
            columns.append(Column(f"{h.column}_bin{k}", header, path, h.scale, k))
    return columns


def _entry(aggregate: Mapping, column: Column) -> Mapping:
    node = aggregate
    for key in column.path:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not node:
        return {"mean": None, "std": None, "stat": None}
    if column.bin is None:
        return node
    return {key: node[key][column.bin] for key in ("mean", "std", "stat")}


def target_rows(target: str, aggregated: Mapping[str, Mapping], models: Sequence[str]) -> list[dict]:
    """One row per model (in ``models`` order): ``model``, ``n_seeds`` and per column of
    :func:`table_columns` the mean, ``_seed_std`` and ``_stat``."""
    missing = [m for m in models if m not in aggregated]
    if missing:
        raise ValueError(f"no {target} metrics for model(s) {', '.join(missing)}")
    columns = table_columns(target, aggregated[models[0]]) if models else []
    rows = []
    for model in models:
        row: dict = {"model": model, "n_seeds": aggregated[model]["n_seeds"]}
        for col in columns:
            e = _entry(aggregated[model], col)
            row.update({col.name: e["mean"], f"{col.name}_seed_std": e["std"], f"{col.name}_stat": e["stat"]})
        rows.append(row)
    return rows


def target_csv(rows: Sequence[Mapping]) -> str:
    """The rows as CSV text (empty cells for missing values)."""
    buf = _io.StringIO()
    fields = list(rows[0]) if rows else ["model", "n_seeds"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buf.getvalue()


def unconverged_seeds(convergence: Mapping[str, Sequence[Mapping]], models: Sequence[str]) -> dict[str, list]:
    """The seeds whose training did not converge, per model of ``models``, from the verdicts of
    ``summary.json`` (``convergence``: network -> ``[{"seed", "converged", ...}]``, the one rule of
    :mod:`airshower.evaluation.convergence`); a seed ensemble inherits its network's."""
    out = {}
    for model in models:
        network = model.removesuffix(ENSEMBLE_SUFFIX)
        failed = [r["seed"] for r in convergence.get(network, []) if not r["converged"]]
        if failed:
            out[model] = failed
    return out


def target_markdown(
    target: str,
    rows: Sequence[Mapping],
    aggregated: Mapping[str, Mapping],
    unconverged: Mapping[str, Sequence[int]] | None = None,
) -> str:
    """The Markdown table of ``target`` with its note: value ± seed spread (± bootstrap
    half-width for one seed), one row per model; a model with an unconverged training seed
    (``unconverged``, :func:`unconverged_seeds`) is marked :data:`NOT_CONVERGED` and named in a
    footnote, as in the energy summary."""
    if not rows:
        return f"No model reconstructs the {target}.\n"
    unconverged = dict(unconverged or {})
    columns = table_columns(target, aggregated[rows[0]["model"]])
    header = ["model", "seeds", *(c.header for c in columns)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---:"] + ["---:"] * len(columns)) + "|",
    ]
    for r in rows:
        name = f"{r['model']} {NOT_CONVERGED}" if r["model"] in unconverged else str(r["model"])
        cells = [name, str(r["n_seeds"])]
        for c in columns:
            # the seed spread; where the seeds cannot differ (one seed, or a quantity of the test
            # set alone, such as the true Xmax's merit factor) the bootstrap half-width
            spread = r[f"{c.name}_seed_std"]
            err = spread if spread else r[f"{c.name}_stat"]
            cells.append(_pm(r[c.name], err, c.scale))
        lines.append("| " + " | ".join(cells) + " |")
    note = NOTES[target] + NOTE_TAIL
    marked = [f"{m} (seeds {', '.join(map(str, seeds))})" for m, seeds in unconverged.items()]
    if marked:
        note += (
            f"\n\n{NOT_CONVERGED} Not converged: {'; '.join(marked)}, by the rule in results/summary.md; "
            "a marked model's numbers may improve with more epochs."
        )
    return "\n".join(lines) + "\n\n" + note + "\n"

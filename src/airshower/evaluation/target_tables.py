"""The table of each reconstructed target: its headline numbers (the target's spec,
:data:`airshower.evaluation.SPECS`) per model, from the seed aggregates of
:func:`airshower.evaluation.aggregate_seeds`, as rows, CSV and Markdown.

CSV: per headline column its mean over seeds, ``_seed_std`` (sample standard deviation over
seeds, empty for one seed) and ``_stat`` (mean bootstrap 68 % half-width). Markdown: mean ±
the seed spread, or ± the bootstrap half-width for a model with one seed (said in the note),
rounded to two significant digits of that uncertainty; the headlines of a group (the energy's
per-event width) in a table of their own, with the models that have them.
"""

from __future__ import annotations

import csv
import io as _io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from airshower.evaluation import formatting as fmt
from airshower.evaluation.target_base import PAIR
from airshower.evaluation.targets import SPECS
from airshower.schema import ENSEMBLE_SUFFIX

NOT_CONVERGED = "‡"  # marks a model with a seed whose training did not converge
HEADLINES = {name: spec.headlines for name, spec in SPECS.items()}
NOTES = {name: spec.note for name, spec in SPECS.items()}
NOTE_TAIL = (
    " Values are means over the training seeds ± their standard deviation (ddof = 1); for a "
    "model with one seed (the classical baseline, the seed ensembles), and for a quantity the seeds "
    "share (the true X_max's merit factor), ± the half-width of the 68 % bootstrap interval. All on "
    f"the test set. {fmt.DASH}: the model does not provide it."
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
    group: str = ""


def table_columns(target: str, reference: Mapping) -> list[Column]:
    """The columns of ``target``'s table, with the energy bins and mass pair of ``reference``
    (one model's aggregate)."""
    pair = reference.get("headline_pair")
    names = "–".join(reference["pairs"][pair]["names"]) if pair else ""
    columns = []
    for h in HEADLINES[target]:
        path = tuple(pair if p == PAIR else p for p in h.path)
        if not h.per_bin:
            columns.append(Column(h.column, h.header.format(names=names), path, h.scale, group=h.group))
            continue
        edges = reference["bins"]["edges_eev"]
        for k in range(len(edges) - 1):
            name, _, unit = h.header.partition(" [")
            header = f"{name}, {edges[k]:.3g}–{edges[k + 1]:.3g} EeV [{unit}"
            columns.append(Column(f"{h.column}_bin{k}", header, path, h.scale, k, group=h.group))
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
        writer.writerow({k: fmt.csv_cell(v) for k, v in row.items()})
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
    main = [c for c in columns if not c.group]
    text = _markdown_table(rows, main, unconverged, ["model", "seeds"]) + "\n" + NOTES[target] + NOTE_TAIL
    marked = [f"{m} (seeds {', '.join(map(str, seeds))})" for m, seeds in unconverged.items()]
    if marked:
        text += (
            f"\n\n{NOT_CONVERGED} Not converged: {'; '.join(marked)}, by the rule in results/summary.md; "
            "a marked model's numbers may improve with more epochs."
        )
    text += "\n"
    for title, group_note in SPECS[target].groups.items():
        group = [c for c in columns if c.group == title]
        have = [r for r in rows if any(r[c.name] is not None for c in group)]
        if have:
            text += (
                f"\n**{title}**\n\n"
                + _markdown_table(have, group, unconverged, ["model"])
                + "\n"
                + group_note
                + "\n"
            )
    return text


def _markdown_table(
    rows: Sequence[Mapping], columns: Sequence[Column], unconverged: Mapping, first: Sequence[str]
) -> str:
    """The Markdown table of ``columns``: the model (marked where unconverged), its seeds where
    ``first`` asks for them, each value ± its seed spread (± the bootstrap half-width where the
    seeds cannot differ: one seed, or a quantity of the test set alone, such as the true Xmax's
    merit factor)."""
    lines = []
    for r in rows:
        name = f"{r['model']} {NOT_CONVERGED}" if r["model"] in unconverged else str(r["model"])
        cells = [name, str(r["n_seeds"])][: len(first)]
        for c in columns:
            spread = r[f"{c.name}_seed_std"]
            cells.append(fmt.plus_minus(r[c.name], spread if spread else r[f"{c.name}_stat"], c.scale))
        lines.append(cells)
    return fmt.markdown_table([*first, *(c.header for c in columns)], lines)

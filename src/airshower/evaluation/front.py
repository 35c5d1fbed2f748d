"""The study's front page (``results/summary.{csv,md,json}``): one row per compared model with the
headline number of each target it reconstructs (the target's spec names it,
:attr:`~airshower.evaluation.target_base.TargetEvaluation.front`; taken from the target's table,
:mod:`.target_tables`) and the training columns: parameters, seeds, epochs, time, training and
inference throughput, resumed and converged seeds. The Markdown links the targets' tables.
"""

from __future__ import annotations

import csv
import io as _io
from collections.abc import Mapping, Sequence

import numpy as np

from airshower.evaluation import formatting as fmt
from airshower.evaluation.convergence import RULE
from airshower.evaluation.target_tables import NOT_CONVERGED, Column, table_columns
from airshower.evaluation.targets import SPECS

RESUMED = "†"  # marks a model with a seed resumed from a checkpoint
TRAINING_COLUMNS = ("epochs_run", "training_time_s", "train_samples_per_s")
RUN_COLUMNS = ("inference_events_per_s", "resumed_seeds", "converged_seeds", "not_converged_seeds")
MARKDOWN_NOTE = (
    "\nEach target's headline number: the mean over the training seeds ± their standard deviation "
    "(ddof = 1), or ± the half-width of the 68 % bootstrap interval for a model with one seed, on "
    f"the test set; every number and its definition in the target's table. {fmt.DASH}: does not "
    "apply (no training, or the model does not reconstruct the target).\n"
)


def headline_columns(targets: Sequence[str]) -> list[str]:
    """The CSV columns of the targets' headline numbers: ``{target}_{column}`` and its
    ``_seed_std`` and ``_stat``."""
    return [f"{t}_{SPECS[t].front}{suffix}" for t in targets for suffix in ("", "_seed_std", "_stat")]


def front_columns(targets: Sequence[str]) -> list[str]:
    """Every CSV column of the front page, in order."""
    return ["model", "n_parameters", "n_seeds", *headline_columns(targets), *TRAINING_COLUMNS, *RUN_COLUMNS]


def _mean_of(values: Sequence[float | None]) -> float | None:
    """The mean of the values that are not None; None without any."""
    have = np.array([v for v in values if v is not None], dtype=np.float64)
    return float(have.mean()) if have.size else None


def resumed_seeds(info: Sequence[Mapping]) -> list[int]:
    """Seeds whose training was resumed from a checkpoint (``training.json`` records
    ``resumed_from_epoch``), sorted: equivalent to, not bit-identical with, an uninterrupted run."""
    return sorted(int(i["seed"]) for i in info if i.get("resumed_from_epoch") is not None)


def _training_columns(info: Sequence[Mapping]) -> dict:
    """Parameters, the mean over seeds of the training records and the resumed seeds; None
    without records (the baseline, the seed ensembles)."""
    if not info:
        return dict.fromkeys(("n_parameters", *TRAINING_COLUMNS, "resumed_seeds"))
    row: dict = {"n_parameters": int(info[0]["n_parameters"]), "resumed_seeds": resumed_seeds(info)}
    for key in TRAINING_COLUMNS:
        row[key] = _mean_of([i.get(key) for i in info])
    return row


def _convergence_columns(verdicts: Sequence[Mapping] | None) -> dict:
    """``converged_seeds`` ("converged/all", e.g. "1/2") and the sorted ``not_converged_seeds``
    from the verdict records (``results/convergence.json``); None without verdicts."""
    if not verdicts:
        return {"converged_seeds": None, "not_converged_seeds": None}
    failed = sorted(int(v["seed"]) for v in verdicts if not v["converged"])
    return {
        "converged_seeds": f"{len(verdicts) - len(failed)}/{len(verdicts)}",
        "not_converged_seeds": failed,
    }


def _headlines(model: str, tables: Mapping[str, Mapping]) -> dict:
    """``n_seeds`` and the headline columns of ``model`` from the targets' tables (None where the
    model does not reconstruct the target)."""
    row: dict = {"n_seeds": None}
    for target, table in tables.items():
        found = {r["model"]: r for r in table["table"]}.get(model, {})
        front = SPECS[target].front
        for suffix in ("", "_seed_std", "_stat"):
            row[f"{target}_{front}{suffix}"] = found.get(f"{front}{suffix}")
        row["n_seeds"] = row["n_seeds"] or found.get("n_seeds")
    return row


def front_rows(
    tables: Mapping[str, Mapping],
    training_info: Mapping[str, Sequence[Mapping]],
    inference_events_per_s: Mapping[str, Sequence[float]],
    models: Sequence[str],
    convergence: Mapping[str, Sequence[Mapping]] | None = None,
) -> list[dict]:
    """One row per model (in ``models`` order) with the columns of :func:`front_columns`.

    ``tables`` maps each target to its table (``results/targets/{target}/summary.json``: its
    ``table`` rows); ``training_info`` the networks' ``training.json`` records per model, averaged
    over seeds; ``convergence`` the verdict records of every network (``results/convergence.json``).
    """
    convergence = convergence or {}
    columns = front_columns(list(tables))
    rows = []
    for model in models:
        row: dict = {"model": model, **_headlines(model, tables)}
        row.update(_training_columns(list(training_info.get(model, []))))
        row["inference_events_per_s"] = _mean_of(list(inference_events_per_s.get(model, [])))
        row.update(_convergence_columns(convergence.get(model)))
        rows.append({c: row.get(c) for c in columns})
    return rows


def front_csv(rows: Sequence[Mapping], targets: Sequence[str]) -> str:
    """The rows as CSV text (empty cells for missing values; lists of seeds space-separated)."""
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=front_columns(targets), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: fmt.csv_cell(v) for k, v in row.items()})
    return buf.getvalue()


def front_headers(tables: Mapping[str, Mapping]) -> dict[str, Column]:
    """Per target the column of its headline number in its table (header with the unit, scale)."""
    out = {}
    for target, table in tables.items():
        order = [m for m in table.get("model_order", []) if m in table.get("models", {})]
        if order:
            columns = table_columns(target, table["models"][order[0]])
            out[target] = next(c for c in columns if c.name == SPECS[target].front and c.bin is None)
    return out


def _model_cell(r: Mapping) -> str:
    """The model's name with its marks: :data:`RESUMED`, :data:`NOT_CONVERGED`."""
    marks = [RESUMED] if r.get("resumed_seeds") else []
    marks += [NOT_CONVERGED] if r.get("not_converged_seeds") else []
    return " ".join([str(r["model"]), *marks])


def _markdown_cells(r: Mapping, headers: Mapping[str, Column]) -> list[str]:
    cells = [_model_cell(r), fmt.count(r["n_parameters"]), fmt.count(r["n_seeds"], "d")]
    for target, column in headers.items():
        key = f"{target}_{SPECS[target].front}"
        spread = r[f"{key}_seed_std"]
        cells.append(fmt.plus_minus(r[key], spread if spread else r[f"{key}_stat"], column.scale))
    return [
        *cells,
        fmt.epochs(r["epochs_run"]),
        fmt.count(r["training_time_s"]),
        fmt.count(r["train_samples_per_s"]),
        fmt.count(r["inference_events_per_s"]),
        r.get("converged_seeds") or fmt.DASH,
    ]


def front_markdown(
    rows: Sequence[Mapping],
    tables: Mapping[str, Mapping],
    reasons: Mapping[str, Mapping[int, str]] | None = None,
) -> str:
    """The front page in Markdown: the table, the links to the targets' tables, the conventions
    and the footnotes of the models marked :data:`RESUMED` or :data:`NOT_CONVERGED` (``reasons``:
    model -> seed -> why it did not converge, the verdict's ``detail``)."""
    headers = front_headers(tables)
    header = [
        "model",
        "parameters",
        "seeds",
        *(f"{target} {column.header}" for target, column in headers.items()),
        "epochs",
        "training time [s]",
        "train samples/s",
        "inference events/s",
        "converged",
    ]
    table = fmt.markdown_table(header, [_markdown_cells(r, headers) for r in rows])
    links = ", ".join(f"[{t}](targets/{t}/summary.md)" for t in tables)
    return (
        "# Summary\n\n"
        + table
        + f"\nEvery target's table: {links}.\n"
        + MARKDOWN_NOTE
        + _resumed_note(rows)
        + _convergence_note(rows, reasons)
    )


def _resumed_note(rows: Sequence[Mapping]) -> str:
    """The footnote of the models marked :data:`RESUMED` (empty when no training was resumed)."""
    resumed = [
        f"{r['model']} seed{'s' if len(r['resumed_seeds']) > 1 else ''} "
        + ", ".join(str(s) for s in r["resumed_seeds"])
        for r in rows
        if r.get("resumed_seeds")
    ]
    if not resumed:
        return ""
    return (
        f"\n{RESUMED} Training resumed from a checkpoint after an interruption: {'; '.join(resumed)}. "
        "A resumed training is equivalent to, not bit-identical with, an uninterrupted one (dropout "
        "masks and shuffling differ after the restart); the training figure marks the epoch.\n"
    )


def _not_converged(row: Mapping, reasons: Mapping[int, str]) -> str:
    """``"cnn_pyramid seed 1: only 5 epochs: ..."`` for each seed of a row that did not converge."""
    return "; ".join(
        f"{row['model']} seed {seed}" + (f": {reasons[seed]}" if seed in reasons else "")
        for seed in row["not_converged_seeds"]
    )


def _convergence_note(rows: Sequence[Mapping], reasons: Mapping[str, Mapping[int, str]] | None) -> str:
    """The rule behind the ``converged`` column and the footnote of the models marked
    :data:`NOT_CONVERGED` (empty when no row has convergence verdicts)."""
    if not any(r.get("converged_seeds") for r in rows):
        return ""
    note = f"\nconverged: seeds whose training converged, by this rule: {RULE}.\n"
    failed = [
        _not_converged(r, (reasons or {}).get(r["model"], {})) for r in rows if r.get("not_converged_seeds")
    ]
    if failed:
        note += (
            f"\n{NOT_CONVERGED} Not converged: {'; '.join(failed)}. A marked model's training had not "
            "settled; its numbers may improve with more epochs.\n"
        )
    return note

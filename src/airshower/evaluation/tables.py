"""The summary table as text: CSV (every digit a reader needs) and Markdown (values ± spread
over seeds, rounded to the spread's two significant digits, with the conventions in a note)."""

from __future__ import annotations

import csv
import io as _io
import math
from collections.abc import Mapping, Sequence

from airshower.evaluation.aggregate import SUMMARY_COLUMNS
from airshower.evaluation.convergence import RULE

DASH = "–"  # shown where a quantity does not apply (the baseline has no training)

MARKDOWN_HEADER = (
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
    "converged",
)
MARKDOWN_NOTE = (
    "\nValues are means over the training seeds ± their standard deviation (one value where a "
    "model has one seed); resolution = std(E_rec − E_true), robust resolution = half-width of the "
    "central 68.27 % of E_rec − E_true, σ_E/E = std((E_rec − E_true)/E_true), bias = mean(E_rec − "
    "E_true), all on the test set. Every standard deviation is the sample standard deviation "
    f"(ddof = 1). {DASH}: does not apply (no training).\n"
)


RESUMED = "†"  # marks a model with a seed resumed from a checkpoint
NOT_CONVERGED = "‡"  # marks a model with a seed whose training did not converge


def _csv_cell(value) -> str:
    """Empty for None, 6 significant digits for a float, a list (of seeds) space-separated."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return value


def summary_csv(rows: Sequence[Mapping]) -> str:
    """The rows as CSV text (empty cells for missing values; lists of seeds space-separated)."""
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buf.getvalue()


def _sig(x: float, err: float | None) -> int:
    """Decimals that show ``err`` with two significant digits (at least one, at most six)."""
    scale = abs(err) if err else abs(x)
    if not scale:
        return 2
    return int(min(6, max(1, 1 - math.floor(math.log10(scale)))))


def _pm(value: float | None, spread: float | None, scale: float = 1.0) -> str:
    """``value ± spread`` (times ``scale``) rounded to the spread; the value alone without one."""
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


def _epochs(value: float | None) -> str:
    """Epochs run: an integer, or one decimal for a mean over seeds."""
    return _count(value, ".0f" if value is None or float(value).is_integer() else ".1f")


def _model_cell(r: Mapping) -> str:
    """The model's name with its marks: :data:`RESUMED`, :data:`NOT_CONVERGED`."""
    marks = [RESUMED] if r.get("resumed_seeds") else []
    marks += [NOT_CONVERGED] if r.get("not_converged_seeds") else []
    return " ".join([str(r["model"]), *marks])


def _markdown_cells(r: Mapping) -> list[str]:
    return [
        _model_cell(r),
        _count(r["n_parameters"]),
        str(r["n_seeds"]),
        _pm(r["resolution_eev"], r["resolution_eev_seed_std"]),
        _pm(r["resolution68_eev"], r["resolution68_eev_seed_std"]),
        _pm(r["relative_resolution"], r["relative_resolution_seed_std"], 100.0),
        _pm(r["bias_eev"], r["bias_eev_seed_std"]),
        _epochs(r["epochs_run"]),
        _count(r["training_time_s"], ",.0f"),
        _count(r["train_samples_per_s"], ",.0f"),
        _count(r["inference_events_per_s"], ",.0f"),
        r.get("converged_seeds") or DASH,
    ]


def summary_markdown(rows: Sequence[Mapping], reasons: Mapping[str, Mapping[int, str]] | None = None) -> str:
    """The summary as a Markdown table: values are means over seeds ± standard deviation over
    seeds (a single value where there is one seed), with the definitions in a note below.

    ``reasons`` (model -> seed -> why it did not converge, e.g. the verdict's ``detail``) words
    the footnote of the models marked :data:`NOT_CONVERGED`; the seeds alone without it. The
    models with a per-event uncertainty get a second table below (:func:`uncertainty_markdown`)."""
    header = MARKDOWN_HEADER
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(_markdown_cells(r)) + " |" for r in rows]
    main = "\n".join(lines) + "\n" + MARKDOWN_NOTE + _resumed_note(rows) + _convergence_note(rows, reasons)
    return main + uncertainty_markdown(rows)


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


# --- the second table: per-event uncertainties -----------------------------------------------

UNCERTAINTY_HEADER = (
    "model",
    "coverage 68 % [%]",
    "coverage 95 % [%]",
    "pull width",
    "resolution [EeV]",
    "resolution, 90 % kept [EeV]",
    "σ_E/E [%]",
    "σ_E/E, 90 % kept [%]",
)
UNCERTAINTY_NOTE = (
    "\nFor the models that predict a per-event uncertainty σ (EeV): coverage 68 % (95 %) = "
    "fraction of the test events whose true energy lies within E_rec ± σ (± 1.96 σ), 68.27 % "
    "(95.00 %) for a calibrated Gaussian σ; pull width = std((E_rec − E_true) / σ), 1 when "
    "calibrated; 90 % kept = the 90 % of the events with the smallest predicted σ / E_rec, next to "
    "all events. Means over the seeds ± their standard deviation, as above.\n"
)


def _uncertainty_cells(r: Mapping) -> list[str]:
    def pm(key: str, scale: float = 1.0) -> str:
        return _pm(r[key], r[f"{key}_seed_std"], scale)

    return [
        str(r["model"]),
        pm("coverage68", 100.0),
        pm("coverage95", 100.0),
        pm("pull_width"),
        pm("resolution_eev"),
        pm("resolution_cut90_eev"),
        pm("relative_resolution", 100.0),
        pm("relative_resolution_cut90", 100.0),
    ]


def uncertainty_markdown(rows: Sequence[Mapping]) -> str:
    """The Markdown table of the models with a per-event uncertainty (a ``coverage68``): coverage,
    pull width, and resolution of all events next to that of the 90 % with the smallest predicted
    relative uncertainty, with its note; empty when no model has one."""
    rows = [r for r in rows if r.get("coverage68") is not None]
    if not rows:
        return ""
    header = UNCERTAINTY_HEADER
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(_uncertainty_cells(r)) + " |" for r in rows]
    return "\n**Per-event uncertainties**\n\n" + "\n".join(lines) + "\n" + UNCERTAINTY_NOTE

"""Evaluation of the energy reconstructions: metrics of one run (:mod:`.metrics`), metrics of a
per-event uncertainty where a model predicts one (:mod:`.uncertainty`: pulls, coverage,
calibration, the cut on the predicted uncertainty), whether its training converged
(:mod:`.convergence`), seeds combined into the summary rows (:mod:`.aggregate`) and the summary
table as CSV and Markdown (:mod:`.tables`). The other reconstructed targets: direction, core,
Xmax and mass metrics (:mod:`.targets`, the registry :data:`TARGET_METRICS`), combined over seeds
(:mod:`.target_aggregate`) into their tables (:mod:`.target_tables`). The systematic test
variants: the shift of every target's headline metrics against the nominal test set
(:mod:`.systematics`) and its table (:mod:`.systematics_tables`). Every statistic comes from
:mod:`airshower.statistics`."""

from airshower.evaluation.aggregate import (
    SUMMARY_COLUMNS,
    UNCERTAINTY_COLUMNS,
    aggregate_seeds,
    aggregate_uncertainty,
    run_key,
    summary_rows,
)
from airshower.evaluation.convergence import Convergence, convergence_of_run, judge_convergence
from airshower.evaluation.metrics import (
    QUANTITIES,
    EnergyBins,
    EvaluationSettings,
    bootstrap_intervals,
    compute_metrics,
    point_estimates,
    summarize,
)
from airshower.evaluation.tables import DASH, summary_csv, summary_markdown, uncertainty_markdown
from airshower.evaluation.target_aggregate import aggregate_target_seeds, combine_entries
from airshower.evaluation.target_tables import (
    HEADLINES,
    target_csv,
    target_markdown,
    target_rows,
    unconverged_seeds,
)
from airshower.evaluation.targets import (
    PREDICTED,
    TARGET_METRICS,
    TARGET_STREAMS,
    check_target_settings,
    compute_target_metrics,
)
from airshower.evaluation.uncertainty import (
    NOMINAL,
    UNCERTAINTY_QUANTITIES,
    calibration_curve,
    coverage,
    cut_metrics,
    pulls,
    uncertainty_metrics,
)

__all__ = [
    "target_rows",
    "target_markdown",
    "unconverged_seeds",
    "target_csv",
    "compute_target_metrics",
    "combine_entries",
    "check_target_settings",
    "aggregate_target_seeds",
    "TARGET_STREAMS",
    "TARGET_METRICS",
    "PREDICTED",
    "HEADLINES",
    "Convergence",
    "DASH",
    "EnergyBins",
    "EvaluationSettings",
    "NOMINAL",
    "QUANTITIES",
    "SUMMARY_COLUMNS",
    "UNCERTAINTY_COLUMNS",
    "UNCERTAINTY_QUANTITIES",
    "aggregate_seeds",
    "aggregate_uncertainty",
    "bootstrap_intervals",
    "calibration_curve",
    "compute_metrics",
    "convergence_of_run",
    "coverage",
    "cut_metrics",
    "judge_convergence",
    "point_estimates",
    "pulls",
    "run_key",
    "summarize",
    "summary_csv",
    "summary_markdown",
    "summary_rows",
    "uncertainty_markdown",
    "uncertainty_metrics",
]

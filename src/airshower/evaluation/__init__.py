"""Evaluation of the energy reconstructions: metrics of one run (:mod:`.metrics`), whether its
training converged (:mod:`.convergence`), seeds combined into the summary rows
(:mod:`.aggregate`) and the summary table as CSV and Markdown (:mod:`.tables`). Every statistic
comes from :mod:`airshower.statistics`."""

from airshower.evaluation.aggregate import SUMMARY_COLUMNS, aggregate_seeds, run_key, summary_rows
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
from airshower.evaluation.tables import DASH, summary_csv, summary_markdown

__all__ = [
    "Convergence",
    "DASH",
    "EnergyBins",
    "EvaluationSettings",
    "QUANTITIES",
    "SUMMARY_COLUMNS",
    "aggregate_seeds",
    "bootstrap_intervals",
    "compute_metrics",
    "convergence_of_run",
    "judge_convergence",
    "point_estimates",
    "run_key",
    "summarize",
    "summary_csv",
    "summary_markdown",
    "summary_rows",
]

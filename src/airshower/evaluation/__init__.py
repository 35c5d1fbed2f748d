"""Evaluation of the reconstructed targets. Each target's module declares its spec
(:class:`~airshower.evaluation.target_base.TargetEvaluation`: metrics, headline numbers, table
note, systematic shifts), registered in :data:`SPECS` (:mod:`.targets`): the energy
(:mod:`.energy`: bias and resolution, :mod:`.resolution`, and the metrics of a per-event width,
:mod:`.uncertainty`), direction, core, Xmax and mass. The metrics of one run are combined over
the seeds of a model by one rule (:mod:`.aggregate`) into each target's table
(:mod:`.target_tables`) and the study's front page (:mod:`.front`: every target's headline number
with the training columns and whether each training converged, :mod:`.convergence`); table cells
in :mod:`.formatting`. The systematic test variants: the shift of every target's headline metrics
against the nominal test set (:mod:`.systematics`) and its table (:mod:`.systematics_tables`).
Every statistic comes from :mod:`airshower.statistics`."""

from airshower.evaluation.aggregate import aggregate_seeds, combine_entries, run_key
from airshower.evaluation.convergence import Convergence, convergence_of_run, judge_convergence
from airshower.evaluation.formatting import DASH
from airshower.evaluation.front import front_columns, front_csv, front_markdown, front_rows
from airshower.evaluation.resolution import (
    QUANTITIES,
    bootstrap_intervals,
    compute_metrics,
    point_estimates,
    summarize,
)
from airshower.evaluation.settings import EnergyBins, EvaluationSettings
from airshower.evaluation.target_tables import (
    HEADLINES,
    target_csv,
    target_markdown,
    target_rows,
    unconverged_seeds,
)
from airshower.evaluation.targets import (
    SPECS,
    TARGET_METRICS,
    TARGET_STREAMS,
    bootstrap_streams,
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
    "DASH",
    "HEADLINES",
    "NOMINAL",
    "QUANTITIES",
    "SPECS",
    "TARGET_METRICS",
    "TARGET_STREAMS",
    "UNCERTAINTY_QUANTITIES",
    "Convergence",
    "EnergyBins",
    "EvaluationSettings",
    "aggregate_seeds",
    "bootstrap_intervals",
    "bootstrap_streams",
    "calibration_curve",
    "check_target_settings",
    "combine_entries",
    "compute_metrics",
    "compute_target_metrics",
    "convergence_of_run",
    "coverage",
    "cut_metrics",
    "front_columns",
    "front_csv",
    "front_markdown",
    "front_rows",
    "judge_convergence",
    "point_estimates",
    "pulls",
    "run_key",
    "summarize",
    "target_csv",
    "target_markdown",
    "target_rows",
    "unconverged_seeds",
    "uncertainty_metrics",
]

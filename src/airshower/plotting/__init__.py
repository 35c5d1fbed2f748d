"""Figures of the study. Every figure function takes data and returns a matplotlib ``Figure``
(no pyplot state, Agg canvas); the entry script writes it with :func:`save`.

Modules: :mod:`.style` (rc settings, model colours and markers, labels with units, log axes,
saving), :mod:`.data` (footprints and input distributions), :mod:`.training` (training
curves), :mod:`.performance` (one model: residuals, energy scatter, bias and resolution vs
energy), :mod:`.uncertainty` (one model's predicted per-event uncertainty: calibration and
pulls), :mod:`.comparison` (the energy of all models on one plot) and :mod:`.targets` (all
models on one plot, per reconstructed target, the energy's from :mod:`.comparison`:
:data:`TARGET_FIGURES`; the mass's from :mod:`.mass`) and :mod:`.systematics` (the shift of
every target's headline metrics per systematic variant and model).
"""

from airshower.plotting.comparison import bias_vs_energy, relative_resolution_vs_energy, resolution_overall
from airshower.plotting.data import (
    IMAGE_COPIES,
    choose_footprints,
    footprints,
    input_distributions,
    n_triggered,
    n_triggered_of,
)
from airshower.plotting.performance import bias_resolution_vs_energy, energy_scatter, residuals
from airshower.plotting.style import (
    LABEL,
    PALETTE,
    RC,
    PlotSettings,
    model_color,
    model_styles,
    save,
    seed_colors,
    styled,
)
from airshower.plotting.systematics import robustness_figure, shift_figure, systematics_figures
from airshower.plotting.targets import (
    FIGURE_FUNCTIONS,
    TARGET_FIGURES,
    WIDTH_FIGURE,
    target_figure,
    target_figures,
)
from airshower.plotting.training import training_curves
from airshower.plotting.uncertainty import uncertainty_calibration

__all__ = [
    "IMAGE_COPIES",
    "FIGURE_FUNCTIONS",
    "TARGET_FIGURES",
    "WIDTH_FIGURE",
    "target_figure",
    "target_figures",
    "LABEL",
    "PALETTE",
    "RC",
    "PlotSettings",
    "bias_resolution_vs_energy",
    "bias_vs_energy",
    "choose_footprints",
    "energy_scatter",
    "footprints",
    "input_distributions",
    "model_color",
    "model_styles",
    "n_triggered",
    "n_triggered_of",
    "relative_resolution_vs_energy",
    "residuals",
    "resolution_overall",
    "save",
    "shift_figure",
    "systematics_figures",
    "robustness_figure",
    "seed_colors",
    "styled",
    "training_curves",
    "uncertainty_calibration",
]

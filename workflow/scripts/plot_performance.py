"""Residuals, E_rec vs E_true, bias and resolution vs energy of one model (rule plot_performance)."""

import numpy as np

from airshower import evaluation, io, logs, plotting

log = logs.setup(snakemake.log[0])
model = snakemake.params.model
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
color = plotting.model_color(model, snakemake.params.models)
settings = evaluation.EvaluationSettings.from_config(snakemake.params.evaluation)
records = [io.read_json(path) for path in snakemake.input.metrics]
runs = {}
for rec, path in zip(records, snakemake.input.predictions, strict=True):
    pred = io.read_h5(path, ["energy_true", "energy_pred"], finite=["energy_true", "energy_pred"])
    runs[int(rec.get("seed", len(runs)))] = (pred["energy_true"], pred["energy_pred"])
fig = plotting.residuals(runs, model, color)
plotting.save(fig, snakemake.output.residuals, plots)
e_true, e_pred = (np.concatenate([r[k] for r in runs.values()]) for k in (0, 1))
bins = settings.energy_bins_eev
fig = plotting.energy_scatter(e_true, e_pred, model, (bins.min, bins.max), len(runs), color)
plotting.save(fig, snakemake.output.scatter, plots)
fig = plotting.bias_resolution_vs_energy(records, model, color)
plotting.save(fig, snakemake.output.vs_energy, plots)

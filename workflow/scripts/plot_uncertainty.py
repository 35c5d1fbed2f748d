"""Calibration of the predicted per-event uncertainty of one model: predicted vs observed spread,
coverage per energy bin (calibrated and raw widths), pulls (rule plot_uncertainty)."""

from airshower import evaluation, io, logs, plotting, predictionfile

log = logs.setup(snakemake.log[0])
model = snakemake.params.model
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
records, pulls = [], {}
for metrics_path, predictions_path in zip(snakemake.input.metrics, snakemake.input.predictions, strict=True):
    # uncertainty_models() lists the model as predicting a per-event uncertainty
    rec = io.read_record(metrics_path, ["uncertainty"], "the metrics of a per-event uncertainty")
    width = rec["uncertainty"].get("width", "energy_sigma")  # the width the metrics evaluated
    pred = predictionfile.read_predictions(predictions_path, require=[width])
    records.append(rec)
    pulls[int(rec["seed"])] = evaluation.pulls(pred["energy_true"], pred["energy_pred"], pred[width])
color = plotting.model_color(model, snakemake.params.models)
fig = plotting.uncertainty_calibration(records, pulls, model, color)
plotting.save(fig, snakemake.output.calibration, plots)
log.info("%s: uncertainty calibration of %d seed(s) drawn", model, len(records))

"""The seed ensemble of one network: its seeds' test predictions combined into the model
``{model}_ensemble`` (rule ensemble; the combination rule in :mod:`airshower.ensemble`)."""

import numpy as np

from airshower import ensemble, io, logs, predictionfile, widths

log = logs.setup(snakemake.log[0])
model, seeds = snakemake.params.model, list(snakemake.params.seeds)
paths = [str(p) for p in snakemake.input.members]
members = [predictionfile.read_predictions(path) | io.read_h5(path, ["index"]) for path in paths]
predictions = ensemble.combine(members, paths)
if snakemake.input.widths:  # the ensemble's own calibration, fitted on its validation predictions
    predictions |= widths.apply_file(predictions, snakemake.input.widths[0])
attrs = ensemble.attributes(model, seeds, paths, [io.read_attrs(path) for path in paths])
predictionfile.write_predictions(snakemake.output.predictions, predictions, attrs)
log.info(
    "%s: mean of %d seeds %s over %d test events",
    attrs["model"],
    len(paths),
    seeds,
    len(predictions["index"]),
)
if ensemble.SIGMA in predictions:
    width = np.median(predictions[ensemble.SIGMA] / predictions["energy_pred"])
    log.info("members with energy_sigma: median sigma_E/E of the ensemble %.4f", width)
else:
    log.info("members without energy_sigma: the ensemble has no per-event width")

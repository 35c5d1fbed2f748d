"""Reconstruct a test set with a trained network (rule predict): every target of the model
(:mod:`airshower.targets`) into ``predictions.h5``.

A network with a ``gaussian`` output also writes ``energy_sigma``, its 1-sigma width per event in
EeV (:func:`airshower.training.energy_eev`: first-order propagation through the inverse target
transform, ``sigma std`` for linear, ``E ln(10) sigma std`` for log10), and on every test set but
the validation split ``energy_sigma_calibrated``, that width times the factor fitted on the
validation split (``widths.json``, :mod:`airshower.widths`).

Stops, writing nothing, when the Snakemake process that started it is gone
(:func:`airshower.jobs.guard`): an orphan would otherwise overwrite a rerun's predictions.
"""

from airshower import io, jobs, logs, normalization, predictionfile, training, widths
from airshower.training import stream

log = logs.setup(snakemake.log[0])
p = snakemake.params
with jobs.guard(f"prediction {p.model} seed {p.seed}", watch_s=5) as job:
    norm = normalization.read_normalization(snakemake.input.normalization)
    labels = predictionfile.prediction_labels(snakemake.input.test)
    channels = normalization.channel_indices(norm, p.inputs)
    if stream.inputs_mb(snakemake.input.test, len(channels)) > p.memory_budget_mb:
        log.info("test inputs above preparation.memory_budget_mb: read from disk batch by batch")
        test = io.read_h5(snakemake.input.test, labels)
        x = stream.SplitInputs(snakemake.input.test, channels)
    else:
        test = io.read_h5(snakemake.input.test, ["x", *labels], finite=["x"])
        x = normalization.select_channels(test.pop("x"), norm, p.inputs)
    training.configure_runtime(snakemake.threads, snakemake.resources.get("gpu", 0))
    model = training.load_model(snakemake.input.model)
    y, rate = training.predict(model, x, p.batch_size)
    reconstructed = training.reconstruct(y, norm, p.targets, p.target_transform)
    predictions = predictionfile.prediction_datasets(test, reconstructed)
    if snakemake.input.widths:  # the widths' calibration, fitted on the validation split
        predictions |= widths.apply_file(predictions, snakemake.input.widths[0])
    log.info(
        "%s seed %d: %s of %d test events at %.0f events/s",
        p.model,
        p.seed,
        ", ".join(p.targets),
        len(x),
        rate,
    )
    attrs = {**io.provenance(seed=p.seed), "model": p.model, "seed": p.seed, "inference_events_per_s": rate}
    job.check("before writing its predictions")
    predictionfile.write_predictions(snakemake.output.predictions, predictions, attrs)

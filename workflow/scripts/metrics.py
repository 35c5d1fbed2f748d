"""Metrics of one reconstructed target of one model and seed on the test set, with bootstrap
intervals (rule metrics; the target's metrics in :data:`airshower.evaluation.SPECS`: the energy's
with those of its per-event width where the predictions have one)."""

import numpy as np

from airshower import evaluation, io, logs, predictionfile

log = logs.setup(snakemake.log[0])
w, p = snakemake.wildcards, snakemake.params
model, seed, target = w.model, int(w.seed), w.target
settings = evaluation.EvaluationSettings.from_config(p.evaluation)
pred = predictionfile.read_predictions(snakemake.input.predictions)
extra = {}
if hasattr(snakemake.input, "reference"):  # the classical fit's predictions of the same test events
    paths = (snakemake.input.predictions, snakemake.input.reference)
    if not np.array_equal(*(io.read_h5(path, ["index"])["index"] for path in paths)):
        raise io.DataError(f"{paths[1]}: not the test events of {paths[0]} (dataset 'index' differs)")
    extra["reference"] = predictionfile.read_predictions(snakemake.input.reference)
try:
    computed = evaluation.compute_target_metrics(
        target,
        pred,
        settings,
        dict(p.target_settings or {}),
        evaluation.bootstrap_streams(p.study_seed, model, seed),
        classes=list(p.classes),
        **extra,
    )
except ValueError as exc:
    raise io.DataError(f"{snakemake.input.predictions}: {exc}") from None
metrics = {"model": model, "seed": seed, **computed}
headline = {q: e["value"] for q, e in metrics["overall"].items() if isinstance(e, dict)}
log.info("%s seed %d, %s: %d events, %s", model, seed, target, metrics["n_events"], headline)
for key in ("uncertainty", "uncertainty_raw"):
    if key in metrics:
        u = metrics[key]
        log.info(
            "%s seed %d, %s of %s: coverage 68 %% %s, 95 %% %s",
            model,
            seed,
            key,
            u["width"],
            u["overall"]["coverage68"]["value"],
            u["overall"]["coverage95"]["value"],
        )
io.write_json(snakemake.output.metrics, metrics)

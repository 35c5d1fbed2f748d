"""Metrics of one reconstructed target other than the energy (direction, core, xmax, mass) of one
model and seed on the test set, with bootstrap intervals (rule target_metrics)."""

import zlib

from airshower import evaluation, io, logs, rng

log = logs.setup(snakemake.log[0])
model, seed, target = snakemake.wildcards.model, int(snakemake.wildcards.seed), snakemake.wildcards.target
settings = evaluation.EvaluationSettings.from_config(snakemake.params.evaluation)
pred = io.read_predictions(snakemake.input.predictions)
# the energy metrics' stream plus the target's index: the energy metrics stay as they were
stream = (snakemake.params.study_seed, "bootstrap", zlib.crc32(model.encode()), seed)
try:
    computed = evaluation.compute_target_metrics(
        target,
        pred,
        settings,
        dict(snakemake.params.target_settings or {}),
        rng.generator(*stream, evaluation.TARGET_STREAMS[target]),
        classes=list(snakemake.params.classes),
    )
except ValueError as exc:
    raise io.DataError(f"{snakemake.input.predictions}: {exc}") from None
metrics = {"model": model, "seed": seed, **computed}
headline = {q: e["value"] for q, e in metrics["overall"].items() if isinstance(e, dict)}
log.info("%s seed %d, %s: %d events, %s", model, seed, target, metrics["n_events"], headline)
io.write_json(snakemake.output.metrics, metrics)

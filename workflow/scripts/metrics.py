"""Bias and resolution of one model and seed on the test set, with bootstrap intervals (rule metrics)."""

import zlib

from airshower import evaluation, io, logs, rng

log = logs.setup(snakemake.log[0])
model, seed = snakemake.wildcards.model, int(snakemake.wildcards.seed)
settings = evaluation.EvaluationSettings.from_config(snakemake.params.evaluation)
pred = io.read_h5(
    snakemake.input.predictions, ["energy_true", "energy_pred"], finite=["energy_true", "energy_pred"]
)
gen = rng.generator(snakemake.params.study_seed, "bootstrap", zlib.crc32(model.encode()), seed)
try:
    computed = evaluation.compute_metrics(pred["energy_true"], pred["energy_pred"], settings, gen)
except ValueError as exc:
    raise io.DataError(f"{snakemake.input.predictions}: {exc}") from None
metrics = {"model": model, "seed": seed, **computed}
o = metrics["overall"]
log.info(
    "%s seed %d: %d events, bias %s EeV, resolution %s EeV, sigma_E/E %s",
    model,
    seed,
    metrics["n_events"],
    o["bias_eev"]["value"],
    o["resolution_eev"]["value"],
    o["relative_resolution"]["value"],
)
io.write_json(snakemake.output.metrics, metrics)

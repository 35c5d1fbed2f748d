"""Bias and resolution of one model and seed on the test set, with bootstrap intervals, and the
metrics of its per-event uncertainty where its predictions have one (rule metrics)."""

import zlib

from airshower import evaluation, io, logs, rng

log = logs.setup(snakemake.log[0])
model, seed = snakemake.wildcards.model, int(snakemake.wildcards.seed)
settings = evaluation.EvaluationSettings.from_config(snakemake.params.evaluation)
pred = io.read_predictions(snakemake.input.predictions)
e_true, e_pred = pred["energy_true"], pred["energy_pred"]
stream = (snakemake.params.study_seed, "bootstrap", zlib.crc32(model.encode()), seed)
try:
    computed = evaluation.compute_metrics(e_true, e_pred, settings, rng.generator(*stream))
    if "energy_sigma" in pred:  # its own bootstrap stream: the metrics above stay as they were
        computed["uncertainty"] = evaluation.uncertainty_metrics(
            e_true, e_pred, pred["energy_sigma"], settings, rng.generator(*stream, 1)
        )
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
if "uncertainty" in metrics:
    u = metrics["uncertainty"]
    log.info(
        "%s seed %d: coverage 68 %% %s, 95 %% %s, pull width %s; 90 %% kept: resolution %s EeV, sigma_E/E %s",
        model,
        seed,
        u["overall"]["coverage68"]["value"],
        u["overall"]["coverage95"]["value"],
        u["overall"]["pull_width"]["value"],
        u["cut"]["resolution_eev"]["value"],
        u["cut"]["relative_resolution"]["value"],
    )
io.write_json(snakemake.output.metrics, metrics)

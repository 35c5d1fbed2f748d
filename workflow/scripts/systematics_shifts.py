"""The shift of every target's headline metrics of one model and seed from the nominal test set to
a systematic variant's, with bootstrap intervals (rule systematics_shifts)."""

from airshower import io, logs, predictionfile
from airshower.evaluation import EvaluationSettings
from airshower.evaluation import systematics as shifts

log = logs.setup(snakemake.log[0])
w = snakemake.wildcards
model, seed, variant = w.model, int(w.seed), w.variant
settings = EvaluationSettings.from_config(snakemake.params.evaluation)
nominal = predictionfile.read_predictions(snakemake.input.nominal)
varied = predictionfile.read_predictions(snakemake.input.variant)
targets = list(snakemake.params.targets)
try:
    computed = shifts.compute_shifts(
        nominal,
        varied,
        targets,
        settings.bootstrap,
        lambda target: shifts.shift_stream(snakemake.params.study_seed, model, seed, variant, target),
        classes=list(snakemake.params.classes),
    )
except ValueError as exc:
    raise io.DataError(f"{snakemake.input.nominal} against {snakemake.input.variant}: {exc}") from None
record = {"model": model, "seed": seed, "variant": variant, **computed}
for target, entries in record["targets"].items():
    log.info(
        "%s seed %d, %s, %s: %s",
        model,
        seed,
        variant,
        target,
        {name: (e["value"], e["lo"], e["hi"]) for name, e in entries.items()},
    )
io.write_json(snakemake.output.shifts, record)

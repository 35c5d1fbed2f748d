"""Summary of every model: metrics aggregated over seeds, training cost, throughput, whether each
training converged, and the per-event uncertainty of the models that predict one (rule summary)."""

from airshower import evaluation, io, logs

log = logs.setup(snakemake.log[0])
models = list(snakemake.params.models)
metrics, info, inference, verdicts = {}, {}, {}, {}
for path in snakemake.input.metrics:
    rec = io.read_json(path)
    metrics.setdefault(evaluation.run_key(path, rec)[0], []).append(rec)
for path in snakemake.input.info:
    rec = io.read_json(path)
    info.setdefault(evaluation.run_key(path, rec)[0], []).append(rec)
for path in snakemake.input.predictions:
    attrs = io.read_attrs(path)
    if "inference_events_per_s" in attrs:
        inference.setdefault(evaluation.run_key(path, attrs)[0], []).append(
            float(attrs["inference_events_per_s"])
        )
for path in snakemake.input.histories:
    model, seed = evaluation.run_key(path)
    verdict = evaluation.convergence_of_run(io.read_history(path), snakemake.params.training[model])
    verdicts.setdefault(model, {})[seed] = verdict
    (log.info if verdict.converged else log.warning)(
        "%s seed %d: %s: %s", model, seed, verdict.label, verdict.detail
    )
aggregated = {
    m: evaluation.aggregate_seeds(sorted(recs, key=lambda r: r["seed"])) for m, recs in metrics.items()
}
rows = evaluation.summary_rows(aggregated, info, inference, models, verdicts)
reasons = {m: {s: v.detail for s, v in by_seed.items()} for m, by_seed in verdicts.items()}
convergence = {
    m: [{"seed": s, **v.record()} for s, v in sorted(by_seed.items())] for m, by_seed in verdicts.items()
}
io.write_json(
    snakemake.output.json,
    {"model_order": models, "models": aggregated, "table": rows, "convergence": convergence},
)
with io.atomic_path(snakemake.output.csv) as tmp:
    tmp.write_text(evaluation.summary_csv(rows))
with io.atomic_path(snakemake.output.md) as tmp:
    tmp.write_text(evaluation.summary_markdown(rows, reasons))
log.info("summary of %d models:\n%s", len(rows), evaluation.summary_markdown(rows, reasons))

"""The table of one reconstructed target: its metrics combined over the seeds of every model that
reconstructs it, as CSV, Markdown and JSON (rule summary)."""

from airshower import evaluation, io, logs

log = logs.setup(snakemake.log[0])
target = snakemake.wildcards.target
models = list(snakemake.params.models)
records = {}
for path in snakemake.input.metrics:
    rec = io.read_json(path)
    records.setdefault(evaluation.run_key(path, rec)[0], []).append(rec)
try:
    aggregated = {
        m: evaluation.aggregate_seeds(sorted(recs, key=lambda r: r["seed"])) for m, recs in records.items()
    }
    rows = evaluation.target_rows(target, aggregated, models)
except (KeyError, ValueError) as exc:
    raise io.DataError(f"{target} metrics ({', '.join(snakemake.input.metrics)}): {exc}") from None
convergence = io.read_convergence(snakemake.input.convergence)
unconverged = evaluation.unconverged_seeds(convergence, models)
markdown = evaluation.target_markdown(target, rows, aggregated, unconverged)
io.write_json(
    snakemake.output.json,
    {
        "target": target,
        "model_order": models,
        "models": aggregated,
        "table": rows,
        "unconverged": unconverged,
    },
)
with io.atomic_path(snakemake.output.csv) as tmp:
    tmp.write_text(evaluation.target_csv(rows))
with io.atomic_path(snakemake.output.md) as tmp:
    tmp.write_text(markdown)
log.info("%s summary of %d models:\n%s", target, len(rows), markdown)

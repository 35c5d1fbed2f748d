"""The study's front page: one row per model with every target's headline number (from the
targets' tables) and the training columns, as CSV, Markdown and JSON (rule front_page)."""

from airshower import evaluation, io, logs

log = logs.setup(snakemake.log[0])
p = snakemake.params
tables = {}
for path in snakemake.input.tables:
    table = io.read_record(path, ["target", "model_order", "models", "table"], "a target's summary")
    tables[table["target"]] = table
tables = {t: tables[t] for t in p.targets}
info, inference = {}, {}
for path in snakemake.input.info:
    rec = io.read_json(path)
    info.setdefault(evaluation.run_key(path, rec)[0], []).append(rec)
for path in snakemake.input.predictions:
    attrs = io.read_attrs(path)
    if "inference_events_per_s" in attrs:
        inference.setdefault(evaluation.run_key(path, attrs)[0], []).append(
            float(attrs["inference_events_per_s"])
        )
convergence = io.read_convergence(snakemake.input.convergence)
rows = evaluation.front_rows(tables, info, inference, list(p.models), convergence)
reasons = {m: {r["seed"]: r["detail"] for r in records} for m, records in convergence.items()}
markdown = evaluation.front_markdown(rows, tables, reasons)
io.write_json(
    snakemake.output.json,
    {"model_order": list(p.models), "targets": list(p.targets), "table": rows, "convergence": convergence},
)
with io.atomic_path(snakemake.output.csv) as tmp:
    tmp.write_text(evaluation.front_csv(rows, list(p.targets)))
with io.atomic_path(snakemake.output.md) as tmp:
    tmp.write_text(markdown)
log.info("front page of %d models:\n%s", len(rows), markdown)

"""The systematics table: every model's shifts on every variant combined over its seeds, one row
per (variant, model), as CSV, Markdown (with the study's bars) and JSON (rule systematics_table)."""

from airshower import io, logs
from airshower.evaluation import systematics as shifts
from airshower.evaluation import systematics_tables as tables

log = logs.setup(snakemake.log[0])
p = snakemake.params
records: dict = {}
for path in snakemake.input.shifts:
    rec = io.read_record(path, ["model", "seed", "variant", "targets"], "a shifts record")
    records.setdefault(rec["variant"], {}).setdefault(rec["model"], []).append(rec)
exponent = None  # the baseline's calibration exponent B (none without the baseline)
calibrations = getattr(snakemake.input, "calibration", [])  # a path, or a list of none or one
for path in [calibrations] if isinstance(calibrations, str) else list(calibrations):
    exponent = io.read_calibration_exponent(path)
try:
    aggregated = {
        v: {m: shifts.aggregate_shifts(sorted(recs, key=lambda r: r["seed"])) for m, recs in models.items()}
        for v, models in records.items()
    }
    twin_of = dict(p.twins)
    order = tables.row_order(list(p.models), twin_of)
    rows = tables.shift_rows(aggregated, list(p.variants), order, twin_of, list(p.targets))
    bar_lines = tables.bars(aggregated, dict(p.sections), exponent, twin_of, list(p.energy_networks))
except (KeyError, ValueError) as exc:
    raise io.DataError(f"shifts ({', '.join(snakemake.input.shifts)}): {exc}") from None
markdown = "# Systematics\n\n" + tables.shift_markdown(rows, list(p.targets), bar_lines)
io.write_json(
    snakemake.output.json,
    {
        "variants": list(p.variants),
        "dead_fractions": tables.dead_fractions({v: dict(p.sections)[v] for v in p.variants}),
        "models": order,
        "model_order": list(p.models),
        "twins": twin_of,
        "targets": list(p.targets),
        "calibration_exponent": exponent,
        "shifts": aggregated,
        "table": rows,
        "bars": bar_lines,
    },
)
with io.atomic_path(snakemake.output.csv) as tmp:
    tmp.write_text(tables.shift_csv(rows, list(p.targets)))
with io.atomic_path(snakemake.output.md) as tmp:
    tmp.write_text(markdown)
log.info("systematics of %d variants x %d models:\n%s", len(p.variants), len(order), markdown)

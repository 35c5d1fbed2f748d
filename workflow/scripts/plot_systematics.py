"""The systematics figures, one per reconstructed target: the shift per variant and model, from
results/systematics.json (rule plot_systematics)."""

from airshower import io, logs, plotting

log = logs.setup(snakemake.log[0])
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
summary = io.read_json(snakemake.input.summary)
missing = [key for key in ("variants", "models", "shifts") if key not in summary]
if missing:
    raise io.DataError(f"{snakemake.input.summary}: no {', '.join(missing)}: not a systematics summary")
targets = list(snakemake.params.targets)
try:
    figures = plotting.systematics_figures(summary, targets)
except (KeyError, ValueError) as exc:
    raise io.DataError(f"{snakemake.input.summary}: {exc}") from None
for target, fig in figures.items():
    plotting.save(fig, snakemake.output[target], plots)
    log.info("%s: %s", target, snakemake.output[target])

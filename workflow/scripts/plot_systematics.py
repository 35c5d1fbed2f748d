"""The systematics figure of one reconstructed target: the shift per variant and model, from
results/systematics.json (rule plot_systematics)."""

from airshower import io, logs, plotting

log = logs.setup(snakemake.log[0])
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
target = snakemake.wildcards.target
summary = io.read_record(snakemake.input.summary, ["variants", "models", "shifts"], "a systematics summary")
try:
    (figure,) = plotting.systematics_figures(summary, [target]).values()
except (KeyError, ValueError) as exc:
    raise io.DataError(f"{snakemake.input.summary}: {exc}") from None
plotting.save(figure, snakemake.output.figure, plots)
log.info("%s: %s", target, snakemake.output.figure)

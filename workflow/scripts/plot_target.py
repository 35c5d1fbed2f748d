"""One figure of one reconstructed target, every model that reconstructs it on one plot, from the
target's table (rule plot_target; the figures of each target: airshower.plotting.TARGET_FIGURES)."""

from airshower import io, logs, plotting

log = logs.setup(snakemake.log[0])
target, stem = snakemake.wildcards.target, snakemake.wildcards.figure
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
models = list(snakemake.params.models)
summary = io.read_table_models(snakemake.input.summary, models)
plotting.save(plotting.target_figure(target, stem, summary, models), snakemake.output.figure, plots)
log.info("%s: %s", target, snakemake.output.figure)

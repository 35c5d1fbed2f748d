"""Figures of one reconstructed target other than the energy, every model on one plot, from its
summary (rules plot_direction, plot_core, plot_xmax, plot_mass)."""

from airshower import io, logs, plotting

log = logs.setup(snakemake.log[0])
target = snakemake.params.target
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
models = list(snakemake.params.models)
summary = io.read_json(snakemake.input.summary)["models"]
missing = [m for m in models if m not in summary]
if missing:
    raise io.DataError(f"{snakemake.input.summary}: no entry for model(s) {', '.join(missing)}")
for stem, fig in plotting.target_figures(target, summary, models).items():
    plotting.save(fig, snakemake.output[stem], plots)
    log.info("%s: %s", target, snakemake.output[stem])

"""Example footprints and input distributions of the simulated showers (rule plot_data)."""

from airshower import io, logs, plotting, rng

log = logs.setup(snakemake.log[0])
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
showers = io.read_showers(snakemake.input.showers)
n_trig = plotting.n_triggered(showers["signal"])
pick = plotting.choose_footprints(
    showers["energy"], n_trig, plots.n_footprints, rng.generator(snakemake.params.study_seed, "plots")
)
log.info("footprint examples: events %s", pick.tolist())
fig = plotting.footprints(
    *(showers[k][pick] for k in ("time", "signal")),
    showers["detector"],
    *(showers[k][pick] for k in ("energy", "zenith", "xmax", "core")),
)
plotting.save(fig, snakemake.output.footprints, plots)
fig = plotting.input_distributions(showers["energy"], showers["zenith"], showers["xmax"], n_trig)
plotting.save(fig, snakemake.output.distributions, plots)

"""Example footprints and input distributions of the simulated showers (rule plot_data); a
shower file above preparation.memory_budget_mb is read block by block."""

from airshower import logs, plotting, rng, showerfile

log = logs.setup(snakemake.log[0])
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
showers = showerfile.showers_within(
    snakemake.input.showers, snakemake.params.memory_budget_mb, plotting.IMAGE_COPIES
)
n_trig = plotting.n_triggered_of(showers)
pick = plotting.choose_footprints(
    showers["energy"], n_trig, plots.n_footprints, rng.generator(snakemake.params.study_seed, "plots")
)
log.info("footprint examples: events %s", pick.tolist())
images = showerfile.take_events(showers, pick, ("time", "signal"))
fig = plotting.footprints(
    images["time"],
    images["signal"],
    showers["detector"],
    *(showers[k][pick] for k in ("energy", "zenith", "xmax", "core")),
)
plotting.save(fig, snakemake.output.footprints, plots)
fig = plotting.input_distributions(showers["energy"], showers["zenith"], showers["xmax"], n_trig)
plotting.save(fig, snakemake.output.distributions, plots)

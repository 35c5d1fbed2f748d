"""Split the showers and build the network inputs (rule prepare): the reference fit of every event
first (the plane fit and the LDF fit of the residual, front and ldf channels, by the baseline's
code). In one piece, or block by block where the study exceeds preparation.memory_budget_mb (the
same splits and statistics, with the memory of one block)."""

from airshower import baseline, io, logs, preparation, rng

log = logs.setup(snakemake.log[0])
settings = preparation.PreparationSettings.from_config(snakemake.params.preparation)
front_settings = baseline.BaselineSettings.from_config(snakemake.params.baseline)
attrs = io.provenance(snakemake.params.preparation, snakemake.params.seed)
draws = rng.generator(snakemake.params.seed, "split")
with io.open_h5(snakemake.input.showers) as fh:
    n_events, n_stations = len(fh["energy"]), len(fh["detector"])
    n_bins = int(fh["trace"].shape[-1]) if "trace" in fh else 0
estimate = preparation.memory_estimate_mb(n_events, n_stations, n_bins)
if settings.in_blocks(n_events, n_stations, n_bins):
    log.info("%d showers: about %.0f MB in one piece, above the budget: block by block", n_events, estimate)

    def reference_fit(time_us, signal, detector):
        return baseline.reference_fit(time_us, signal, detector, front_settings)

    outputs = {name: snakemake.output[name] for name in preparation.SPLITS}
    norm = preparation.prepare_in_blocks(
        snakemake.input.showers, outputs, settings, draws, reference_fit, attrs
    )
else:
    log.info("%d showers: about %.0f MB in one piece", n_events, estimate)
    showers = io.read_showers(snakemake.input.showers, traces=True)  # the trace channels where it has them
    showers, _ = baseline.with_reference_fit(showers, front_settings)  # logs its cost
    splits, norm = preparation.prepare(showers, settings, draws)
    for name, split in splits.items():
        log.info("%s: %d events, x %s", name, len(split["index"]), split["x"].shape)
        io.write_h5(snakemake.output[name], split, units=preparation.split_units(), attrs=attrs)
log.info("input channels %s; target statistics of %s", norm["channels"], list(norm["targets"]))
io.write_json(snakemake.output.normalization, norm)

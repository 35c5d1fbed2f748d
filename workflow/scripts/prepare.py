"""Split the showers and build the network inputs (rule prepare): the plane fit of every event
first (the reference front of the residual and front channels, by the baseline's code)."""

from airshower import baseline, io, logs, preparation, rng

log = logs.setup(snakemake.log[0])
settings = preparation.PreparationSettings.from_config(snakemake.params.preparation)
showers = io.read_showers(snakemake.input.showers, traces=True)  # the trace channels where it has traces
front_settings = baseline.BaselineSettings.from_config(snakemake.params.baseline)
showers, _ = baseline.with_reference_front(showers, front_settings)  # logs its cost
splits, norm = preparation.prepare(showers, settings, rng.generator(snakemake.params.seed, "split"))
attrs = io.provenance(snakemake.params.preparation, snakemake.params.seed)
log.info("input channels %s; target statistics of %s", norm["channels"], list(norm["targets"]))
for name, split in splits.items():
    log.info("%s: %d events, x %s", name, len(split["index"]), split["x"].shape)
    io.write_h5(snakemake.output[name], split, units=preparation.split_units(), attrs=attrs)
io.write_json(snakemake.output.normalization, norm)

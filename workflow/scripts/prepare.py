"""Split the showers and normalize the network inputs (rule prepare)."""

from airshower import io, logs, preparation, rng

log = logs.setup(snakemake.log[0])
settings = preparation.PreparationSettings.from_config(snakemake.params.preparation)
showers = io.read_showers(snakemake.input.showers)
splits, norm = preparation.prepare(showers, settings, rng.generator(snakemake.params.seed, "split"))
attrs = io.provenance(snakemake.params.preparation, snakemake.params.seed)
log.info("input channels %s; target statistics of %s", norm["channels"], list(norm["targets"]))
for name, split in splits.items():
    log.info("%s: %d events, x %s", name, len(split["index"]), split["x"].shape)
    io.write_h5(snakemake.output[name], split, units=preparation.split_units(), attrs=attrs)
io.write_json(snakemake.output.normalization, norm)

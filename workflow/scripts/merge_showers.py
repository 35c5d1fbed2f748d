"""Merge simulation shards into results/data/showers.h5 (rule merge_showers)."""

from airshower import io, logs

log = logs.setup(snakemake.log[0])
data, units = io.merge_showers(snakemake.input.shards)
log.info("merged %d shards: %d events", len(snakemake.input.shards), len(data["energy"]))
io.write_h5(
    snakemake.output.showers,
    data,
    units=units,
    attrs=io.provenance(snakemake.params.simulation, snakemake.params.seed),
)

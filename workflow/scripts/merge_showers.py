"""Merge simulation shards into results/data/showers.h5 (rule merge_showers), one shard in
memory at a time (:func:`airshower.io.merge_shower_files`)."""

from airshower import io, logs

log = logs.setup(snakemake.log[0])
n = io.merge_shower_files(
    snakemake.input.shards,
    snakemake.output.showers,
    attrs=io.provenance(snakemake.params.simulation, snakemake.params.seed),
)
log.info("merged %d shards: %d events", len(snakemake.input.shards), n)

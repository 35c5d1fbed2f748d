"""Simulate one shard of the toy air showers (rule simulate)."""

from airshower import io, logs, simulation

log = logs.setup(snakemake.log[0])
settings = simulation.SimulationSettings.from_config(snakemake.params.simulation)
shard = int(snakemake.wildcards.shard)
data = simulation.simulate_shard(settings, snakemake.params.seed, shard)
log.info("shard %d of %d: %d events", shard, settings.n_shards, len(data["energy"]))
io.write_h5(
    snakemake.output.showers,
    data,
    units=io.shower_units(simulation.trace_units(settings)),
    attrs={**io.provenance(snakemake.params.simulation, snakemake.params.seed), "shard": shard},
)

"""Simulate one shard of the toy air showers (rule simulate).

Stops, writing nothing, when the Snakemake process that started it is gone
(:func:`airshower.jobs.guard`).
"""

from airshower import io, jobs, logs, simulation

log = logs.setup(snakemake.log[0])
with jobs.guard(f"simulation shard {snakemake.wildcards.shard}", watch_s=5) as job:
    settings = simulation.SimulationSettings.from_config(snakemake.params.simulation)
    shard = int(snakemake.wildcards.shard)
    data = simulation.simulate_shard(settings, snakemake.params.seed, shard)
    log.info("shard %d of %d: %d events", shard, settings.n_shards, len(data["energy"]))
    job.check("before writing its showers")
    io.write_h5(
        snakemake.output.showers,
        data,
        units=io.shower_units(simulation.trace_units(settings)),
        attrs={**io.provenance(snakemake.params.simulation, snakemake.params.seed), "shard": shard},
    )

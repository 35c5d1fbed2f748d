"""Simulate one systematic test variant: the size of the nominal test split, the variant's
simulation and detector, its own random streams (rule simulate_variant).

Stops, writing nothing, when the Snakemake process that started it is gone
(:func:`airshower.jobs.guard`).
"""

from airshower import io, jobs, logs, simulation, systematics

log = logs.setup(snakemake.log[0])
name = snakemake.wildcards.variant
with jobs.guard(f"variant {name}", watch_s=5) as job:
    nominal, section = snakemake.params.simulation, snakemake.params.variant
    variant = systematics.variant_settings(section, name)
    n = systematics.test_size(nominal["n_events"], snakemake.params.preparation["fractions"])
    data, sim = systematics.simulate_variant(nominal, variant, name, snakemake.params.seed, n)
    log.info("variant %s: %d events, %s", name, n, section)
    job.check("before writing its showers")
    io.write_h5(
        snakemake.output.showers,
        data,
        units=io.shower_units(simulation.trace_units(simulation.SimulationSettings.from_config(sim))),
        attrs=systematics.variant_attrs(name, sim, section, snakemake.params.seed),
    )

"""A systematic variant of showers made elsewhere (rule detector_variant): the nominal test
split's events with the variant's detector (dead stations, signal scale;
:func:`airshower.systematics.detector_variant`).

Stops, writing nothing, when the Snakemake process that started it is gone
(:func:`airshower.jobs.guard`).
"""

from airshower import io, jobs, logs, showerfile, systematics

log = logs.setup(snakemake.log[0])
name = snakemake.wildcards.variant
with jobs.guard(f"variant {name}", watch_s=5) as job:
    section = snakemake.params.variant
    variant = systematics.variant_settings(section, name)
    index = io.read_h5(snakemake.input.test, ["index"])["index"]
    showers = showerfile.showers_within(
        snakemake.input.showers, snakemake.params.memory_budget_mb, copies=2.0
    )
    data = systematics.detector_variant(showers, index, variant, name, snakemake.params.seed)
    log.info("variant %s: the %d events of the test split, %s", name, len(index), section)
    attrs = systematics.file_variant_attrs(io.read_attrs(snakemake.input.showers), name, section)
    job.check("before writing its showers")
    io.write_h5(snakemake.output.showers, data, units=io.shower_units(), attrs=attrs)

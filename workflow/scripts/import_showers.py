"""Showers made elsewhere as the study's showers (rule import_showers, ``showers.file``): checked
against the data contract block by block, then copied byte for byte
(:func:`airshower.showerfile.import_showers`).

Stops, writing nothing, when the Snakemake process that started it is gone
(:func:`airshower.jobs.guard`).
"""

from airshower import jobs, logs, showerfile

log = logs.setup(snakemake.log[0])
with jobs.guard("import showers", watch_s=5) as job:
    n = showerfile.import_showers(snakemake.input.showers, snakemake.output.showers, snakemake.params.array)
    log.info(
        "%s: %d showers meet the data contract, copied to %s",
        snakemake.input.showers,
        n,
        snakemake.output.showers,
    )

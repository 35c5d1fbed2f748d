"""Classical reconstruction, its fit: the energy calibration ``E = A S38^B`` and the terms of
the per-event energy uncertainty, on the training split (rule baseline). The test sets are
reconstructed with it by rule baseline_predict.

Stops, writing nothing, when the Snakemake process that started it is gone
(:func:`airshower.jobs.guard`).
"""

from airshower import baseline, io, jobs, logs

log = logs.setup(snakemake.log[0])
with jobs.guard("baseline", watch_s=5) as job:
    settings = baseline.BaselineSettings.from_config(snakemake.params.baseline)
    showers = baseline.read_showers(snakemake.input.showers, snakemake.params.memory_budget_mb)
    train = io.read_h5(snakemake.input.train, ["index", "energy", "zenith"])
    baseline.check_array(showers["detector"], snakemake.params.array, snakemake.input.showers)
    calibration = baseline.calibrate(showers, train, settings, snakemake.input.train)
    log.info(
        "A = %.4g EeV, B = %.4f, flagged on the training split %s; energy_sigma: intrinsic scatter "
        "%.4f in ln E",
        calibration["A"],
        calibration["B"],
        calibration["flagged"]["train"],
        calibration["uncertainty"]["intrinsic_ln_scatter"],
    )
    job.check("before writing its calibration")
    io.write_json(snakemake.output.calibration, calibration)

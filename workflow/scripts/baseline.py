"""Classical reconstruction: calibrate on the training split, predict the test split with each
event's energy uncertainty ``energy_sigma`` (rule baseline).

Stops, writing nothing, when the Snakemake process that started it is gone
(:func:`airshower.jobs.guard`).
"""

import numpy as np

from airshower import baseline, io, jobs, logs

log = logs.setup(snakemake.log[0])
with jobs.guard("baseline", watch_s=5) as job:
    settings = baseline.BaselineSettings.from_config(snakemake.params.baseline)
    showers = io.read_showers(snakemake.input.showers)
    splits = [io.read_h5(snakemake.input[name], ["index", "energy", "zenith"]) for name in ("train", "test")]
    baseline.check_array(showers["detector"], snakemake.params.array, snakemake.input.showers)
    predictions, calibration = baseline.run(
        showers, *splits, settings, names=(snakemake.input.train, snakemake.input.test)
    )
    rate = calibration["inference_events_per_s"]
    log.info(
        "A = %.4g EeV, B = %.4f, flagged %s, test split at %.0f events/s",
        calibration["A"],
        calibration["B"],
        calibration["flagged"],
        rate,
    )
    log.info(
        "energy_sigma: intrinsic scatter %.4f in ln E, median sigma_E/E %.4f on the test split",
        calibration["uncertainty"]["intrinsic_ln_scatter"],
        float(np.median(predictions["energy_sigma"] / predictions["energy_pred"])),
    )
    attrs = {
        **io.provenance(snakemake.params.baseline, 0),
        "model": "baseline",
        "inference_events_per_s": rate,
    }
    job.check("before writing its predictions")
    io.write_predictions(snakemake.output.predictions, predictions, attrs, baseline.RECONSTRUCTED_UNITS)
    io.write_json(snakemake.output.calibration, calibration)

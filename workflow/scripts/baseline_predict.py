"""The classical reconstruction of one test set (the nominal test split, the validation split or
a systematic variant's test set) with the NOMINAL calibration
(results/models/baseline/seed0/calibration.json), never refitted, and where given its width
calibration (widths.json, :mod:`airshower.widths`) applied (rule baseline_predict).

Stops, writing nothing, when the Snakemake process that started it is gone
(:func:`airshower.jobs.guard`).
"""

import numpy as np

from airshower import baseline, io, jobs, logs, predictionfile, widths

log = logs.setup(snakemake.log[0])
testset = snakemake.wildcards.testset or "test split"
with jobs.guard(f"baseline on {testset}", watch_s=5) as job:
    settings = baseline.BaselineSettings.from_config(snakemake.params.baseline)
    showers = baseline.read_showers(snakemake.input.showers, snakemake.params.memory_budget_mb)
    test = io.read_h5(snakemake.input.test, ["index", "energy", "zenith"])
    calibration = io.read_json(snakemake.input.calibration)
    missing = [
        key
        for key in ("A", "B", "zenith_correction", "fallback", "mean_energy_eev", "uncertainty")
        if key not in calibration
    ]
    if missing:
        raise io.DataError(
            f"{snakemake.input.calibration}: no {', '.join(missing)}: not a baseline calibration"
        )
    baseline.check_array(showers["detector"], snakemake.params.array, snakemake.input.showers)
    try:
        predictions, record = baseline.predict_with_calibration(
            showers, test, calibration, settings, snakemake.input.test
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise io.DataError(f"{snakemake.input.test} with {snakemake.input.calibration}: {exc}") from None
    if snakemake.input.widths:
        predictions |= widths.apply_file(predictions, snakemake.input.widths[0])
    stats = record["test_statistics"]["all"]
    log.info(
        "%s, calibration A = %.4g EeV, B = %.4f: %d events, relative bias %.4f, sigma_E/E %.4f, "
        "median energy_sigma / E %.4f, flagged %s, %.0f events/s",
        testset,
        calibration["A"],
        calibration["B"],
        stats["n_events"],
        stats["relative_bias"],
        stats["relative_resolution"],
        float(np.median(predictions["energy_sigma"] / predictions["energy_pred"])),
        record["flagged"],
        record["inference_events_per_s"],
    )
    attrs = {
        **io.provenance(snakemake.params.baseline, 0),
        "model": "baseline",
        "testset": testset,
        "calibration": str(snakemake.input.calibration),
        "inference_events_per_s": record["inference_events_per_s"],
    }
    job.check("before writing its predictions")
    predictionfile.write_predictions(
        snakemake.output.predictions, predictions, attrs, baseline.RECONSTRUCTED_UNITS
    )

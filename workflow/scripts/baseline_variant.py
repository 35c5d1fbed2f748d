"""The classical reconstruction of a systematic variant's test set with the NOMINAL calibration
(results/models/baseline/seed0/calibration.json), never refitted (rule baseline_variant).

Stops, writing nothing, when the Snakemake process that started it is gone
(:func:`airshower.jobs.guard`).
"""

from airshower import baseline, io, jobs, logs
from airshower.baseline.pipeline import predict_with_calibration

log = logs.setup(snakemake.log[0])
variant = snakemake.wildcards.variant
with jobs.guard(f"baseline on variant {variant}", watch_s=5) as job:
    settings = baseline.BaselineSettings.from_config(snakemake.params.baseline)
    showers = io.read_showers(snakemake.input.showers)
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
        predictions, record = predict_with_calibration(
            showers, test, calibration, settings, snakemake.input.test
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise io.DataError(f"{snakemake.input.test} with {snakemake.input.calibration}: {exc}") from None
    stats = record["test_statistics"]["all"]
    log.info(
        "variant %s, nominal calibration A = %.4g EeV, B = %.4f: %d events, relative bias %.4f, "
        "sigma_E/E %.4f, flagged %s",
        variant,
        calibration["A"],
        calibration["B"],
        stats["n_events"],
        stats["relative_bias"],
        stats["relative_resolution"],
        record["flagged"],
    )
    attrs = {
        **io.provenance(snakemake.params.baseline, 0),
        "model": "baseline",
        "variant": variant,
        "calibration": str(snakemake.input.calibration),
        "inference_events_per_s": record["inference_events_per_s"],
    }
    job.check("before writing its predictions")
    io.write_predictions(snakemake.output.predictions, predictions, attrs, baseline.RECONSTRUCTED_UNITS)

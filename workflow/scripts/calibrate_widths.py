"""Fit the calibration of a model's per-event widths on its predictions of the validation split
(rule calibrate_widths; the method and its bins: config ``calibration``, :mod:`airshower.widths`).
"""

from airshower import io, logs, predictionfile, widths

log = logs.setup(snakemake.log[0])
path = str(snakemake.input.predictions)
settings = snakemake.params.calibration
predictions = predictionfile.read_predictions(path)
try:
    calibration = widths.fit(predictions, settings["method"], settings["bins"], source=path)
except ValueError as exc:
    raise io.DataError(str(exc)) from None
for name, entry in calibration["targets"].items():
    log.info(
        "%s (%s, %d bins of %s, %d validation events): factors %s; coverage of the 68 %% interval "
        "%.4f -> %.4f, rms pull %.4f -> %.4f",
        name,
        calibration["method"],
        len(entry["scale"]),
        entry["by"],
        sum(entry["n"]),
        ", ".join(f"{s:.4f}" for s in entry["scale"]),
        entry["before"]["coverage68"],
        entry["after"]["coverage68"],
        entry["before"]["pull_rms"],
        entry["after"]["pull_rms"],
    )
io.write_json(snakemake.output.calibration, calibration)

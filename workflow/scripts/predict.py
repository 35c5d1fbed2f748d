"""Predict the energies of the test split with a trained network (rule predict)."""

from airshower import io, logs, preparation, training

log = logs.setup(snakemake.log[0])
p = snakemake.params
labels = ["x", "energy", "index", "zenith", "mass", "xmax"]
test = io.read_h5(snakemake.input.test, labels, finite=["x"])
norm = io.read_json(snakemake.input.normalization)
training.configure_runtime(snakemake.threads, snakemake.resources.get("gpu", 0))
model = training.load_model(snakemake.input.model)
y, rate = training.predict(model, test["x"], p.batch_size)
predictions = io.prediction_datasets(preparation.inverse_target(y, norm), test)
log.info("%s seed %d: %d test events at %.0f events/s", p.model, p.seed, len(y), rate)
attrs = {**io.provenance(seed=p.seed), "model": p.model, "seed": p.seed, "inference_events_per_s": rate}
io.write_predictions(snakemake.output.predictions, predictions, attrs)

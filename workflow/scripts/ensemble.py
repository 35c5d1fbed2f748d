"""The seed ensemble of one network: its seeds' test predictions combined into the model
``{model}_ensemble`` (rule ensemble; the combination rule in :mod:`airshower.ensemble`)."""

from airshower import ensemble, io, logs

log = logs.setup(snakemake.log[0])
model, seeds = snakemake.params.model, list(snakemake.params.seeds)
paths = [str(p) for p in snakemake.input.members]
finite = ["energy_true", "energy_pred", ensemble.SIGMA]
members = [io.read_h5(path, finite=finite) for path in paths]
predictions = ensemble.combine(members, paths)
attrs = ensemble.attributes(model, seeds, paths, [io.read_attrs(path) for path in paths])
io.write_predictions(snakemake.output.predictions, predictions, attrs)
width = predictions[ensemble.SIGMA] / predictions["energy_pred"]
log.info(
    "%s: mean of %d seeds %s over %d test events, members %s energy_sigma, median sigma_E/E %.4f",
    attrs["model"],
    len(paths),
    seeds,
    len(width),
    "with" if all(ensemble.SIGMA in m for m in members) else "without",
    float(sorted(width)[len(width) // 2]),
)

"""Training and validation loss and learning rate of every seed of one model (rule plot_training)."""

from airshower import io, logs, plotting

log = logs.setup(snakemake.log[0])
model = snakemake.params.model
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
models = snakemake.params.models
seeds = [int(seed) for seed in snakemake.params.seeds]
histories = {seed: io.read_history(path) for seed, path in zip(seeds, snakemake.input.histories, strict=True)}
# training.json says whether a seed was resumed from a checkpoint
infos = snakemake.input.info
resumed = {
    seed: io.read_json(path).get("resumed_from_epoch") for seed, path in zip(seeds, infos, strict=True)
}
resumed = {seed: epoch for seed, epoch in resumed.items() if epoch is not None}
if resumed:
    log.info("%s: resumed from a checkpoint (seed: epochs done before) %s", model, resumed)
fig = plotting.training_curves(histories, model, plotting.model_color(model, models), resumed)
plotting.save(fig, snakemake.output.curves, plots)

"""Training and validation loss and learning rate of every seed of one model, with whether each
seed converged (rule plot_training)."""

from airshower import evaluation, io, logs, plotting

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
verdicts = {
    seed: evaluation.convergence_of_run(h, snakemake.params.training) for seed, h in histories.items()
}
for seed, verdict in verdicts.items():
    log.info("%s seed %d: %s: %s", model, seed, verdict.label, verdict.detail)
labels = {seed: verdict.label for seed, verdict in verdicts.items()}
fig = plotting.training_curves(histories, model, plotting.model_color(model, models), resumed, labels)
plotting.save(fig, snakemake.output.curves, plots)

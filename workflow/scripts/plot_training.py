"""Training and validation loss and learning rate of every seed of one model (rule plot_training)."""

from airshower import io, logs, plotting

log = logs.setup(snakemake.log[0])
model = snakemake.params.model
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
models = snakemake.params.models
histories = {
    int(seed): io.read_history(path)
    for seed, path in zip(snakemake.params.seeds, snakemake.input.histories, strict=True)
}
fig = plotting.training_curves(histories, model, plotting.model_color(model, models))
plotting.save(fig, snakemake.output.curves, plots)

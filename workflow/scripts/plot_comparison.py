"""Resolution and bias of all models on common plots (rule plot_comparison)."""

from airshower import io, logs, plotting

log = logs.setup(snakemake.log[0])
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
models = list(snakemake.params.models)
summary = io.read_json(snakemake.input.summary)["models"]
missing = [m for m in models if m not in summary]
if missing:
    raise io.DataError(f"{snakemake.input.summary}: no entry for model(s) {', '.join(missing)}")
for key, func in (
    ("resolution", plotting.relative_resolution_vs_energy),
    ("bias", plotting.bias_vs_energy),
    ("overall", plotting.resolution_overall),
):
    plotting.save(func(summary, models), snakemake.output[key], plots)

"""The robustness figure of one reconstructed target: its headline statistics against the
fraction of dead stations, from results/systematics.json (rule plot_robustness)."""

from airshower import io, logs, plotting

log = logs.setup(snakemake.log[0])
plots = plotting.PlotSettings.from_config(snakemake.params.plots)
target = snakemake.wildcards.target
summary = io.read_record(
    snakemake.input.summary, ["dead_fractions", "models", "shifts"], "a systematics summary"
)
try:
    figure = plotting.robustness_figure(
        target, summary["shifts"], summary["dead_fractions"], summary["models"], summary.get("model_order")
    )
except (KeyError, ValueError) as exc:
    raise io.DataError(f"{snakemake.input.summary}: {exc}") from None
plotting.save(figure, snakemake.output.figure, plots)
log.info("%s: %s", target, snakemake.output.figure)

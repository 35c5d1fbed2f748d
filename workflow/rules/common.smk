# Config validation and the small functions that turn the config into target lists.
import os

# TensorFlow's start-up chatter (CPU features, missing CUDA) in every job is noise; errors stay.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from airshower.schema import BASELINE, ENSEMBLE_SUFFIX, ConfigError
from airshower.study import (
    compared_models,
    ensembles,
    mass_classes,
    model_names,
    study_targets,
    target_models,
    model_seeds,
    training_settings,
)
from airshower.config import validate_config

try:
    validate_config(config)  # fills schema defaults in place; names the key on error
except ConfigError as exc:
    raise WorkflowError(f"Invalid configuration: {exc}") from None


wildcard_constraints:
    model=r"[A-Za-z][A-Za-z0-9_]*",
    seed=r"\d+",
    shard=r"\d+",


localrules:
    all,
    merge_showers,
    ensemble,
    summary,
    plot_data,
    plot_training,
    plot_performance,
    plot_comparison,


DATA = "results/data"
# the models whose energy the summary and the energy figures compare
ENERGY_MODELS = target_models(config, "energy")
MODELS = "results/models/{model}/seed{seed}"
FIGURES = "results/figures"


def shard_files():
    n = config["simulation"]["n_shards"]
    return [f"{DATA}/shards/{shard}.h5" for shard in range(n)]


def simulation_mem_mb(wildcards):
    """Peak memory of one shard (measured by bench/simulation.py: about 10 MB per
    1000 events without traces, 140 MB with traces) plus the interpreter."""
    sim = config["simulation"]
    per_shard = -(-sim["n_events"] // sim["n_shards"])
    per_1000 = 140 if sim["store_traces"] else 10
    return 300 + per_1000 * per_shard // 1000


def runs(models):
    """(model, seed) pairs of the given models."""
    return [(m, s) for m in models for s in model_seeds(config, m)]


def per_run(pattern, models=None):
    models = compared_models(config) if models is None else models
    return [pattern.format(model=m, seed=s) for m, s in runs(models)]


def per_seed(pattern):
    """Input function: one file per seed of the wildcard model."""
    return lambda w: [
        pattern.format(model=w.model, seed=s) for s in model_seeds(config, w.model)
    ]


def ensemble_members(wildcards):
    """Input function of the ensemble rule, the predictions of every seed of the network."""
    name = f"{wildcards.model}{ENSEMBLE_SUFFIX}"
    if ensembles(config).get(name) != wildcards.model:
        raise WorkflowError(
            f"no seed ensemble '{name}': ensembles are built for the networks with two or more "
            f"training seeds while evaluation.ensembles is true ({', '.join(ensembles(config)) or 'none'})"
        )
    return per_seed(f"{MODELS}/predictions.h5")(wildcards)


def training_resources(key):
    return lambda w: training_settings(config, w.model)[key]


def uncertainty_models():
    """Models whose predictions.h5 carries a per-event uncertainty (``energy_sigma``) and so get
    the uncertainty calibration figure: the networks with a Gaussian output
    (``models.NAME.output: gaussian``; the default ``point`` predicts the energy alone), their
    seed ensembles (widths and spread combined, airshower.ensemble) and the baseline (the fit's
    uncertainty with the calibration's scatter, airshower.baseline.calibration). The metrics do
    not need this list: they read ``energy_sigma`` wherever a model writes it.
    """
    gaussian = [
        m for m in model_names(config) if config["models"][m]["output"] == "gaussian"
    ]
    members = {
        ensemble: ensemble[: -len(ENSEMBLE_SUFFIX)] for ensemble in ensembles(config)
    }
    gaussian_ensembles = [e for e, m in members.items() if m in gaussian]
    baseline = [BASELINE] if config["baseline"]["enabled"] else []
    return [*gaussian, *gaussian_ensembles, *baseline]


def final_outputs():
    networks = model_names(config)
    figures = [
        f"{FIGURES}/data/footprints.png",
        f"{FIGURES}/data/input_distributions.png",
        f"{FIGURES}/comparison/relative_resolution_vs_energy.png",
        f"{FIGURES}/comparison/bias_vs_energy.png",
        f"{FIGURES}/comparison/resolution_overall.png",
    ]
    figures += [f"{FIGURES}/{m}/training_curves.png" for m in networks]
    for m in ENERGY_MODELS:
        figures += [
            f"{FIGURES}/{m}/residuals.png",
            f"{FIGURES}/{m}/energy_scatter.png",
            f"{FIGURES}/{m}/bias_resolution_vs_energy.png",
        ]
    figures += [
        f"{FIGURES}/{m}/uncertainty_calibration.png" for m in uncertainty_models()
    ]
    from airshower.plotting.targets import TARGET_FIGURES

    tables = ["results/summary.csv", "results/summary.md"]
    for target in study_targets(config):
        if target == "energy":
            continue
        tables += [f"results/targets/{target}/summary.{ext}" for ext in ("csv", "md")]
        figures += [
            f"{FIGURES}/targets/{target}/{stem}.png" for stem in TARGET_FIGURES[target]
        ]
    return [*tables, *figures, *systematics_outputs()]

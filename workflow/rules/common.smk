# Config validation, the wildcard constraints, and the named functions that turn the config into
# target lists and into the inputs and params of the rules (get_*).
import os
import re

# TensorFlow's start-up chatter (CPU features, missing CUDA) in every job is noise; errors stay.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from airshower import jobs

# Every job learns which Snakemake process started it from the moment it starts (the guard of
# airshower.jobs stops a job whose Snakemake is gone, also one launched just before it died).
os.environ[jobs.SNAKEMAKE_ENV] = jobs.snakemake_identity()

from airshower.augmentation import needs_refit
from airshower.config import validate_config
from airshower.evaluation.convergence import RULE as CONVERGENCE_RULE
from airshower.evaluation.systematics_tables import twins
from airshower.evaluation.uncertainty import CALIBRATION_BINS, KEEP_FRACTION
from airshower.plotting.targets import TARGET_FIGURES, WIDTH_FIGURE
from airshower import resources
from airshower.schema import BASELINE, ENSEMBLE_SUFFIX, ConfigError
from airshower.study import (
    compared_models,
    ensembles,
    mass_classes,
    model_names,
    model_seeds,
    model_targets,
    study_targets,
    target_models,
    training_settings,
)
from airshower.systematics import (
    run_variants,
    study_outputs,
    variant_section,
)
from airshower.targets import TARGETS

try:
    validate_config(config)  # fills schema defaults in place; names the key on error
except ConfigError as exc:
    raise WorkflowError(f"Invalid configuration: {exc}") from None


DATA = "results/data"
MODELS = "results/models/{model}/seed{seed}"
ENSEMBLES = f"results/models/{{model}}{ENSEMBLE_SUFFIX}/seed0"
VARIANTS = "results/variants/{variant}"
FIGURES = "results/figures"
# report categories: the front page first, then the stages, one per target
TARGET_CATEGORIES = {
    "energy": "4 Energy",
    "direction": "5 Direction",
    "core": "6 Core",
    "xmax": "7 Xmax",
    "mass": "8 Mass",
    "muon": "8 Muon content",  # beside the mass: both tell the composition
}


def alternatives(names):
    """A wildcard regex matching exactly one of ``names`` (nothing for none)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


# {testset}: the test set a model predicts, "" for the nominal test split, "validation/" for the
# validation split (what the widths are calibrated on, airshower.widths) and "variants/{name}/"
# for a systematic variant (results/variants/{name}/test.h5). {model} of train and predict is
# one of the networks, of ensemble one with a seed ensemble: never "baseline" or "*_ensemble".
wildcard_constraints:
    model=r"[A-Za-z][A-Za-z0-9_]*",
    seed=r"\d+",
    shard=r"\d+",
    variant=r"[a-z][a-z0-9+-]*",
    testset=r"(validation/|variants/[a-z][a-z0-9+-]*/)?",
    target=alternatives(TARGETS),
    figure=alternatives(
        sorted(
            {stem for stems in TARGET_FIGURES.values() for stem in stems}
            | {WIDTH_FIGURE}
        )
    ),


NETWORKS = alternatives(model_names(config))
ENSEMBLED_NETWORKS = alternatives(ensembles(config).values())


localrules:  # and merge_showers up to resources.MERGE_LOCAL_MAX_EVENTS showers
    all,
    ensemble,
    summary,
    convergence,
    front_page,
    plot_data,
    plot_training,
    plot_performance,
    plot_uncertainty,
    plot_target,
    systematics_table,
    plot_systematics,


# --- target lists ------------------------------------------------------------------------------


def shard_files():
    n = config["simulation"]["n_shards"]
    return [f"{DATA}/shards/{shard}.h5" for shard in range(n)]


def runs(models):
    """(model, seed) pairs of the given models."""
    return [(m, s) for m in models for s in model_seeds(config, m)]


def per_run(pattern, models=None):
    """``pattern`` filled for every (model, seed) of ``models`` (default: every compared model)."""
    models = compared_models(config) if models is None else models
    return [pattern.format(model=m, seed=s) for m, s in runs(models)]


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
    gaussian_ensembles = [e for e, m in ensembles(config).items() if m in gaussian]
    baseline = [BASELINE] if config["baseline"]["enabled"] else []
    return [*gaussian, *gaussian_ensembles, *baseline]


def width_targets():
    """The targets some compared model predicts a per-event width of: the energy of a gaussian
    network, the ``widths`` of the networks, the baseline's energy, direction and core.
    """
    found = set()
    for m in model_names(config):
        spec = config["models"][m]
        if spec["output"] == "gaussian" and "energy" in spec["targets"]:
            found.add("energy")
        found |= set(spec.get("widths", ()))
    if config["baseline"]["enabled"]:
        found |= {"energy", "direction", "core"}
    return found


def target_outputs(target):
    """The table (CSV, Markdown) and the figures of one target (the coverage of its widths where
    a model predicts them)."""
    tables = [f"results/targets/{target}/summary.{ext}" for ext in ("csv", "md")]
    stems = [*TARGET_FIGURES[target]]
    if target in width_targets():
        stems.append(WIDTH_FIGURE)
    figures = [f"{FIGURES}/targets/{target}/{stem}.png" for stem in stems]
    return [*tables, *figures]


def model_figures():
    """The figures of every model: training curves of the networks, the energy's residuals,
    scatter and bias and resolution of the models that reconstruct it, the calibration of a
    per-event uncertainty."""
    figures = [f"{FIGURES}/{m}/training_curves.png" for m in model_names(config)]
    for m in target_models(config, "energy"):
        figures += [
            f"{FIGURES}/{m}/{stem}.png"
            for stem in ("residuals", "energy_scatter", "bias_resolution_vs_energy")
        ]
    figures += [
        f"{FIGURES}/{m}/uncertainty_calibration.png" for m in uncertainty_models()
    ]
    return figures


def get_final_outputs():
    """Everything the study makes: the front page, the data figures, every model's figures,
    every target's table and figures, and the systematics (none while systematics.run is
    empty)."""
    outputs = ["results/summary.csv", "results/summary.md"]
    outputs += [
        f"{FIGURES}/data/{stem}.png" for stem in ("footprints", "input_distributions")
    ]
    outputs += model_figures()
    for target in study_targets(config):
        outputs += target_outputs(target)
    return [*outputs, *study_outputs(config, FIGURES)]


# --- params -------------------------------------------------------------------------------------


def get_seed(wildcards):
    return int(wildcards.seed)


def get_model_spec(wildcards):
    return config["models"][wildcards.model]


def get_training_settings(wildcards):
    return training_settings(config, wildcards.model)


def refits(model):
    """Whether the station dropout of ``model`` makes the reference fit of its inputs again."""
    settings = training_settings(config, model)
    dropout = (settings.get("augmentation") or {}).get("station_dropout", 0)
    return dropout > 0 and needs_refit(settings["inputs"])


def get_refit_showers(wildcards):
    """The showers (their station positions) where the training's station dropout makes the
    reference fit again (train); nothing otherwise."""
    return {"showers": f"{DATA}/showers.h5"} if refits(wildcards.model) else {}


def get_refit_settings(wildcards):
    """The baseline's settings, with which the prepare job made the reference fit, where the
    training refits it (train); None otherwise."""
    return config["baseline"] if refits(wildcards.model) else None


def get_threads(wildcards):
    return training_settings(config, wildcards.model)["threads"]


def get_gpus(wildcards):
    return training_settings(config, wildcards.model)["gpus"]


def get_batch_size(wildcards):
    return training_settings(config, wildcards.model)["batch_size"]


def get_inputs(wildcards):
    return training_settings(config, wildcards.model)["inputs"]


def get_target_transform(wildcards):
    return training_settings(config, wildcards.model)["target_transform"]


def get_network_targets(wildcards):
    """The targets of a network (its spec's ``targets``)."""
    return config["models"][wildcards.model]["targets"]


def get_model_targets(wildcards):
    """The targets of any compared model (a seed ensemble's network's, the baseline's)."""
    return model_targets(config, wildcards.model)


def get_model_seeds(wildcards):
    return model_seeds(config, wildcards.model)


def get_target_models(wildcards):
    """The compared models that reconstruct the wildcard target."""
    return target_models(config, wildcards.target)


def get_fit_reference(wildcards):
    """The classical baseline's test predictions, to which a network's direction is compared
    event by event (metrics of the direction); nothing otherwise."""
    if (
        wildcards.target != "direction"
        or wildcards.model == BASELINE
        or not config["baseline"]["enabled"]
    ):
        return {}
    return {"reference": f"{MODELS.format(model=BASELINE, seed=0)}/predictions.h5"}


def get_target_settings(wildcards):
    """The target's section of ``targets`` (none for a target without settings)."""
    return config["targets"].get(wildcards.target, {})


def get_target_category(wildcards):
    return TARGET_CATEGORIES[wildcards.target]


def get_networks_training():
    """The training settings of every network (the convergence verdicts' patience and epochs)."""
    return {m: training_settings(config, m) for m in model_names(config)}


def get_variant_section(wildcards):
    return variant_section(config, wildcards.variant)


# --- resources: what each job declares to a scheduler, from the study's size (airshower.resources)


def resource(name):
    """A rule's resource ``name`` of :mod:`airshower.resources` (``simulation_mb``, ...) as a
    Snakemake resource function: a retried job (a cluster's ``retries``) asks for ``attempt``
    times as much."""

    def declared(wildcards, attempt):
        return resources.declared(name, config, attempt)

    return declared


# --- inputs -------------------------------------------------------------------------------------


def seed_files(wildcards, name):
    """One file ``name`` per training seed of the wildcard model."""
    return [
        f"{MODELS}/{name}".format(model=wildcards.model, seed=s)
        for s in model_seeds(config, wildcards.model)
    ]


def get_seed_histories(wildcards):
    return seed_files(wildcards, "history.csv")


def get_seed_infos(wildcards):
    return seed_files(wildcards, "training.json")


def get_seed_predictions(wildcards):
    return seed_files(wildcards, "predictions.h5")


def get_seed_energy_metrics(wildcards):
    return seed_files(wildcards, "metrics/energy.json")


VALIDATION = "validation/"  # the {testset} of the validation split


def get_test_set(wildcards):
    """The prepared test set of the wildcard {testset}: the nominal test split, the validation
    split or a variant's test set."""
    if wildcards.testset == VALIDATION:
        return f"{DATA}/val.h5"
    return (
        f"results/{wildcards.testset}test.h5"
        if wildcards.testset
        else f"{DATA}/test.h5"
    )


def get_showers(wildcards):
    """The raw showers of the wildcard {testset} (the baseline reconstructs from them)."""
    if wildcards.testset.startswith("variants/"):
        return f"results/{wildcards.testset}showers.h5"
    return f"{DATA}/showers.h5"


def width_models():
    """Models whose predictions.h5 carries a per-event width of any target, so that their widths
    are calibrated (calibrate_widths): those of uncertainty_models() and the networks with
    ``widths`` (direction, core, Xmax) and their seed ensembles."""
    with_widths = [m for m in model_names(config) if config["models"][m].get("widths")]
    with_widths += [e for e, m in ensembles(config).items() if m in with_widths]
    return [
        *uncertainty_models(),
        *(m for m in with_widths if m not in uncertainty_models()),
    ]


def widths_of(run_dir, testset):
    """The width calibration a prediction of ``run_dir`` on ``testset`` applies: none on the
    validation split (it is fitted there), none for a model without widths."""
    model = run_dir.split("/")[2]
    if testset == VALIDATION or model not in width_models():
        return []
    return [f"{run_dir}/widths.json"]


def get_widths(wildcards):
    """The widths.json of the wildcard network and seed (predict)."""
    run_dir = MODELS.format(model=wildcards.model, seed=wildcards.seed)
    return widths_of(run_dir, wildcards.testset)


def get_ensemble_widths(wildcards):
    """The widths.json of the wildcard network's seed ensemble (ensemble)."""
    return widths_of(ENSEMBLES.format(model=wildcards.model), wildcards.testset)


def get_baseline_widths(wildcards):
    """The baseline's widths.json (baseline_predict)."""
    return widths_of(f"results/models/{BASELINE}/seed0", wildcards.testset)


def get_ensemble_members(wildcards):
    """The predictions of every seed of the network on the wildcard {testset}."""
    return seed_files(wildcards, f"{wildcards.testset}predictions.h5")


def get_target_metrics(wildcards):
    """The wildcard target's metrics of every run of the models that reconstruct it."""
    return per_run(
        f"{MODELS}/metrics/{wildcards.target}.json", get_target_models(wildcards)
    )


def get_target_tables():
    """The table (JSON) of every target of the study."""
    return [f"results/targets/{t}/summary.json" for t in study_targets(config)]


def get_shifts():
    """The shifts of every compared run on every variant that is run."""
    return [
        f
        for v in run_variants(config)
        for f in per_run(f"{MODELS}/variants/{v}/shifts.json")
    ]


def get_baseline_calibration():
    """The baseline's calibration (its exponent judges the signal-scale variants), if run."""
    if not config["baseline"]["enabled"]:
        return []
    return [f"results/models/{BASELINE}/seed0/calibration.json"]


def get_variant_sections():
    return {v: config["systematics"]["variants"][v] for v in run_variants(config)}


def get_energy_networks():
    """The compared networks and seed ensembles that reconstruct the energy."""
    return [m for m in target_models(config, "energy") if m != BASELINE]

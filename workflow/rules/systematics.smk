# Systematic test variants (airshower.systematics): the nominal test set simulated again with
# another hadronic model or detector, from the variant's own random streams and with the size of
# the nominal test split, then prepared with the NOMINAL normalization (never refitted). A
# variant is the wildcard {variant}: adding one to systematics.run runs only its own jobs (the
# params below are the variant's own section, not the whole list).
# Then every compared model on every variant, with its nominal weights, normalization and
# (baseline) calibration: the shift of every target's headline metrics against the nominal test
# set per (model, seed, variant), and one table and one figure per target over the run variants.
from airshower.study import model_targets
from airshower.evaluation.systematics_tables import twins as _twins
from airshower.systematics import (
    run_variants,
    study_outputs,
    variant_mem_mb,
    variant_section,
)

VARIANTS = "results/variants/{variant}"


wildcard_constraints:
    variant=r"[a-z][a-z0-9+-]*",


rule simulate_variant:
    output:
        showers=f"{VARIANTS}/showers.h5",
    log:
        "logs/simulate_variant/{variant}.log",
    benchmark:
        "benchmarks/simulate_variant/{variant}.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=lambda w: variant_mem_mb(config),
        runtime=30,
    params:
        simulation=config["simulation"],
        preparation=config["preparation"],
        variant=lambda w: variant_section(config, w.variant),
        seed=config["seed"],
    script:
        "../scripts/simulate_variant.py"


rule prepare_variant:
    input:
        showers=f"{VARIANTS}/showers.h5",
        normalization=f"{DATA}/normalization.json",
    output:
        test=f"{VARIANTS}/test.h5",
    log:
        "logs/prepare_variant/{variant}.log",
    benchmark:
        "benchmarks/prepare_variant/{variant}.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        preparation=config["preparation"],
        seed=config["seed"],
    script:
        "../scripts/prepare_variant.py"


# ---------------------------------------------------------------------------------------------
# evaluation

VARIANT_PREDICTIONS = f"{MODELS}/variants/{{variant}}/predictions.h5"
SYSTEMATICS_FIGURES = f"{FIGURES}/systematics"


localrules:
    systematics_table,
    plot_systematics,


# results/models/{model}_ensemble/seed0/variants/... and .../baseline/seed0/variants/... match
# predict_variant's pattern too
ruleorder: ensemble_variant > predict_variant
ruleorder: baseline_variant > predict_variant


rule predict_variant:
    input:
        model=f"{MODELS}/model.keras",
        test=f"{VARIANTS}/test.h5",
        normalization=f"{DATA}/normalization.json",
    output:
        predictions=VARIANT_PREDICTIONS,
    log:
        "logs/predict_variant/{model}/seed{seed}/{variant}.log",
    benchmark:
        "benchmarks/predict_variant/{model}/seed{seed}/{variant}.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1  # a test split is seconds of inference; the job's time is Keras' start-up
    resources:
        gpu=training_resources("gpus"),
        mem_mb=4000,
        runtime=30,
    params:
        model="{model}",
        seed=lambda w: int(w.seed),
        batch_size=lambda w: training_settings(config, w.model)["batch_size"],
        inputs=lambda w: training_settings(config, w.model)["inputs"],
        targets=lambda w: config["models"][w.model]["targets"],
        target_transform=lambda w: training_settings(config, w.model)[
            "target_transform"
        ],
    script:
        "../scripts/predict.py"


rule ensemble_variant:
    input:
        # the seeds' variant predictions (ensemble_members raises for a network without ensemble)
        members=lambda w: ensemble_members(w)
        and [
            VARIANT_PREDICTIONS.format(model=w.model, seed=s, variant=w.variant)
            for s in model_seeds(config, w.model)
        ],
    output:
        predictions=f"results/models/{{model}}{ENSEMBLE_SUFFIX}/seed0/variants/{{variant}}/predictions.h5",
    log:
        f"logs/ensemble_variant/{{model}}{ENSEMBLE_SUFFIX}/{{variant}}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        model="{model}",
        seeds=lambda w: model_seeds(config, w.model),
    script:
        "../scripts/ensemble.py"


rule baseline_variant:
    input:
        showers=f"{VARIANTS}/showers.h5",
        test=f"{VARIANTS}/test.h5",
        calibration=f"results/models/{BASELINE}/seed0/calibration.json",
    output:
        predictions=f"results/models/{BASELINE}/seed0/variants/{{variant}}/predictions.h5",
    log:
        "logs/baseline_variant/{variant}.log",
    benchmark:
        "benchmarks/baseline_variant/{variant}.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        baseline=config["baseline"],
        array=config["simulation"]["array"],
    script:
        "../scripts/baseline_variant.py"


rule systematics_shifts:
    input:
        nominal=f"{MODELS}/predictions.h5",
        variant=VARIANT_PREDICTIONS,
    output:
        shifts=f"{MODELS}/variants/{{variant}}/shifts.json",
    log:
        "logs/systematics_shifts/{model}/seed{seed}/{variant}.log",
    benchmark:
        "benchmarks/systematics_shifts/{model}/seed{seed}/{variant}.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        targets=lambda w: model_targets(config, w.model),
        evaluation=config["evaluation"],
        classes=mass_classes(config),
        study_seed=config["seed"],
    script:
        "../scripts/systematics_shifts.py"


rule systematics_table:
    input:
        shifts=[
            f
            for v in run_variants(config)
            for f in per_run(f"{MODELS}/variants/{v}/shifts.json")
        ],
        calibration=(
            [f"results/models/{BASELINE}/seed0/calibration.json"]
            if config["baseline"]["enabled"]
            else []
        ),
    output:
        csv=report(
            "results/systematics.csv",
            caption="../report/systematics.rst",
            category="9 Systematics",
            labels={"table": "systematic shifts (CSV)"},
        ),
        md="results/systematics.md",
        json="results/systematics.json",
    log:
        "logs/systematics_table.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        variants=run_variants(config),
        sections={v: config["systematics"]["variants"][v] for v in run_variants(config)},
        models=compared_models(config),
        twins=_twins(config),
        # the compared networks and seed ensembles that reconstruct the energy
        energy_networks=[m for m in target_models(config, "energy") if m != BASELINE],
        targets=study_targets(config),
    script:
        "../scripts/systematics_table.py"


rule plot_systematics:
    input:
        summary="results/systematics.json",
    output:
        **{
            target: report(
                f"{SYSTEMATICS_FIGURES}/{target}.png",
                caption="../report/systematics_figure.rst",
                category="9 Systematics",
                labels={"figure": f"{target} shifts"},
            )
            for target in study_targets(config)
        },
    log:
        "logs/plot_systematics.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        targets=study_targets(config),
        plots=config["plots"],
    script:
        "../scripts/plot_systematics.py"


# the table and figures of the study for final_outputs() (common.smk); none while
# systematics.run is empty
systematics_outputs = lambda: study_outputs(config, FIGURES)

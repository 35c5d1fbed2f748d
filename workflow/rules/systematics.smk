# Systematic test variants (airshower.systematics): the nominal test set simulated again with
# another hadronic model or detector, from the variant's own random streams and with the size of
# the nominal test split, then prepared with the NOMINAL normalization (never refitted). A
# variant is the wildcard {variant}: adding one to systematics.run runs only its own jobs (the
# params below are the variant's own section, not the whole list).
# Then every compared model on every variant, with its nominal weights, normalization and
# (baseline) calibration (predict, ensemble and baseline_predict with the wildcard {testset}
# "variants/{variant}/"): the shift of every target's headline metrics against
# the nominal test set per (model, seed, variant), and one table and one figure per target over
# the run variants.


if config["showers"]["file"]:

    rule detector_variant:  # showers made elsewhere: the nominal test events, another detector
        input:
            showers=f"{DATA}/showers.h5",
            test=f"{DATA}/test.h5",
        output:
            showers=f"{VARIANTS}/showers.h5",
        log:
            "logs/detector_variant/{variant}.log",
        benchmark:
            "benchmarks/detector_variant/{variant}.tsv"
        conda:
            "../envs/study.yaml"
        threads: 1
        resources:
            mem_mb=resource("variant_mb"),
            runtime=30,
        params:
            variant=get_variant_section,
            seed=config["seed"],
            memory_budget_mb=config["preparation"]["memory_budget_mb"],
        script:
            "../scripts/detector_variant.py"

else:

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
            mem_mb=resource("variant_mb"),
            runtime=30,
        params:
            simulation=config["simulation"],
            preparation=config["preparation"],
            variant=get_variant_section,
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
        mem_mb=resource("variant_preparation_mb"),
        runtime=10,
    params:
        preparation=config["preparation"],
        seed=config["seed"],
        baseline=config["baseline"],
    script:
        "../scripts/prepare_variant.py"


rule systematics_shifts:
    input:
        nominal=f"{MODELS}/predictions.h5",
        variant=f"{MODELS}/variants/{{variant}}/predictions.h5",
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
        mem_mb=resource("evaluation_mb"),
        runtime=20,
    params:
        targets=get_model_targets,
        evaluation=config["evaluation"],
        classes=mass_classes(config),
        study_seed=config["seed"],
    script:
        "../scripts/systematics_shifts.py"


rule systematics_table:
    input:
        shifts=get_shifts(),
        calibration=get_baseline_calibration(),
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
        sections=get_variant_sections(),
        models=compared_models(config),
        twins=twins(config),
        energy_networks=get_energy_networks(),
        targets=study_targets(config),
    script:
        "../scripts/systematics_table.py"


rule plot_systematics:
    input:
        summary="results/systematics.json",
    output:
        figure=report(
            f"{FIGURES}/systematics/{{target}}.png",
            caption="../report/systematics_figure.rst",
            category="9 Systematics",
            labels={"figure": "{target} shifts"},
        ),
    log:
        "logs/plot_systematics/{target}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plots=config["plots"],
    script:
        "../scripts/plot_systematics.py"


rule plot_robustness:
    input:
        summary="results/systematics.json",
    output:
        figure=report(
            f"{FIGURES}/robustness/{{target}}.png",
            caption="../report/robustness_figure.rst",
            category="9 Systematics",
            labels={"figure": "{target} against dead stations"},
        ),
    log:
        "logs/plot_robustness/{target}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plots=config["plots"],
    script:
        "../scripts/plot_robustness.py"

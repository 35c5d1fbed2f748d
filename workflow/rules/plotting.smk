# Figures. They read only data, histories, predictions, metrics and tables, so changing a
# plotting setting reruns these rules and nothing upstream.


rule plot_data:
    input:
        showers=f"{DATA}/showers.h5",
    output:
        footprints=report(
            f"{FIGURES}/data/footprints.png",
            caption="../report/footprints.rst",
            category="1 Data",
            labels={"figure": "example footprints"},
        ),
        distributions=report(
            f"{FIGURES}/data/input_distributions.png",
            caption="../report/input_distributions.rst",
            category="1 Data",
            labels={"figure": "input distributions"},
        ),
    log:
        "logs/plot_data.log",
    benchmark:
        "benchmarks/plot_data.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("showers_plot_mb"),
        runtime=10,
    params:
        plots=config["plots"],
        study_seed=config["seed"],
        memory_budget_mb=config["preparation"]["memory_budget_mb"],
    script:
        "../scripts/plot_data.py"


rule plot_training:
    input:
        histories=get_seed_histories,
        info=get_seed_infos,
    output:
        curves=report(
            f"{FIGURES}/{{model}}/training_curves.png",
            caption="../report/training_curves.rst",
            category="2 Training",
            labels={"model": "{model}", "figure": "training curves"},
        ),
    log:
        "logs/plot_training/{model}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        model="{model}",
        seeds=get_model_seeds,
        models=compared_models(config),
        plots=config["plots"],
        training=get_training_settings,
        convergence_rule=CONVERGENCE_RULE,
    script:
        "../scripts/plot_training.py"


rule plot_performance:
    input:
        predictions=get_seed_predictions,
        metrics=get_seed_energy_metrics,
    output:
        residuals=report(
            f"{FIGURES}/{{model}}/residuals.png",
            caption="../report/residuals.rst",
            category="3 Performance",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "residuals"},
        ),
        scatter=report(
            f"{FIGURES}/{{model}}/energy_scatter.png",
            caption="../report/energy_scatter.rst",
            category="3 Performance",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "reconstructed vs true energy"},
        ),
        vs_energy=report(
            f"{FIGURES}/{{model}}/bias_resolution_vs_energy.png",
            caption="../report/bias_resolution_vs_energy.rst",
            category="3 Performance",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "bias and resolution vs energy"},
        ),
    log:
        "logs/plot_performance/{model}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("evaluation_mb"),
        runtime=10,
    params:
        model="{model}",
        models=compared_models(config),
        plots=config["plots"],
        evaluation=config["evaluation"],
    script:
        "../scripts/plot_performance.py"


rule plot_uncertainty:
    input:
        predictions=get_seed_predictions,
        metrics=get_seed_energy_metrics,
    output:
        calibration=report(
            f"{FIGURES}/{{model}}/uncertainty_calibration.png",
            caption="../report/uncertainty_calibration.rst",
            category="3 Performance",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "uncertainty calibration"},
        ),
    log:
        "logs/plot_uncertainty/{model}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("evaluation_mb"),
        runtime=10,
    params:
        model="{model}",
        models=compared_models(config),
        plots=config["plots"],
        calibration_bins=CALIBRATION_BINS,
        keep_fraction=KEEP_FRACTION,
    script:
        "../scripts/plot_uncertainty.py"


rule plot_target:
    input:
        summary="results/targets/{target}/summary.json",
    output:
        figure=report(
            f"{FIGURES}/targets/{{target}}/{{figure}}.png",
            caption="../report/target_figure.rst",
            category=get_target_category,
            labels={"figure": "{figure}"},
        ),
    log:
        "logs/plot_target/{target}/{figure}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("evaluation_mb"),
        runtime=10,
    params:
        models=get_target_models,
        plots=config["plots"],
    script:
        "../scripts/plot_target.py"

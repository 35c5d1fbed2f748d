# Figures. They read only data, histories, predictions and metrics, so changing a plotting
# setting reruns these rules and nothing upstream.
from airshower.evaluation.convergence import RULE as CONVERGENCE_RULE
from airshower.evaluation.uncertainty import CALIBRATION_BINS, KEEP_FRACTION


localrules:
    plot_uncertainty,


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
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        plots=config["plots"],
        study_seed=config["seed"],
    script:
        "../scripts/plot_data.py"


rule plot_training:
    input:
        histories=per_seed(f"{MODELS}/history.csv"),
        info=per_seed(f"{MODELS}/training.json"),
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
        seeds=lambda w: model_seeds(config, w.model),
        models=compared_models(config),
        plots=config["plots"],
        training=lambda w: training_settings(config, w.model),
        convergence_rule=CONVERGENCE_RULE,
    script:
        "../scripts/plot_training.py"


rule plot_performance:
    input:
        predictions=per_seed(f"{MODELS}/predictions.h5"),
        metrics=per_seed(f"{MODELS}/metrics.json"),
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
        mem_mb=2000,
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
        predictions=per_seed(f"{MODELS}/predictions.h5"),
        metrics=per_seed(f"{MODELS}/metrics.json"),
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
        mem_mb=2000,
        runtime=10,
    params:
        model="{model}",
        models=compared_models(config),
        plots=config["plots"],
        calibration_bins=CALIBRATION_BINS,
        keep_fraction=KEEP_FRACTION,
    script:
        "../scripts/plot_uncertainty.py"


rule plot_comparison:
    input:
        summary="results/summary.json",
    output:
        resolution=report(
            f"{FIGURES}/comparison/relative_resolution_vs_energy.png",
            caption="../report/relative_resolution_vs_energy.rst",
            category="4 Comparison",
            labels={"figure": "relative resolution vs energy"},
        ),
        bias=report(
            f"{FIGURES}/comparison/bias_vs_energy.png",
            caption="../report/bias_vs_energy.rst",
            category="4 Comparison",
            labels={"figure": "bias vs energy"},
        ),
        overall=report(
            f"{FIGURES}/comparison/resolution_overall.png",
            caption="../report/resolution_overall.rst",
            category="4 Comparison",
            labels={"figure": "overall resolution"},
        ),
    log:
        "logs/plot_comparison.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models=ENERGY_MODELS,
        plots=config["plots"],
    script:
        "../scripts/plot_comparison.py"

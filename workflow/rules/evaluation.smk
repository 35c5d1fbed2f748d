# Energy metrics per (model, seed) with bootstrap intervals, and the summary table over the models
# that reconstruct the energy (every network's training cost and convergence; the other targets'
# tables: targets.smk).
from airshower.evaluation.convergence import RULE as CONVERGENCE_RULE


rule metrics:
    input:
        predictions=f"{MODELS}/predictions.h5",
    output:
        metrics=f"{MODELS}/metrics.json",
    log:
        "logs/metrics/{model}/seed{seed}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        evaluation=config["evaluation"],
        study_seed=config["seed"],
    script:
        "../scripts/metrics.py"


rule summary:
    input:
        metrics=per_run(f"{MODELS}/metrics.json", ENERGY_MODELS),
        info=per_run(f"{MODELS}/training.json", model_names(config)),
        predictions=per_run(f"{MODELS}/predictions.h5", ENERGY_MODELS),
        histories=per_run(f"{MODELS}/history.csv", model_names(config)),
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="4 Comparison",
            labels={"table": "summary (CSV)"},
        ),
        md="results/summary.md",
        json="results/summary.json",
    log:
        "logs/summary.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models=ENERGY_MODELS,
        training={m: training_settings(config, m) for m in model_names(config)},
        convergence_rule=CONVERGENCE_RULE,
    script:
        "../scripts/summary.py"

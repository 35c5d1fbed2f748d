# Metrics per (model, seed) with bootstrap intervals, and the summary table over all models.


rule metrics:
    input:
        predictions=f"{MODELS}/predictions.h5",
    output:
        metrics=f"{MODELS}/metrics.json",
    params:
        evaluation=config["evaluation"],
        study_seed=config["seed"],
    log:
        "logs/metrics/{model}/seed{seed}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/study.yaml"
    script:
        "../../scripts/metrics.py"


rule summary:
    input:
        metrics=per_run(f"{MODELS}/metrics.json"),
        info=per_run(f"{MODELS}/training.json", model_names(config)),
        predictions=per_run(f"{MODELS}/predictions.h5"),
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="4 Comparison",
            labels={"table": "summary (CSV)"},
        ),
        md="results/summary.md",
        json="results/summary.json",
    params:
        models=compared_models(config),
    log:
        "logs/summary.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/study.yaml"
    script:
        "../../scripts/summary.py"

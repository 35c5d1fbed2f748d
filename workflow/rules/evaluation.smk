# Every target alike: its metrics per (model, seed) with bootstrap intervals, its table over the
# models that reconstruct it (seeds combined), and the study's front page (every target's
# headline number with each network's training cost and convergence).


rule metrics:
    input:
        unpack(get_fit_reference),
        predictions=f"{MODELS}/predictions.h5",
    output:
        metrics=f"{MODELS}/metrics/{{target}}.json",
    log:
        "logs/metrics/{target}/{model}/seed{seed}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("evaluation_mb"),
        runtime=10,
    params:
        evaluation=config["evaluation"],
        target_settings=get_target_settings,
        classes=mass_classes(config),
        study_seed=config["seed"],
    script:
        "../scripts/metrics.py"


rule convergence:
    input:
        histories=per_run(f"{MODELS}/history.csv", model_names(config)),
    output:
        convergence="results/convergence.json",
    log:
        "logs/convergence.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        training=get_networks_training(),
        convergence_rule=CONVERGENCE_RULE,
    script:
        "../scripts/convergence.py"


rule summary:
    input:
        metrics=get_target_metrics,
        convergence="results/convergence.json",
    output:
        csv=report(
            "results/targets/{target}/summary.csv",
            caption="../report/target_summary.rst",
            category=get_target_category,
            labels={"table": "{target} summary (CSV)"},
        ),
        md="results/targets/{target}/summary.md",
        json="results/targets/{target}/summary.json",
    log:
        "logs/summary/{target}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models=get_target_models,
    script:
        "../scripts/summary.py"


rule front_page:
    input:
        tables=get_target_tables(),
        convergence="results/convergence.json",
        info=per_run(f"{MODELS}/training.json", model_names(config)),
        predictions=per_run(f"{MODELS}/predictions.h5"),
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="0 Summary",
            labels={"table": "summary (CSV)"},
        ),
        md="results/summary.md",
        json="results/summary.json",
    log:
        "logs/front_page.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models=compared_models(config),
        targets=study_targets(config),
        convergence_rule=CONVERGENCE_RULE,
    script:
        "../scripts/front_page.py"

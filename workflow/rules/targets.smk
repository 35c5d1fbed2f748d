# Metrics, summaries and figures of the reconstructed targets other than the energy (direction,
# core, xmax, mass): per (model, seed) and target, combined over seeds per target, one figure
# set per target. Input functions from common.smk: target_models(config, target), per_run,
# mass_classes(config).
from airshower.plotting.targets import TARGET_FIGURES

TARGET_CATEGORIES = {
    "direction": "5 Direction",
    "core": "6 Core",
    "xmax": "7 Xmax",
    "mass": "8 Mass",
}


wildcard_constraints:
    target="direction|core|xmax|mass",


localrules:
    target_summary,
    plot_direction,
    plot_core,
    plot_xmax,
    plot_mass,


rule target_metrics:
    input:
        predictions=f"{MODELS}/predictions.h5",
    output:
        metrics=f"{MODELS}/metrics/{{target}}.json",
    log:
        "logs/target_metrics/{target}/{model}/seed{seed}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        evaluation=config["evaluation"],
        target_settings=lambda w: config["targets"][w.target],
        classes=mass_classes(config),
        study_seed=config["seed"],
    script:
        "../scripts/target_metrics.py"


rule target_summary:
    input:
        metrics=lambda w: per_run(
            f"{MODELS}/metrics/{w.target}.json", target_models(config, w.target)
        ),
        summary="results/summary.json",  # the convergence verdicts of every network
    output:
        csv=report(
            "results/targets/{target}/summary.csv",
            caption="../report/target_summary.rst",
            category=lambda w: TARGET_CATEGORIES[w.target],
            labels={"table": "{target} summary (CSV)"},
        ),
        md="results/targets/{target}/summary.md",
        json="results/targets/{target}/summary.json",
    log:
        "logs/target_summary/{target}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        models=lambda w: target_models(config, w.target),
    script:
        "../scripts/target_summary.py"


# one figure rule per target: the targets write different figures (TARGET_FIGURES)
for _target, _stems in TARGET_FIGURES.items():

    rule:
        name:
            f"plot_{_target}"
        input:
            summary=f"results/targets/{_target}/summary.json",
        output:
            **{
                stem: report(
                    f"{FIGURES}/targets/{_target}/{stem}.png",
                    caption=f"../report/target_{stem}.rst",
                    category=TARGET_CATEGORIES[_target],
                    labels={"figure": stem.replace("_", " ")},
                )
                for stem in _stems
            },
        log:
            f"logs/plot_targets/{_target}.log",
        conda:
            "../envs/study.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            target=_target,
            models=target_models(config, _target),
            plots=config["plots"],
        script:
            "../scripts/plot_targets.py"

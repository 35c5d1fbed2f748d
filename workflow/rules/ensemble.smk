# Seed ensembles: for every network with two or more seeds (evaluation.ensembles), the model
# "{model}_ensemble" with the single seed 0, its predictions the mean of the seeds' predictions.
# From here on (metrics, summary, figures) it is compared like any model; it has no training.


# results/models/{model}_ensemble/seed0/predictions.h5 matches predict's pattern too
ruleorder: ensemble > predict


rule ensemble:
    input:
        members=ensemble_members,
    output:
        predictions=f"results/models/{{model}}{ENSEMBLE_SUFFIX}/seed0/predictions.h5",
    log:
        f"logs/ensemble/{{model}}{ENSEMBLE_SUFFIX}.log",
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

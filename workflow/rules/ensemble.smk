# Seed ensembles: for every network with two or more seeds (evaluation.ensembles), the model
# "{model}_ensemble" with the single seed 0, its predictions the mean of the seeds' predictions,
# on the nominal test set, on every systematic variant and (widths) on the validation split,
# where the ensemble's own widths are calibrated. From here on (metrics, tables,
# figures) it is compared like any model; it has no training.


rule ensemble:
    input:
        members=get_ensemble_members,
        widths=get_ensemble_widths,
    output:
        predictions=f"{ENSEMBLES}/{{testset}}predictions.h5",
    log:
        f"logs/ensemble/{{model}}{ENSEMBLE_SUFFIX}/{{testset}}ensemble.log",
    wildcard_constraints:
        model=ENSEMBLED_NETWORKS,
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("evaluation_mb"),
        runtime=10,
    params:
        model="{model}",
        seeds=get_model_seeds,
    script:
        "../scripts/ensemble.py"

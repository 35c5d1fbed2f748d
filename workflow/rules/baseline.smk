# Classical reconstruction (plane-front fit, lateral distribution fit, S(1000) calibration):
# the model "baseline" with the single seed 0. Like a network it is fitted once (its energy
# calibration on the training split) and then reconstructs every test set with that fit: the
# nominal test split, the validation split (where its widths are calibrated, calibration.smk)
# and every systematic variant (never refitted).


rule baseline:
    input:
        showers=f"{DATA}/showers.h5",
        train=f"{DATA}/train.h5",
    output:
        calibration=f"results/models/{BASELINE}/seed0/calibration.json",
    log:
        "logs/baseline.log",
    benchmark:
        "benchmarks/baseline.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("baseline_mb"),
        runtime=resource("baseline_minutes"),
    params:
        baseline=config["baseline"],
        array=config["simulation"]["array"],
        memory_budget_mb=config["preparation"]["memory_budget_mb"],
    script:
        "../scripts/baseline.py"


rule baseline_predict:
    input:
        showers=get_showers,
        test=get_test_set,
        calibration=f"results/models/{BASELINE}/seed0/calibration.json",
        widths=get_baseline_widths,
    output:
        predictions=f"results/models/{BASELINE}/seed0/{{testset}}predictions.h5",
    log:
        "logs/baseline_predict/{testset}predict.log",
    benchmark:
        "benchmarks/baseline_predict/{testset}predict.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("baseline_mb"),
        runtime=resource("baseline_minutes"),
    params:
        baseline=config["baseline"],
        array=config["simulation"]["array"],
        memory_budget_mb=config["preparation"]["memory_budget_mb"],
    script:
        "../scripts/baseline_predict.py"

# Classical reconstruction (plane-front fit, lateral distribution fit, S(1000) calibration):
# the model "baseline" with the single seed 0.


rule baseline:
    input:
        showers=f"{DATA}/showers.h5",
        train=f"{DATA}/train.h5",
        test=f"{DATA}/test.h5",
    output:
        predictions=f"results/models/{BASELINE}/seed0/predictions.h5",
        calibration=f"results/models/{BASELINE}/seed0/calibration.json",
    log:
        "logs/baseline.log",
    benchmark:
        "benchmarks/baseline.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        baseline=config["baseline"],
        array=config["simulation"]["array"],
    script:
        "../scripts/baseline.py"

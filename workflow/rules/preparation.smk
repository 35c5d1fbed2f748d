# Train/validation/test split and normalization fitted on the training split only; x holds
# every input channel and normalization.json the statistics of every target transform, so each
# model picks its own (training.inputs, training.target_transform).


rule prepare:
    input:
        showers=f"{DATA}/showers.h5",
    output:
        train=f"{DATA}/train.h5",
        val=f"{DATA}/val.h5",
        test=f"{DATA}/test.h5",
        normalization=f"{DATA}/normalization.json",
    log:
        "logs/prepare.log",
    benchmark:
        "benchmarks/prepare.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("preparation_mb"),
        runtime=resource("preparation_minutes"),
    params:
        preparation=config["preparation"],
        seed=config["seed"],
        baseline=config["baseline"],
    script:
        "../scripts/prepare.py"

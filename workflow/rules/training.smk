# One training job per (model, seed); resumable from results/checkpoints (not a rule output:
# Snakemake deletes the outputs of a failed job, the checkpoint must survive it).


rule train:
    input:
        train=f"{DATA}/train.h5",
        val=f"{DATA}/val.h5",
        normalization=f"{DATA}/normalization.json",
    output:
        model=f"{MODELS}/model.keras",
        history=f"{MODELS}/history.csv",
        info=f"{MODELS}/training.json",
    log:
        "logs/train/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{model}/seed{seed}.tsv"
    conda:
        "../envs/study.yaml"
    threads: lambda w: training_settings(config, w.model)["threads"]
    resources:
        gpu=training_resources("gpus"),
        mem_mb=6000,
        runtime=240,
    params:
        model="{model}",
        seed=lambda w: int(w.seed),
        spec=lambda w: config["models"][w.model],
        training=lambda w: training_settings(config, w.model),
        study_seed=config["seed"],
        checkpoint_dir="results/checkpoints/{model}/seed{seed}",
    script:
        "../scripts/train.py"


rule predict:
    input:
        model=f"{MODELS}/model.keras",
        test=f"{DATA}/test.h5",
        normalization=f"{DATA}/normalization.json",
    output:
        predictions=f"{MODELS}/predictions.h5",
    log:
        "logs/predict/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/predict/{model}/seed{seed}.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1  # a test split is seconds of inference; the job's time is Keras' start-up
    resources:
        gpu=training_resources("gpus"),
        mem_mb=4000,
        runtime=30,
    params:
        model="{model}",
        seed=lambda w: int(w.seed),
        batch_size=lambda w: training_settings(config, w.model)["batch_size"],
        inputs=lambda w: training_settings(config, w.model)["inputs"],
        targets=lambda w: config["models"][w.model]["targets"],
        target_transform=lambda w: training_settings(config, w.model)[
            "target_transform"
        ],
    script:
        "../scripts/predict.py"

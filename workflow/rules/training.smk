# One training job per (model, seed); resumable from results/checkpoints (not a rule output:
# Snakemake deletes the outputs of a failed job, the checkpoint must survive it). One prediction
# job per (model, seed) and test set: the nominal test split and every systematic variant, and
# for a network with widths the validation split, on which its widths are calibrated
# (calibration.smk); its other predictions carry the calibrated widths beside the raw ones.


rule train:
    input:
        unpack(get_refit_showers),
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
    wildcard_constraints:
        model=NETWORKS,
    conda:
        "../envs/study.yaml"
    threads: get_threads
    resources:
        gpu=get_gpus,
        mem_mb=resource("training_mb"),
        runtime=resource("training_minutes"),
    params:
        model="{model}",
        seed=get_seed,
        spec=get_model_spec,
        training=get_training_settings,
        study_seed=config["seed"],
        checkpoint_dir="results/checkpoints/{model}/seed{seed}",
        memory_budget_mb=config["preparation"]["memory_budget_mb"],
        baseline=get_refit_settings,
    script:
        "../scripts/train.py"


rule predict:
    input:
        model=f"{MODELS}/model.keras",
        test=get_test_set,
        normalization=f"{DATA}/normalization.json",
        widths=get_widths,
    output:
        predictions=f"{MODELS}/{{testset}}predictions.h5",
    log:
        "logs/predict/{model}/seed{seed}/{testset}predict.log",
    benchmark:
        "benchmarks/predict/{model}/seed{seed}/{testset}predict.tsv"
    wildcard_constraints:
        model=NETWORKS,
    conda:
        "../envs/study.yaml"
    threads: 1  # a test split is seconds of inference; the job's time is Keras' start-up
    resources:
        gpu=get_gpus,
        mem_mb=resource("prediction_mb"),
        runtime=resource("prediction_minutes"),
    params:
        model="{model}",
        seed=get_seed,
        batch_size=get_batch_size,
        inputs=get_inputs,
        targets=get_network_targets,
        target_transform=get_target_transform,
        memory_budget_mb=config["preparation"]["memory_budget_mb"],
    script:
        "../scripts/predict.py"

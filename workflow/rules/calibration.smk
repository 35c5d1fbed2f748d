# Calibration of the per-event widths (airshower.widths): for every model with widths (the
# networks with a gaussian output, their seed ensembles, the baseline), one factor of its widths
# fitted on its predictions of the VALIDATION split, never the test split (the rule's only
# input), and applied by the jobs that write its test and variant predictions (predict,
# ensemble, baseline_predict: input "widths").


rule calibrate_widths:
    input:
        predictions=f"{MODELS}/validation/predictions.h5",
    output:
        calibration=f"{MODELS}/widths.json",
    log:
        "logs/calibrate_widths/{model}/seed{seed}.log",
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("evaluation_mb"),
        runtime=10,
    params:
        calibration=config["calibration"],
    script:
        "../scripts/calibrate_widths.py"

# Toy air-shower simulation in independent shards, merged into one file.


rule simulate:
    output:
        showers=temp(f"{DATA}/shards/{{shard}}.h5"),
    params:
        simulation=config["simulation"],
        seed=config["seed"],
    log:
        "logs/simulate/{shard}.log",
    benchmark:
        "benchmarks/simulate/{shard}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=30,
    conda:
        "../envs/study.yaml"
    script:
        "../../scripts/simulate.py"


rule merge_showers:
    input:
        shards=shard_files(),
    output:
        showers=f"{DATA}/showers.h5",
    params:
        simulation=config["simulation"],
        seed=config["seed"],
    log:
        "logs/merge_showers.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../envs/study.yaml"
    script:
        "../../scripts/merge_showers.py"

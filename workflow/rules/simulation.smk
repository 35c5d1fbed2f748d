# Toy air-shower simulation in independent shards, merged into one file.


rule simulate:
    output:
        showers=temp(f"{DATA}/shards/{{shard}}.h5"),
    log:
        "logs/simulate/{shard}.log",
    benchmark:
        "benchmarks/simulate/{shard}.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("simulation_mb"),
        runtime=30,
    params:
        simulation=config["simulation"],
        seed=config["seed"],
    script:
        "../scripts/simulate.py"


rule merge_showers:
    input:
        shards=shard_files(),
    output:
        showers=f"{DATA}/showers.h5",
    log:
        "logs/merge_showers.log",
    benchmark:
        "benchmarks/merge_showers.tsv"
    localrule: resources.merge_is_local(config)
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=resource("simulation_mb"),
        runtime=10,
    params:
        simulation=config["simulation"],
        seed=config["seed"],
    script:
        "../scripts/merge_showers.py"

# The study's showers: the toy simulation in independent shards, merged into one file; or a file
# made elsewhere (showers.file), checked against the data contract and copied in, before any other
# job runs (docs/data-contract.md).


if config["showers"]["file"]:

    rule import_showers:
        input:
            showers=config["showers"]["file"],
        output:
            showers=f"{DATA}/showers.h5",
        log:
            "logs/import_showers.log",
        benchmark:
            "benchmarks/import_showers.tsv"
        conda:
            "../envs/study.yaml"
        threads: 1
        resources:
            mem_mb=resource("import_showers_mb"),
            runtime=resource("preparation_minutes"),
        params:
            array=config["simulation"]["array"],
        script:
            "../scripts/import_showers.py"

else:

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

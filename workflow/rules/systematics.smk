# Systematic test variants (airshower.systematics): the nominal test set simulated again with
# another hadronic model or detector, from the variant's own random streams and with the size of
# the nominal test split, then prepared with the NOMINAL normalization (never refitted). A
# variant is the wildcard {variant}: adding one to systematics.run runs only its own jobs (the
# params below are the variant's own section, not the whole list).

VARIANTS = "results/variants/{variant}"


wildcard_constraints:
    variant=r"[a-z][a-z0-9+-]*",


def variant_section(wildcards):
    """The config section of variant ``wildcards.variant`` (schema defaults filled)."""
    variants = config["systematics"]["variants"]
    if wildcards.variant not in variants:
        raise WorkflowError(
            f"variant '{wildcards.variant}' is not defined in systematics.variants "
            f"(defined: {', '.join(variants)})"
        )
    return variants[wildcards.variant]


def variant_mem_mb(wildcards):
    """The simulation's peak memory (bench/simulation.py: about 10 MB per 1000 events without
    traces, 140 MB with) for the events of the nominal test split, plus the interpreter.
    """
    from airshower.systematics import test_size

    sim = config["simulation"]
    n = test_size(sim["n_events"], config["preparation"]["fractions"])
    per_1000 = 140 if sim["store_traces"] else 10
    return 300 + per_1000 * n // 1000


rule simulate_variant:
    output:
        showers=f"{VARIANTS}/showers.h5",
    log:
        "logs/simulate_variant/{variant}.log",
    benchmark:
        "benchmarks/simulate_variant/{variant}.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=variant_mem_mb,
        runtime=30,
    params:
        simulation=config["simulation"],
        preparation=config["preparation"],
        variant=variant_section,
        seed=config["seed"],
    script:
        "../scripts/simulate_variant.py"


rule prepare_variant:
    input:
        showers=f"{VARIANTS}/showers.h5",
        normalization=f"{DATA}/normalization.json",
    output:
        test=f"{VARIANTS}/test.h5",
    log:
        "logs/prepare_variant/{variant}.log",
    benchmark:
        "benchmarks/prepare_variant/{variant}.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        preparation=config["preparation"],
        seed=config["seed"],
    script:
        "../scripts/prepare_variant.py"


def systematics_outputs():
    """The systematics table and figures of the study (none while systematics.run is empty)."""
    return []

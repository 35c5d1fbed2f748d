"""What the jobs declare to a scheduler (airshower.resources): it follows the study's size below the
memory budget and stops growing (but for the per-event arrays) above it."""

import re

import pytest

from airshower import preparation, resources
from airshower.config import validate_config
from conftest import ROOT, read_config

MEMORY = (
    "simulation_mb",
    "preparation_mb",
    "training_mb",
    "prediction_mb",
    "baseline_mb",
    "showers_plot_mb",
    "variant_mb",
    "variant_preparation_mb",
    "evaluation_mb",
)


def scale(n_events: int, budget_mb: int = 2000, traces: bool = False) -> dict:
    cfg = read_config("scale.yaml")
    cfg["simulation"].update(n_events=n_events, n_shards=max(1, n_events // 50_000), store_traces=traces)
    cfg["preparation"]["memory_budget_mb"] = budget_mb
    return validate_config(cfg)


@pytest.mark.parametrize("name", MEMORY)
def test_declared_memory_grows_with_the_study_and_is_bounded_by_the_budget(name):
    """Below the budget (10k to 20k showers) a job's memory grows with the showers; at any size it
    stays below its base, the budget and the per-event arrays."""
    small, large = (getattr(resources, name)(scale(n)) for n in (10_000, 20_000))
    assert isinstance(small, int)
    assert resources.INTERPRETER_MB <= small <= large
    for n in (10_000, 400_000, 2_000_000):
        cfg = scale(n)
        bound = (
            resources.KERAS_MB
            + 2 * resources.INTERPRETER_MB
            + 2000
            + 2 * resources.PER_EVENT_PER_1000_MB * n / 1000
        )
        assert getattr(resources, name)(cfg) <= max(bound, resources.evaluation_mb(cfg)), n


def test_above_the_budget_the_data_stages_grow_by_the_per_event_arrays_only():
    """Between 1M and 2M showers (both above the 2,000 MB budget) the block-by-block stages add
    at most the per-event arrays; below the budget the preparation follows its estimate."""
    per_event = resources.PER_EVENT_PER_1000_MB * (2_000_000 - 1_000_000) / 1000
    for name in ("preparation_mb", "training_mb", "prediction_mb", "baseline_mb", "showers_plot_mb"):
        grown = getattr(resources, name)(scale(2_000_000)) - getattr(resources, name)(scale(1_000_000))
        assert 0 <= grown <= 2 * per_event + 1, name
    small = scale(20_000)
    estimate = preparation.memory_estimate_mb(20_000, 196)
    assert estimate < 2000  # in one piece: the estimate, the interpreter and the per-event arrays
    assert resources.preparation_mb(small) == int(2 * resources.INTERPRETER_MB + estimate + 0.5 * 20)


def test_the_simulation_follows_the_shard_and_the_traces():
    assert resources.simulation_mb(scale(400_000)) == resources.INTERPRETER_MB + 10 * 50  # 8 shards of 50k
    assert resources.simulation_mb(scale(400_000, traces=True)) == resources.INTERPRETER_MB + 210 * 50


def test_merge_runs_in_snakemake_only_for_small_studies():
    assert resources.merge_is_local(scale(resources.MERGE_LOCAL_MAX_EVENTS))
    assert not resources.merge_is_local(scale(resources.MERGE_LOCAL_MAX_EVENTS + 1))


def test_runtimes_cover_the_measured_throughput_with_margin():
    """At 2M showers prepare and the baseline declare their measured time (docs/performance.md)
    times RUNTIME_SAFETY; never below 10 minutes."""
    cfg = scale(2_000_000)
    assert resources.preparation_minutes(cfg) >= 2_000_000 / resources.PREPARE_SHOWERS_PER_S / 60 * 4
    assert resources.baseline_minutes(cfg) >= 2_000_000 / resources.BASELINE_SHOWERS_PER_S / 60 * 4
    assert resources.preparation_minutes(scale(3000)) == resources.baseline_minutes(scale(3000)) == 10


def test_a_retried_job_asks_for_more_and_every_rule_resource_exists():
    cfg = scale(400_000)
    for name in resources.RESOURCES:
        first = resources.declared(name, cfg)
        assert first == getattr(resources, name)(cfg) > 0
        assert resources.declared(name, cfg, attempt=2) == 2 * first
    with pytest.raises(KeyError, match="no resource 'gpu_mb'"):
        resources.declared("gpu_mb", cfg)
    rules = "".join(path.read_text() for path in (ROOT / "workflow" / "rules").glob("*.smk"))
    used = set(re.findall(r'resource\("(\w+)"\)', rules))
    assert used == set(resources.RESOURCES)  # every function a rule uses, and no other

"""What every job of the study declares to a scheduler (the rules' ``resources``: ``mem_mb`` in MB,
``runtime`` in minutes), derived from the study's size: the number of showers, the array, the
traces and ``preparation.memory_budget_mb``, above which the data stages work block by block and
their memory stops growing with the showers.

The constants are measured peaks (``scripts/bench/scale.py``, ``docs/performance.md``: peak resident memory
of every stage at 50,000, 400,000 and 2,000,000 showers on a 2-core machine) with a margin: a
declared limit is what a Slurm job is killed above, so each is the measurement plus at least 30 %.
The functions take the validated config (:func:`airshower.config.load_config`); the rules call them
through ``workflow/rules/common.smk``.
"""

from __future__ import annotations

from collections.abc import Mapping

from airshower import baseline, plotting, preparation, showerfile, systematics
from airshower.inputs import CHANNELS

# Python with numpy, h5py, scipy and matplotlib (about 200 MB measured); and with Keras, its
# backend and a model (0.8-1.5 GB measured, the larger for the convolutional networks)
INTERPRETER_MB = 500
KERAS_MB = 2000
# a simulation shard's peak per 1000 showers (scripts/bench/simulation.py): without traces, and with the
# two truth traces and the recorded one
SHOWERS_PER_1000_MB = {False: 10, True: 210}
# what a job holds for every event of the study whatever the budget (labels, split indices, the
# plane fits, the baseline's per-event reconstruction): MB per 1000 showers
PER_EVENT_PER_1000_MB = 0.5
# a merge runs inside the Snakemake process (on a cluster: on the submitting node) up to this many
# showers, and as a job of its own above (it reads and writes every shower once: minutes)
MERGE_LOCAL_MAX_EVENTS = 100_000
# the slowest data stages' throughput on the 2-core machine of docs/performance.md (showers/s of
# prepare and of the baseline's reconstruction), for their runtime with a factor of 4 for slower
# machines
PREPARE_SHOWERS_PER_S = 2000.0
BASELINE_SHOWERS_PER_S = 5000.0
RUNTIME_SAFETY = 4.0


def declared(name: str, cfg: Mapping, attempt: int = 1) -> int:
    """The resource ``name`` (a function of this module: ``training_mb``, ``preparation_minutes``,
    ...) for a job's ``attempt``: a job retried after a kill for memory or wall time (the Slurm
    profile's ``retries``) asks for twice, then three times as much."""
    if name not in RESOURCES:
        raise KeyError(f"airshower.resources has no resource {name!r}: one of {', '.join(RESOURCES)}")
    return int(globals()[name](cfg)) * int(attempt)


def _n_events(cfg: Mapping) -> int:
    return int(cfg["simulation"]["n_events"])


def _n_stations(cfg: Mapping) -> int:
    return int(cfg["simulation"]["array"]["n_side"]) ** 2


def _n_bins(cfg: Mapping) -> int:
    sim = cfg["simulation"]
    return int(sim["trace"]["n_bins"]) if sim["store_traces"] else 0


def _budget(cfg: Mapping) -> float:
    return float(cfg["preparation"]["memory_budget_mb"])


def _per_event_mb(cfg: Mapping) -> float:
    return PER_EVENT_PER_1000_MB * _n_events(cfg) / 1000


def _in_memory(estimate_mb: float, cfg: Mapping) -> float:
    """What a job holds of its data: the estimate where it fits the budget; above it the job works
    block by block (or batch by batch), in memory that does not grow with the study (a few
    hundred MB, within the base the job declares anyway)."""
    return estimate_mb if estimate_mb <= _budget(cfg) else 0.0


def _minutes(n_events: int, per_s: float, at_least: int = 10) -> int:
    return max(at_least, int(RUNTIME_SAFETY * n_events / per_s / 60) + 1)


def simulation_mb(cfg: Mapping) -> int:
    """A simulation shard, and the merge (it holds one shard at a time)."""
    sim = cfg["simulation"]
    per_shard = -(-sim["n_events"] // sim["n_shards"])
    return INTERPRETER_MB + SHOWERS_PER_1000_MB[bool(sim["store_traces"])] * per_shard // 1000


def import_showers_mb(cfg: Mapping) -> int:
    """import_showers: a file made elsewhere checked block by block (its labels at once) and copied."""
    return int(2 * INTERPRETER_MB + 2 * _per_event_mb(cfg))


def merge_is_local(cfg: Mapping) -> bool:
    """Whether ``merge_showers`` runs in the Snakemake process (:data:`MERGE_LOCAL_MAX_EVENTS`)."""
    return _n_events(cfg) <= MERGE_LOCAL_MAX_EVENTS


def preparation_mb(cfg: Mapping) -> int:
    """prepare: the estimate of a preparation in one piece (:func:`airshower.preparation.memory_estimate_mb`)
    where it fits the budget (above it the job works block by block), plus the interpreter, the
    baseline's plane fit and the per-event arrays."""
    estimate = preparation.memory_estimate_mb(_n_events(cfg), _n_stations(cfg), _n_bins(cfg))
    return int(2 * INTERPRETER_MB + _in_memory(estimate, cfg) + _per_event_mb(cfg))


def preparation_minutes(cfg: Mapping) -> int:
    return _minutes(_n_events(cfg), PREPARE_SHOWERS_PER_S)


def _split_inputs_mb(cfg: Mapping, splits: tuple[str, ...]) -> float:
    """The inputs of ``splits`` held in memory: ``x`` with every channel read and (at most) as many
    picked for the model, float32."""
    sizes = preparation.split_sizes(_n_events(cfg), cfg["preparation"]["fractions"])
    n_channels = len(CHANNELS) + _n_bins(cfg)
    events = sum(sizes[name] for name in splits)
    return events * _n_stations(cfg) * 2 * n_channels * 4 / 1e6


def training_minutes(_cfg: Mapping) -> int:
    """train: 4 hours (a training killed at its wall time resumes from its last epoch)."""
    return 240


def training_mb(cfg: Mapping) -> int:
    """train: Keras and a model, and the training and validation inputs where they fit the budget
    (above it they are read from disk batch by batch)."""
    inputs = _split_inputs_mb(cfg, ("train", "val"))
    return int(KERAS_MB + _in_memory(inputs, cfg) + _per_event_mb(cfg))


def prediction_mb(cfg: Mapping) -> int:
    """predict: Keras and a model, and the largest test set's inputs (the validation split's or the
    test split's) where they fit the budget."""
    inputs = max(_split_inputs_mb(cfg, ("val",)), _split_inputs_mb(cfg, ("test",)))
    return int(KERAS_MB + _in_memory(inputs, cfg) + _per_event_mb(cfg))


def prediction_minutes(_cfg: Mapping) -> int:
    return 30


def baseline_mb(cfg: Mapping) -> int:
    """baseline and baseline_predict: the showers' time and signal held as
    :data:`airshower.baseline.IMAGE_COPIES` copies where they fit the budget (above it block by
    block), and every event's labels and reconstruction."""
    images = showerfile.images_mb(_n_events(cfg), _n_stations(cfg), baseline.IMAGE_COPIES)
    return int(2 * INTERPRETER_MB + _in_memory(images, cfg) + 2 * _per_event_mb(cfg))


def baseline_minutes(cfg: Mapping) -> int:
    return _minutes(_n_events(cfg), BASELINE_SHOWERS_PER_S)


def showers_plot_mb(cfg: Mapping) -> int:
    """plot_data: the showers' time and signal (:data:`airshower.plotting.IMAGE_COPIES` copies) where
    they fit the budget, and the labels."""
    images = showerfile.images_mb(_n_events(cfg), _n_stations(cfg), plotting.IMAGE_COPIES)
    return int(2 * INTERPRETER_MB + _in_memory(images, cfg) + _per_event_mb(cfg))


def variant_mb(cfg: Mapping) -> int:
    """simulate_variant: a simulation of the events of the nominal test split (without the
    recorded trace's share: a variant's showers keep the truth traces only where asked)."""
    per_1000 = 140 if cfg["simulation"]["store_traces"] else SHOWERS_PER_1000_MB[False]
    n_test = systematics.test_size(_n_events(cfg), cfg["preparation"]["fractions"])
    return INTERPRETER_MB + per_1000 * n_test // 1000


def variant_preparation_mb(cfg: Mapping) -> int:
    """prepare_variant: a variant's showers (the test split's size) prepared in one piece."""
    n_test = systematics.test_size(_n_events(cfg), cfg["preparation"]["fractions"])
    estimate = preparation.memory_estimate_mb(n_test, _n_stations(cfg), _n_bins(cfg))
    return int(2 * INTERPRETER_MB + estimate)


def evaluation_mb(cfg: Mapping) -> int:
    """The jobs that read predictions (metrics, tables, figures): a test set's per-event
    predictions and the bootstrap's resamples, which grow with the test split."""
    n_test = systematics.test_size(_n_events(cfg), cfg["preparation"]["fractions"])
    return int(1000 + 20 * n_test / 1000)


# what declared() serves: the rules' memory (MB) and runtime (minutes) functions
RESOURCES = (
    "simulation_mb",
    "import_showers_mb",
    "preparation_mb",
    "preparation_minutes",
    "training_mb",
    "training_minutes",
    "prediction_mb",
    "prediction_minutes",
    "baseline_mb",
    "baseline_minutes",
    "showers_plot_mb",
    "variant_mb",
    "variant_preparation_mb",
    "evaluation_mb",
)

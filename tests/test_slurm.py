"""The Slurm profile: its site settings (fast), and a slice of the test study through a real
single-node Slurm.

The first tests read profiles/slurm as Snakemake does and check what the environment variables
documented there turn into. The others (markers slurm, slow) run a slice of the test study's DAG on
a real cluster: the energy metrics of one network and of the baseline, which takes one job of every
kind that runs on a cluster (simulation shards, preparation, training, prediction, baseline fit,
its predictions of the validation and the test split, the calibration of its widths, metrics)
and one local rule (the merge of the shards). tests/slurm_cluster.py starts munged,
slurmctld and slurmd (root only; the test skips with the reason where they cannot run); the slice
runs in a temporary copy of the repository with `--profile profiles/slurm` plus what a one-node test
cluster needs (its partition through the profile's environment variable, no account, fast status
polling with squeue since accounting is off), and the daemons are stopped again. The tests then
check that every job of a non-local rule ran as its own Slurm job, that all of them completed, and
that the results equal those of the local run (`study` fixture): CPU training with one thread is
deterministic, so equality is exact. The whole study through Slurm adds nothing to this but a
hundred more jobs that each start Python and Keras (20 minutes on 2 cores).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, copy_repo, snakemake
from slurm_cluster import SlurmUnavailable, local_slurm

CONFIG = ("--configfile", "config/test.yaml")
# only what a one-node test cluster without accounting needs on top of the profile
LOCAL_NODE = (
    "--profile",
    "profiles/slurm",
    "--slurm-no-account",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "2",
)
PARTITION = "airshower"  # of the test cluster
# the profile's site settings
ENVIRON = (
    "AIRSHOWER_SLURM_PARTITION",
    "AIRSHOWER_SLURM_ACCOUNT",
    "AIRSHOWER_SLURM_GPU_PARTITION",
    "AIRSHOWER_SLURM_GPU_MODEL",
)
# the slice of the test study run through Slurm: its files, and the rules whose jobs must run on the
# cluster (the merge of the simulation shards is a local rule)
SLICE = ("results/models/fcn/seed1/metrics/energy.json", "results/models/baseline/seed0/metrics/energy.json")
CLUSTER_RULES = {
    "simulate",
    "prepare",
    "train",
    "predict",
    "baseline",
    "baseline_predict",
    "calibrate_widths",
    "metrics",
}


@dataclass(frozen=True)
class SlurmRun:
    """What the Slurm run left behind: its working directory, its output and the controller's log."""

    workdir: Path
    stdout: str  # stdout and stderr of the run
    dry_run: str  # the same of the dry run before it
    ctld_log: str
    wall_s: float


def profile_resources(monkeypatch, **environ) -> tuple[dict, dict]:
    """default-resources and set-resources of profiles/slurm as Snakemake reads them, values evaluated."""
    from snakemake.cli import parse_args

    for name in ENVIRON:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    _, args = parse_args(["--profile", "profiles/slurm", *CONFIG, "--dry-run"])
    assert args.executor == "slurm"

    def value(resource):
        try:
            return eval(resource.raw, {"attempt": 2})
        except (NameError, SyntaxError, TypeError):
            return resource.raw

    defaults = {name: value(r) for name, r in args.default_resources.items()}
    per_rule = {rule: {name: value(r) for name, r in res.items()} for rule, res in args.set_resources.items()}
    return defaults, per_rule


def test_profile_reads_the_site_settings_from_the_environment(monkeypatch):
    defaults, per_rule = profile_resources(
        monkeypatch,
        AIRSHOWER_SLURM_PARTITION="cpu",
        AIRSHOWER_SLURM_ACCOUNT="astro1",
        AIRSHOWER_SLURM_GPU_MODEL="a100",
    )
    assert (defaults["slurm_partition"], defaults["slurm_account"]) == ("cpu", "astro1")
    for rule in ("train", "predict"):
        # without a GPU partition of its own, the GPU rules fall back to the partition of all jobs
        assert (per_rule[rule]["slurm_partition"], per_rule[rule]["gpu_model"]) == ("cpu", "a100")
    # memory and wall time are the rules' own (airshower.resources, from the study's size and the
    # attempt): the profile does not replace them
    assert not {"mem_mb", "runtime"} & {name for rule in per_rule.values() for name in rule}

    _, per_rule = profile_resources(
        monkeypatch, AIRSHOWER_SLURM_PARTITION="cpu", AIRSHOWER_SLURM_GPU_PARTITION="gpu"
    )
    assert per_rule["train"]["slurm_partition"] == per_rule["predict"]["slurm_partition"] == "gpu"


def test_profile_without_environment_leaves_the_choices_to_slurm(monkeypatch):
    defaults, per_rule = profile_resources(monkeypatch)
    # empty values: the plugin then passes no -p / -A / --gpus=<model> (Slurm's default partition)
    assert defaults["slurm_partition"] == defaults["slurm_account"] == ""
    assert per_rule["train"]["slurm_partition"] == per_rule["train"]["gpu_model"] == ""


# Session scope, so that pytest sets it up before the session fixture `study` (same scope: argument
# order): where Slurm cannot start, the tests skip without running the local study first.
@pytest.fixture(scope="session")
def slurm_run(tmp_path_factory) -> SlurmRun:
    """The slice of the test study through the private cluster, which is stopped again before the checks."""
    workdir = copy_repo(tmp_path_factory.mktemp("slurm_study"))
    with contextlib.ExitStack() as stack:
        try:
            # a partition that is not the default: only the profile's setting routes the jobs there
            cluster = stack.enter_context(
                local_slurm(tmp_path_factory.mktemp("slurm_cluster"), partition=PARTITION, default=False)
            )
        except SlurmUnavailable as exc:
            pytest.skip(f"no Slurm cluster can be started here: {exc}")
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("AIRSHOWER_SLURM_PARTITION", PARTITION)  # read by the profile
        dry = snakemake(workdir, *CONFIG, *LOCAL_NODE, "--dry-run", *SLICE)
        start = time.monotonic()
        proc = snakemake(workdir, *CONFIG, *LOCAL_NODE, "--jobs", str(cluster.cpus), *SLICE, check=False)
        wall_s = time.monotonic() - start
        ctld_log = (cluster.log_dir / "slurmctld.log").read_text()
        if proc.returncode != 0:
            pytest.fail(
                f"the study failed through Slurm:\n{proc.stderr[-6000:]}\n{cluster.daemon_logs()}"
                + "".join(
                    f"\n--- {p}\n{p.read_text()[-2000:]}"
                    for p in sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
                )
            )
    return SlurmRun(workdir, proc.stdout + proc.stderr, dry.stdout + dry.stderr, ctld_log, wall_s)


def job_stats(output: str) -> Counter:
    """The 'Job stats' table of a Snakemake run or dry run: rule -> number of jobs."""
    table = output.split("Job stats:", 1)[1]
    counts = Counter()
    for line in table.splitlines()[3:]:
        fields = line.split()
        if len(fields) != 2 or fields[0] == "total":
            break
        counts[fields[0]] = int(fields[1])
    return counts


def slurm_log_jobs(workdir: Path) -> dict[str, str]:
    """Slurm job id -> rule, from the job logs .snakemake/slurm_logs/rule_<rule>/[<wildcards>/]<id>.log."""
    jobs = {}
    for log in (workdir / ".snakemake" / "slurm_logs").glob("rule_*/**/*.log"):
        rule = log.relative_to(workdir / ".snakemake" / "slurm_logs").parts[0].removeprefix("rule_")
        jobs[log.stem] = rule
    return jobs


@pytest.mark.slurm
@pytest.mark.slow
def test_every_cluster_job_ran_through_slurm(slurm_run):
    expected = job_stats(slurm_run.dry_run)
    local = Counter(re.findall(r"^localrule (\w+):", slurm_run.stdout, flags=re.M))
    by_log = slurm_log_jobs(slurm_run.workdir)
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", slurm_run.stdout))
    in_ctld = set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", slurm_run.ctld_log))
    completed = set(re.findall(r"_job_complete: JobId=(\d+) WEXITSTATUS 0", slurm_run.ctld_log))
    partitions = set(re.findall(r"sched: Allocate JobId=\d+ .*Partition=(\S+)", slurm_run.ctld_log))

    on_slurm = Counter(by_log.values())
    print(
        f"\nSlurm: {len(by_log)} jobs ({dict(sorted(on_slurm.items()))}), local rules: {dict(local)}, "
        f"wall time through Slurm {slurm_run.wall_s:.0f} s"
    )
    # each job of the dry run ran exactly once, either as a Slurm job or (local rules only) in place
    assert on_slurm + local == expected
    assert not set(on_slurm) & set(local)
    assert set(on_slurm) >= CLUSTER_RULES
    # the job logs, Snakemake's submissions and the controller's records name the same jobs
    assert set(by_log) == submitted == in_ctld
    assert completed >= in_ctld, f"jobs without exit status 0: {sorted(in_ctld - completed, key=int)}"
    assert partitions == {PARTITION}  # from AIRSHOWER_SLURM_PARTITION through the profile
    # each Slurm job ran Snakemake's job step for its rule (the executor plugin's srun wrapper)
    for job_id, rule in by_log.items():
        log = next((slurm_run.workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}").rglob(f"{job_id}.log"))
        assert "--executor slurm-jobstep" in log.read_text(), log


def h5_datasets(path: Path) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as fh:
        return {name: fh[name][()] for name in fh if isinstance(fh[name], h5py.Dataset)}


@pytest.mark.slurm
@pytest.mark.slow
def test_simulation_equals_the_local_run(slurm_run, study):
    ours = h5_datasets(slurm_run.workdir / "results" / "data" / "showers.h5")
    local = h5_datasets(study / "results" / "data" / "showers.h5")
    assert sorted(ours) == sorted(local)
    for name, array in local.items():
        # NaN marks silent stations: equal where both are NaN
        np.testing.assert_array_equal(ours[name], array, err_msg=f"showers.h5:{name}")


@pytest.mark.slurm
@pytest.mark.slow
def test_metrics_equal_the_local_run(slurm_run, study):
    for rel in SLICE:
        ours = json.loads((slurm_run.workdir / rel).read_text())
        assert ours == json.loads((study / rel).read_text()), rel
    # the network's predictions too, to the last bit (one CPU thread, same seeds)
    rel = Path("results/models/fcn/seed1/predictions.h5")
    ours, local = h5_datasets(slurm_run.workdir / rel), h5_datasets(study / rel)
    assert sorted(ours) == sorted(local)
    for name, array in local.items():
        np.testing.assert_array_equal(ours[name], array, err_msg=f"{rel}:{name}")


@pytest.mark.slurm
@pytest.mark.slow
def test_wall_time_compared_with_the_local_run(slurm_run, study):
    """Not a performance claim: prints both wall times for the record (Slurm adds seconds per job)."""
    local_logs = sorted((study / ".snakemake" / "log").glob("*.snakemake.log"))
    match = re.search(r"Elapsed time: (\d+):(\d+):([\d.]+)", local_logs[0].read_text())
    assert match, local_logs[0]
    h, m, s = match.groups()
    local_s = 3600 * int(h) + 60 * int(m) + float(s)
    print(f"\nwall time: {slurm_run.wall_s:.0f} s through Slurm, {local_s:.0f} s locally (--cores 2)")
    assert slurm_run.wall_s > 0
    assert local_s > 0

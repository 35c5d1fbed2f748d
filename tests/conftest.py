"""Shared fixtures and factories: the repository root, the shipped configs, showers that satisfy
the data contract, and a study run once per session in a copy of the repository."""

from __future__ import annotations

import copy
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from airshower import geometry

ROOT = Path(__file__).resolve().parents[1]


def read_config(name: str) -> dict:
    with open(ROOT / "config" / name) as fh:
        return yaml.safe_load(fh)


@pytest.fixture
def default_config() -> dict:
    """The default study's config as written (not yet validated)."""
    return copy.deepcopy(read_config("config.yaml"))


@pytest.fixture
def test_config() -> dict:
    """The tiny test study's config as written (not yet validated)."""
    return copy.deepcopy(read_config("test.yaml"))


def fake_showers(
    n: int, rng: np.random.Generator, side: int = 14, masses: tuple[int, ...] = (1,)
) -> dict[str, np.ndarray]:
    """Arrays that satisfy the raw-shower contract (not physical). ``masses``: the mass numbers,
    drawn uniformly per event where there are several (after every other draw, so the other
    arrays are those of a single mass)."""
    signal = rng.lognormal(3, 1, (n, side, side)).astype(np.float32)
    silent = rng.random((n, side, side)) < 0.7
    signal[silent] = np.nan
    time = rng.normal(0, 2, (n, side, side)).astype(np.float32)
    time[silent] = np.nan
    zenith = rng.uniform(0, 1, n).astype(np.float32)
    azimuth = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    axis = geometry.axis_vector(azimuth, zenith)
    grid = (np.arange(side) - (side - 1) / 2) * 750.0
    xx, yy = np.meshgrid(grid, grid, indexing="ij")
    detector = np.stack([xx.ravel(), yy.ravel(), np.zeros(side * side)], 1).astype(np.float32)
    showers = {
        "time": time,
        "signal": signal,
        "energy": rng.uniform(3, 100, n).astype(np.float32),
        "zenith": zenith,
        "azimuth": azimuth,
        "axis": axis.astype(np.float32),
        "core": rng.uniform(-750, 750, (n, 2)).astype(np.float32),
        "xmax": rng.normal(750, 60, n).astype(np.float32),
        "mass": np.full(n, masses[0], np.int16)
        if len(masses) == 1
        else rng.choice(masses, n).astype(np.int16),
        "detector": detector,
        # the reference fit of the residual, front and ldf channels (the prepare job's plane and
        # LDF fits): the true axis here, the times being random, and a tenth of the total signal
        "front_axis": axis.astype(np.float64),
        "ldf_s1000": np.nansum(signal, axis=(1, 2)).astype(np.float64) / 10.0,
    }
    # the muon target's label: the toy's muon share of the mass, attenuated with depth (no draw)
    share = 0.3 * showers["mass"].astype(np.float64) ** 0.15
    attenuation = 1.0 - (showers["xmax"] - 750.0) / 6000.0
    showers["muon"] = (share / (share + 0.7) / 0.3 * attenuation).astype(np.float32)
    return showers


SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", "workflow/Snakefile"]
COPY = ("workflow", "config", "profiles", "environment.yml")


def copy_repo(dest: Path) -> Path:
    """Copy what a study needs (not results/, not the venv) into ``dest``."""
    for name in COPY:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", ".snakemake")
            shutil.copytree(ROOT / name, dest / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, dest / name)
    return dest


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout_s: int = 1200
) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [*SNAKEMAKE, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    if check and proc.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((workdir / "logs").rglob("*.log"))
        )
        pytest.fail(
            f"snakemake {' '.join(args)} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}\n{logs}"
        )
    return proc


def run_study(workdir: Path) -> Path:
    """The test study in a fresh copy of the repository at ``workdir``, with its report."""
    copy_repo(workdir)
    snakemake(workdir, "--configfile", "config/test.yaml", "--cores", "2")
    snakemake(workdir, "--configfile", "config/test.yaml", "--cores", "1", "--report", "report.html")
    return workdir


@pytest.fixture(scope="session")
def study(tmp_path_factory, request) -> Path:
    """The test study run once per session in a temporary copy of the repository (with its report).

    Under pytest-xdist (``make test`` runs two workers) the workers share one run: the first to
    need it runs it under a file lock in the session's common temporary folder, the others wait and
    read it (a failed run is recorded, so the other worker fails at once instead of repeating it).
    """
    if not hasattr(request.config, "workerinput"):  # not an xdist worker
        return run_study(tmp_path_factory.mktemp("study"))
    shared = tmp_path_factory.getbasetemp().parent
    workdir, failed = shared / "study", shared / "study.failed"
    with open(shared / "study.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():
            pytest.fail(f"the shared test study failed on another worker:\n{failed.read_text()}")
        if not (workdir / "report.html").exists():
            try:
                run_study(workdir)
            except BaseException as exc:
                failed.write_text(str(exc)[-20000:])
                raise
    return workdir


# The slowest modules first. Under `make test` (pytest-xdist, --dist loadfile) each worker takes
# whole files in collection order: the Slurm study (mostly waiting on the scheduler's polls) and
# the backend trainings then overlap the other files instead of running last, alone.
SLOW_FIRST = ("test_slurm.py", "test_backends.py", "test_workflow.py", "test_report.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))  # stable: the rest as found

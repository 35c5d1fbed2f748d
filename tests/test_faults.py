"""Guards of long jobs (airshower.jobs): one job per folder at a time, none outliving its Snakemake.

The training with a killed Snakemake, end to end, is in test_training.py; here the guards alone,
with real processes where the kernel's part matters (lock release, reparenting).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from airshower import jobs

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="needs Linux (prctl)")


def test_second_job_fails_at_once_naming_the_holder(tmp_path):
    folder = tmp_path / "ckpt"
    with jobs.JobLock(folder, "training fcn seed 1") as first:
        holder = json.loads(first.path.read_text())
        assert (holder["pid"], holder["host"], holder["job"]) == (
            os.getpid(),
            socket.gethostname(),
            "training fcn seed 1",
        )
        with pytest.raises(jobs.JobLocked) as err:
            jobs.JobLock(folder, "training fcn seed 1").acquire()
    assert str(err.value).startswith(
        f"{folder / jobs.LOCK}: training fcn seed 1 is already running (process {os.getpid()} on host "
        f"{socket.gethostname()}, started {holder['started']}); two jobs must not write the same outputs"
    )
    assert f"`kill {os.getpid()}`" in str(err.value)
    assert not folder.exists()  # released: lock file and (empty) folder removed
    with jobs.JobLock(folder, "training fcn seed 1"):  # free again
        (folder / "checkpoint.npz").touch()
    assert [p.name for p in folder.iterdir()] == ["checkpoint.npz"]  # a folder with a checkpoint stays


def test_lock_of_a_killed_holder_is_free(tmp_path):
    """A job killed by SIGKILL (a Slurm wall-time kill ends so) leaves its lock file, not its lock."""
    folder = tmp_path / "ckpt"
    code = "import sys, time\nfrom airshower import jobs\njobs.JobLock(sys.argv[1], 'x').acquire()\n"
    code += "time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)])
    try:
        deadline = time.monotonic() + 30
        while not (folder / jobs.LOCK).exists() or not (folder / jobs.LOCK).read_text():
            assert holder.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(jobs.JobLocked, match=f"process {holder.pid} on"):
            jobs.JobLock(folder, "x").acquire()
    finally:
        holder.kill()
        holder.wait()
    assert json.loads((folder / jobs.LOCK).read_text())["pid"] == holder.pid  # stale file
    with jobs.JobLock(folder, "x") as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_without_file_locks_the_job_runs_with_a_warning(tmp_path, monkeypatch, caplog):
    def no_locks(fd, op):  # noqa: ARG001 - as Lustre mounted without flock answers
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(jobs.fcntl, "flock", no_locks)
    with caplog.at_level(logging.WARNING, logger="airshower.jobs"), jobs.JobLock(tmp_path / "ckpt", "x"):
        pass
    assert caplog.messages == [
        f"{tmp_path / 'ckpt' / jobs.LOCK}: cannot lock ([Errno 38] Function not implemented): "
        "running without the guard against a second job"
    ]


def test_watch_of_a_living_parent_finds_nothing():
    watch = jobs.ParentWatch()
    assert watch.ppid == os.getppid()
    assert watch.gone() is None
    job = jobs.Job("x")
    job.check("now")  # does not raise
    assert job.orphaned is None


@contextlib.contextmanager
def subreaper():
    """Orphaned descendants of this process become its children (so it can read their exit status)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        pytest.skip(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    try:
        yield
    finally:
        libc.prctl(36, 0, 0, 0, 0)


def exit_status(pid: int, timeout_s: float) -> int:
    """Wait for ``pid`` (killed after ``timeout_s``), a child once its parent is gone; its exit status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # not reparented to us yet
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"process {pid} still runs after {timeout_s} s")


SLEEPER = """
import sys, time
from airshower import jobs, logs

logs.setup(None)
with jobs.guard("sleeper", watch_s=0.05):
    open(sys.argv[1], "w").close()
    time.sleep(float(sys.argv[2]))
"""

# Stands in for Snakemake (the watch knows it by this file's name), with a shell between it and
# the job as bash before 5.1 leaves one: Snakemake -> sh -> job.
FAKE_SNAKEMAKE = """
import subprocess, sys
sys.exit(subprocess.call(sys.argv[1:]))
"""


def start_tree(tmp_path: Path, sleep_s: float, snakemake: bool) -> tuple[subprocess.Popen, int, int, Path]:
    """[fake Snakemake ->] sh -> sleeper: the first, the PIDs of sh and of the sleeper, the log."""
    (tmp_path / "sleeper.py").write_text(SLEEPER)
    (tmp_path / "snakemake").write_text(FAKE_SNAKEMAKE)
    started, log = tmp_path / "started", tmp_path / "sleeper.log"
    cmd = ["sh", "-c", '"$@" & wait $!', "sh", sys.executable, str(tmp_path / "sleeper.py"), str(started)]
    if snakemake:
        cmd = [sys.executable, str(tmp_path / "snakemake"), *cmd]
    with log.open("w") as fh:
        top = subprocess.Popen([*cmd, str(sleep_s)], stdout=fh, stderr=fh)
    deadline = time.monotonic() + 30
    while not started.exists():
        assert top.poll() is None, log.read_text()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    shell = psutil.Process(top.pid).children()[0] if snakemake else psutil.Process(top.pid)
    [sleeper] = shell.children()
    return top, shell.pid, sleeper.pid, log


@linux_only
def test_job_runs_to_its_end_while_snakemake_lives(tmp_path):
    snake, _, _, log = start_tree(tmp_path, sleep_s=0.5, snakemake=True)
    assert snake.wait(timeout=30) == 0, log.read_text()
    assert "ERROR" not in log.read_text()


@linux_only
@pytest.mark.parametrize("killed", ["parent", "snakemake"])
def test_orphaned_job_stops_with_status_1_and_says_why(tmp_path, killed):
    """SIGKILL to the job's parent (sh), or to the Snakemake process above the shell.

    Either way the job, blocked in a 60 s sleep, stops within a second with status 1 and an
    error naming the dead process. Its new parent (this test, a subreaper) reads the status:
    of the job itself, or of the shell, which passes the job's on.
    """
    with subreaper():
        top, shell, sleeper, log = start_tree(tmp_path, sleep_s=60, snakemake=killed == "snakemake")
        top.kill()
        top.wait(timeout=10)
        t0 = time.monotonic()
        status = exit_status(sleeper if killed == "parent" else shell, 10)
        assert time.monotonic() - t0 < 5
    assert status == 1, log.read_text()
    who = {
        "parent": f"its parent process {shell}",
        "snakemake": f"the Snakemake process {top.pid} that started it",
    }
    assert (
        f"ERROR airshower.jobs: sleeper: {who[killed]} is gone (killed?), so the job stops here (its outputs "
        "are written whole or not at all). To go on: run `snakemake --unlock` once, then the same command "
        "again"
    ) in log.read_text()


# Stands in for the workflow: announces itself as the workflow does (common.smk), then starts a
# job that, as a training importing its framework, takes a while before its guard starts.
ANNOUNCING_SNAKEMAKE = """
import os, subprocess, sys
from airshower import jobs
os.environ[jobs.SNAKEMAKE_ENV] = jobs.snakemake_identity()
sys.exit(subprocess.call(sys.argv[1:]))
"""

SLOW_STARTER = """
import sys, time
open(sys.argv[1], "w").close()  # launched
time.sleep(1.5)  # the framework's imports: Snakemake dies meanwhile
from airshower import jobs, logs

logs.setup(None)
with jobs.guard("slow starter"):
    open(sys.argv[2], "w").close()  # must never run
"""


@linux_only
def test_a_job_launched_just_before_snakemake_died_stops_too(tmp_path):
    """Snakemake killed within a second of the job's launch, before its guard: the job, which
    finds no Snakemake among its ancestors any more, still knows it from the environment and
    stops with status 1 before doing anything."""
    (tmp_path / "snakemake").write_text(ANNOUNCING_SNAKEMAKE)
    (tmp_path / "job.py").write_text(SLOW_STARTER)
    launched, worked, log = tmp_path / "launched", tmp_path / "worked", tmp_path / "job.log"
    with subreaper(), log.open("w") as fh:
        top = subprocess.Popen(
            [
                sys.executable,
                str(tmp_path / "snakemake"),
                sys.executable,
                str(tmp_path / "job.py"),
                str(launched),
                str(worked),
            ],
            stdout=fh,
            stderr=fh,
        )
        deadline = time.monotonic() + 30
        while not launched.exists():
            assert top.poll() is None, log.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        [job] = psutil.Process(top.pid).children()
        top.kill()  # within a second of the launch
        top.wait(timeout=10)
        status = exit_status(job.pid, 30)
    assert status == 1, log.read_text()
    assert not worked.exists()
    assert (
        f"slow starter: the Snakemake process {top.pid} that started it is gone (killed?)" in log.read_text()
    )

"""A real single-node Slurm for the cluster test, started and stopped by the test itself.

``local_slurm(tmp_dir)`` writes a one-node ``slurm.conf`` (node ``hostname -s`` with ``nproc`` CPUs
and most of the available memory, partition ``debug``) at the default path /etc/slurm/slurm.conf,
keeps state, spool, pid files and daemon logs under ``tmp_dir``, starts munged (unless one is already
running), slurmctld and slurmd, waits until ``sinfo`` shows the node idle, and on exit cancels the
jobs left on this private cluster and stops exactly the daemons it started (by their pid files).
A previous /etc/slurm/slurm.conf is restored (unless an interrupted run of this module wrote it).

Settings that matter (see also docs/slurm.md): no cgroups (``proctrack/linuxproc``, ``task/none``),
accounting off, so ``sacct`` does not answer and the workflow must poll with ``squeue``, which is
reliable because finished jobs stay visible for ``MinJobAge`` seconds. The config must sit at the
default path: the executor plugin's job step drops ``SLURM_CONF`` before its inner ``srun``.

Used only by tests/test_slurm.py; it raises ``SlurmUnavailable`` (the test skips) when the Slurm and
munge programs are missing or the test does not run as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
MUNGE_PIDFILE = Path("/run/munge/munged.pid")
PROGRAMS = ("munged", "slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "scontrol", "scancel")
MARKER = "# written by tests/slurm_cluster.py"


class SlurmUnavailable(RuntimeError):
    """Slurm cannot be started here (programs missing, not root, or another controller runs)."""


@dataclass(frozen=True)
class SlurmCluster:
    """What a test needs to know about the running single-node cluster."""

    node: str
    partition: str
    cpus: int
    real_memory_mb: int
    log_dir: Path

    def daemon_logs(self) -> str:
        """The controller's and the node daemon's logs, for failure messages."""
        parts = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.log_dir / name
            if path.exists():
                parts.append(f"==> {path} <==\n" + "\n".join(path.read_text().splitlines()[-40:]))
        return "\n".join(parts)


def available_memory_mb() -> int:
    """MemAvailable from /proc/meminfo in MiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise SlurmUnavailable("cannot read MemAvailable from /proc/meminfo")


def check_prerequisites() -> None:
    """Raise SlurmUnavailable with the reason when this machine cannot host the test cluster."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        raise SlurmUnavailable(
            f"Slurm/munge programs not found: {', '.join(missing)} "
            "(install Debian's slurmctld slurmd slurm-client munge; .ci/run does)"
        )
    if os.geteuid() != 0:
        raise SlurmUnavailable("starting slurmd and writing /etc/slurm/slurm.conf needs root")
    running = _running("slurmctld") + _running("slurmd")
    if running:
        raise SlurmUnavailable(
            f"a Slurm daemon is already running (pids {running}); the test will not reconfigure it"
        )


def slurm_conf(
    *,
    node: str,
    cpus: int,
    real_memory_mb: int,
    state_dir: Path,
    partition: str,
    default: bool,
    overrides: bool,
) -> str:
    """Text of a one-node slurm.conf without cgroups and without accounting."""
    lines = [
        MARKER,
        "ClusterName=local",
        f"SlurmctldHost={node}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        f"StateSaveLocation={state_dir}/state",
        f"SlurmdSpoolDir={state_dir}/spool",
        f"SlurmctldPidFile={state_dir}/slurmctld.pid",
        f"SlurmdPidFile={state_dir}/slurmd.pid",
        f"SlurmctldLogFile={state_dir}/log/slurmctld.log",
        f"SlurmdLogFile={state_dir}/log/slurmd.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "ReturnToService=2",
        # finished jobs stay visible to squeue for 5 minutes: the plugin's status polling relies on it
        "MinJobAge=300",
    ]
    if overrides:
        # the node declares more memory than it has (small CI machines); slurmd accepts the config
        lines.append("SlurmdParameters=config_overrides")
    lines += [
        f"NodeName={node} CPUs={cpus} RealMemory={real_memory_mb} State=UNKNOWN",
        f"PartitionName={partition} Nodes={node} Default={'YES' if default else 'NO'} "
        "MaxTime=INFINITE State=UP",
    ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def local_slurm(
    tmp_dir: Path,
    *,
    partition: str = "debug",
    default: bool = True,
    min_memory_mb: int = 0,
    timeout_s: float = 60.0,
) -> Iterator[SlurmCluster]:
    """Start a private single-node Slurm, yield its description, and stop what was started.

    Parameters
    ----------
    tmp_dir
        Directory for state, spool, pid files and daemon logs.
    partition
        Name of the single partition.
    default
        Whether it is the default partition; when not, jobs must ask for it (``sbatch -p``).
    min_memory_mb
        The node declares at least this much memory, so that jobs asking for it can be scheduled;
        when it exceeds 80 % of the available memory, slurmd is told to accept the declared value.
    timeout_s
        How long to wait for the node to become idle.
    """
    check_prerequisites()
    tmp_dir = Path(tmp_dir).resolve()
    for sub in ("state", "spool", "log"):
        (tmp_dir / sub).mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    memory_mb = int(0.8 * available_memory_mb())
    overrides = memory_mb < min_memory_mb
    cluster = SlurmCluster(
        node=node,
        partition=partition,
        cpus=cpus,
        real_memory_mb=max(memory_mb, min_memory_mb),
        log_dir=tmp_dir / "log",
    )
    text = slurm_conf(
        node=node,
        cpus=cpus,
        real_memory_mb=cluster.real_memory_mb,
        state_dir=tmp_dir,
        partition=partition,
        default=default,
        overrides=overrides,
    )
    started: list[tuple[str, Path]] = []  # (name, pid file) of the daemons this call started
    previous_conf = SLURM_CONF.read_bytes() if SLURM_CONF.exists() else None
    if previous_conf is not None and previous_conf.startswith(MARKER.encode()):
        previous_conf = None  # left behind by an interrupted test run: not worth restoring
    try:
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(text)
        (tmp_dir / "slurm.conf").write_text(text)  # a copy next to the logs, for debugging
        if not _munge_running():
            munge_run = MUNGE_PIDFILE.parent
            munge_run.mkdir(parents=True, exist_ok=True)
            shutil.chown(munge_run, "munge", "munge")
            _start(["munged", "--force"], tmp_dir / "log" / "munged.out")
            started.append(("munged", MUNGE_PIDFILE))
            _wait(_munge_running, 10, "munged did not start")
        _start(["slurmctld", "-f", str(SLURM_CONF)], tmp_dir / "log" / "slurmctld.out")
        started.append(("slurmctld", tmp_dir / "slurmctld.pid"))
        _start(["slurmd", "-f", str(SLURM_CONF)], tmp_dir / "log" / "slurmd.out")
        started.append(("slurmd", tmp_dir / "slurmd.pid"))
        _wait(
            lambda: _node_state(partition) == "idle",
            timeout_s,
            f"the Slurm node did not become idle within {timeout_s:.0f} s\n{cluster.daemon_logs()}",
        )
        yield cluster
    finally:
        if any(name == "slurmctld" for name, _ in started):
            # every job on this private cluster is ours: cancel what is left before stopping
            subprocess.run(["scancel", "--full", "--user", str(os.geteuid())], capture_output=True)
        for name, pidfile in reversed(started):
            _stop(name, pidfile)
        if previous_conf is None:
            SLURM_CONF.unlink(missing_ok=True)
        else:
            SLURM_CONF.write_bytes(previous_conf)


def squeue_jobs() -> dict[str, dict[str, str]]:
    """All jobs the controller still remembers (finished ones for MinJobAge): id -> fields."""
    fmt = "%i|%j|%T|%P|%k"
    out = subprocess.run(
        ["squeue", "--all", "--states=all", "--noheader", f"--format={fmt}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = {}
    for line in out.splitlines():
        job_id, name, state, partition, comment = line.strip().split("|", 4)
        jobs[job_id] = {"name": name, "state": state, "partition": partition, "comment": comment}
    return jobs


def _node_state(partition: str) -> str:
    result = subprocess.run(
        ["sinfo", "--noheader", "--partition", partition, "--format=%t"], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def _start(cmd: list[str], out_path: Path) -> None:
    with open(out_path, "ab") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {result.returncode}):\n{out_path.read_text()}")


def _stop(name: str, pidfile: Path, timeout_s: float = 15.0) -> None:
    """Stop the daemon whose pid is in pidfile (SIGTERM, then SIGKILL after timeout_s)."""
    pid = _read_pid(pidfile)
    if pid is None or not _alive(pid, name):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid, name) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid, name):
        os.kill(pid, signal.SIGKILL)


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, name: str) -> bool:
    """True while process pid exists, is not a zombie, and is the program `name`."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    state = stat[stat.rindex(")") + 2]
    return comm == name[:15] and state != "Z"


def _running(name: str) -> list[int]:
    """Pids of live processes whose command name is `name`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _alive(int(entry.name), name):
            pids.append(int(entry.name))
    return pids


def _munge_running() -> bool:
    return bool(_running("munged"))


def _wait(condition, timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.5)

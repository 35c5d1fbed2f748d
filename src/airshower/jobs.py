"""Guards of a long job: one job per output at a time, and no job that outlives its Snakemake.

Two faults would otherwise need a person:

- two jobs writing the same outputs at once (a training started again beside one still
  running): :class:`JobLock`, an exclusive ``flock`` on ``job.lock`` in the job's folder. The
  kernel releases it when its holder dies, however it dies (SIGKILL, a Slurm wall-time kill), so
  a rerun never finds a stale lock; a second job fails at once with an error naming the
  holder's process and host.
- a job whose Snakemake process was killed (SIGKILL, a lost login session) runs on as an
  orphan and writes its outputs over those of the rerun: :class:`ParentWatch` notices that the
  process which started the job (or the Snakemake process above an intermediate shell) is
  gone; a training stops at its next epoch end with its checkpoint kept, another job at once.
  The workflow announces its Snakemake process to every job it starts
  (:data:`SNAKEMAKE_ENV`, set when the Snakefile is read), so a job launched in the seconds
  before Snakemake died, which finds no Snakemake among its ancestors any more, stops too, as
  soon as its guard starts.

:func:`guard` combines both for the entry scripts (``workflow/scripts/``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

LOCK = "job.lock"
# The Snakemake process that starts the jobs, "pid:create_time:host" (:func:`snakemake_identity`),
# set in its environment by the workflow (workflow/rules/common.smk) so every job inherits it.
SNAKEMAKE_ENV = "AIRSHOWER_SNAKEMAKE"
RESUME_HINT = "run `snakemake --unlock` once, then the same command again"


class JobLocked(RuntimeError):
    """Another running job holds the lock of this job's folder."""


class Orphaned(RuntimeError):
    """The process that started this job is gone."""


class JobLock:
    """Exclusive lock on ``folder/job.lock``; the file names the holder (PID, host, start, job).

    Parameters
    ----------
    folder
        the job's own folder (created if missing; removed at release if empty).
    job
        what runs, for the messages (e.g. ``"training fcn seed 1"``).
    """

    def __init__(self, folder: str | os.PathLike, job: str):
        self.folder = Path(folder)
        self.path = self.folder / LOCK
        self.job = job
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`JobLocked` naming the holder.

        On a file system without locks (Lustre mounted without ``flock``, NFS with
        ``local_lock``) the job runs unguarded after a warning.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(10):  # the holder may remove the file between our open and our lock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    log.warning(
                        "%s: cannot lock (%s): running without the guard against a second job", self.path, exc
                    )
                    return
                raise JobLocked(self._held_message()) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)
        else:
            raise JobLocked(f"{self.path}: the lock file keeps changing; is another job starting?")
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now(), "job": self.job}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(holder) + "\n").encode())
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file (while still holding it), unlock, remove the folder if empty."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None
        with contextlib.suppress(OSError):  # not empty (a checkpoint, a damaged one kept): leave it
            self.folder.rmdir()

    def holder(self) -> dict:
        """What the lock file says about its holder (empty if unreadable)."""
        for _ in range(20):  # the holder writes right after locking: give it a moment
            with contextlib.suppress(OSError, ValueError):
                return json.loads(self.path.read_text())
            time.sleep(0.05)
        return {}

    def _held_message(self) -> str:
        h = self.holder()
        pid, host = h.get("pid", "?"), h.get("host", "?")
        return (
            f"{self.path}: {h.get('job', 'another job')} is already running (process {pid} on host "
            f"{host}, started {h.get('started', '?')}); two jobs must not write the same outputs at "
            f"once. Wait for it to end, or stop it (`kill {pid}` on {host}; a Slurm job: `scancel` "
            "it), then run the workflow again"
        )

    def __enter__(self) -> JobLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class ParentWatch:
    """Whether the process that started this one is gone.

    Watched: the parent process and, where the parent is an intermediate shell (bash before 5.1
    does not hand its process over to the command), every ancestor up to the nearest
    Snakemake process. Under Slurm that is the job's own Snakemake, which lives as long as the
    job, so a job there stops only with its allocation.
    """

    def __init__(self):
        self.ppid = os.getppid()
        chain = _ancestors_to_snakemake()
        self.watched = [
            (proc, f"the process {proc.pid} between it and its Snakemake process") for proc in chain[:-1]
        ] + [(proc, f"the Snakemake process {proc.pid} that started it") for proc in chain[-1:]]
        # the Snakemake process the workflow announced: known even where it died before this job
        # could look for it among its ancestors
        self.announced = _announced_snakemake()
        if self.announced and any(proc.pid == self.announced[0] for proc, _ in self.watched):
            self.announced = None

    def gone(self) -> str | None:
        """Which watched process is gone (``"its parent process 123"``), None while all live."""
        if self.announced:
            pid, proc = self.announced
            if proc is None or not _alive(proc):
                return f"the Snakemake process {pid} that started it"
        for proc, label in reversed(self.watched):
            if not _alive(proc):
                return label
        if os.getppid() != self.ppid:
            return f"its parent process {self.ppid}"
        return None


class Job:
    """A running job: its name and its :class:`ParentWatch` (:func:`guard` adds the lock).

    Attributes
    ----------
    orphaned
        the watched process found gone (as :meth:`ParentWatch.gone` names it), else None.
    """

    def __init__(self, name: str):
        self.name = name
        self.watch = ParentWatch()
        self.orphaned: str | None = None

    def check(self, where: str) -> None:
        """Raise :class:`Orphaned` if the starting process is gone; ``where``: how the job stops."""
        self.orphaned = self.orphaned or self.watch.gone()
        if self.orphaned:
            raise Orphaned(self.message(where))

    def message(self, where: str) -> str:
        return (
            f"{self.name}: {self.orphaned} is gone (killed?), so the job stops {where}. "
            f"To go on: {RESUME_HINT}"
        )


@contextlib.contextmanager
def guard(name: str, lock: str | os.PathLike | None = None, watch_s: float | None = None) -> Iterator[Job]:
    """Run an entry script's job under the guards; exit with status 1 and an error in the log.

    Parameters
    ----------
    name
        what runs, for the messages.
    lock
        the job's folder for :class:`JobLock`; None: no lock (jobs whose outputs are written
        atomically and do not depend on one another's state).
    watch_s
        for a job without epochs: check the starting process every ``watch_s`` seconds in a
        thread and stop the job (its atomic writes leave nothing behind) when it is gone; call
        ``guard`` in the main thread then. None: the job calls :meth:`Job.check` where it may
        stop (a training at every epoch end).
    """
    job = Job(name)
    locked = JobLock(lock, name) if lock is not None else contextlib.nullcontext()
    watched = _watch_in_thread(job, watch_s) if watch_s else contextlib.nullcontext()
    try:
        job.check("before it starts")  # its Snakemake may have died while the job imported
        with locked, watched:
            yield job
    except (JobLocked, Orphaned) as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None


@contextlib.contextmanager
def _watch_in_thread(job: Job, interval_s: float) -> Iterator[None]:
    """Watch in a thread; once the starting process is gone, raise :class:`Orphaned` in the job.

    The thread wakes the main thread with SIGUSR1, whose handler raises; a plain SIGINT would
    not do: a job started in the background by a shell ignores it.
    """
    stop = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
        if not stop.is_set():
            raise Orphaned(job.message("here (its outputs are written whole or not at all)"))

    def watch():
        while not stop.wait(interval_s):
            job.orphaned = job.watch.gone()
            if job.orphaned:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
                return

    previous = signal.signal(signal.SIGUSR1, on_signal)
    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        signal.signal(signal.SIGUSR1, previous)


def snakemake_identity() -> str:
    """This process as :data:`SNAKEMAKE_ENV` names it: ``pid:create_time:host`` (the start time
    tells a reused PID apart, the host a job on another machine)."""
    return f"{os.getpid()}:{psutil.Process().create_time():.3f}:{socket.gethostname()}"


def _announced_snakemake() -> tuple[int, psutil.Process | None] | None:
    """The Snakemake process of :data:`SNAKEMAKE_ENV` on this host: (pid, its process, None when it
    is gone or its PID now belongs to another process); None where none is announced here."""
    value = os.environ.get(SNAKEMAKE_ENV, "")
    try:
        pid_text, created_text, host = value.split(":", 2)
        pid, created = int(pid_text), float(created_text)
    except ValueError:
        return None
    if host != socket.gethostname() or pid == os.getpid():
        return None
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - created) > 0.01:
            return pid, None
    except psutil.Error:
        return pid, None
    return pid, proc


def _ancestors_to_snakemake(depth: int = 6) -> list[psutil.Process]:
    """The ancestors up to the nearest Snakemake process (within ``depth``), else none."""
    with contextlib.suppress(psutil.Error):
        parents = psutil.Process().parents()[:depth]
        for i, proc in enumerate(parents):
            if _is_snakemake(proc):
                return parents[: i + 1]
    return []


def _is_snakemake(proc: psutil.Process) -> bool:
    """``snakemake ...``, ``python .../bin/snakemake ...`` or ``python -m snakemake ...``."""
    with contextlib.suppress(psutil.Error):
        return any(Path(arg).name == "snakemake" for arg in proc.cmdline()[:3])
    return False


def _alive(proc: psutil.Process) -> bool:
    """Running, and not a zombie (a dead process its parent has not reaped yet)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE  # is_running: no reused PID
    except psutil.Error:
        return False


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not one removed meanwhile)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")

"""Logging for the entry scripts: everything a job prints goes to its Snakemake log file."""

from __future__ import annotations

import atexit
import logging
import resource
import sys

PEAK_MEMORY = "peak resident memory"  # how the last line of every job's log begins


def setup(log_path: str | None, name: str = "airshower") -> logging.Logger:
    """Send stderr and the library's log records to ``log_path`` (append), return a logger."""
    if log_path:
        stream = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
        sys.stderr = stream
    else:
        stream = sys.stderr
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=stream,
        force=True,
    )
    log = logging.getLogger(name)
    atexit.register(_log_peak_memory, log)
    return log


def peak_memory_mb() -> float:
    """The process's peak resident memory so far (MB): the kernel's high-water mark of its memory
    (``VmHWM`` on Linux; elsewhere ``ru_maxrss``, which on Linux would also count the parent's
    peak before the job's start), exact where a sampling monitor (Snakemake's ``benchmark:``,
    every 30 s after a job's first 30 s) misses short peaks."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6  # kB
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, kB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def _log_peak_memory(log: logging.Logger) -> None:
    log.info("%s: %.0f MB", PEAK_MEMORY, peak_memory_mb())

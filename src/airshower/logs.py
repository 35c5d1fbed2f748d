"""Logging for the entry scripts: everything a job prints goes to its Snakemake log file."""

from __future__ import annotations

import logging
import sys


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
    return logging.getLogger(name)

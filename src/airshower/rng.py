"""Named, independent random streams derived from the study seed.

Every random number of the study comes from a ``numpy.random.Generator`` built here, keyed by
the study seed, a stream name and optional indices (block number, training seed...). Streams
never overlap, and a stream's numbers do not depend on which job draws them.
"""

from __future__ import annotations

import numpy as np

STREAMS = {"simulation": 0, "split": 1, "training": 2, "bootstrap": 3, "plots": 4}


def seed_sequence(seed: int, stream: str, *index: int) -> np.random.SeedSequence:
    """The ``SeedSequence`` of stream ``stream`` (and sub-stream ``index``) of study ``seed``."""
    return np.random.SeedSequence(int(seed), spawn_key=(STREAMS[stream], *map(int, index)))


def generator(seed: int, stream: str, *index: int) -> np.random.Generator:
    """A fresh PCG64 generator for stream ``stream`` of study ``seed``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, stream, *index)))

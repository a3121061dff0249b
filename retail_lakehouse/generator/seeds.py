"""Random streams: one independent NumPy generator per (seed, purpose, ...), so parts never share draws.

Seeding a stream by its purpose and partition (year, month) is what makes one year generated alone identical
to the same year in a full run, and lets months be generated in any order.
"""

import zlib

import numpy as np


def rng_for(seed: int, purpose: str, *parts: int) -> np.random.Generator:
    """A generator for `purpose` (a stable name) and integer parts such as year and month."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode()), *parts])

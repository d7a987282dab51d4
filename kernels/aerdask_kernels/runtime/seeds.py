"""The seeds of a run: one generator per point, derived as Aer derives its experiments' seeds."""

from __future__ import annotations

import numpy as np

__all__ = ["experiment_seed", "experiment_rng"]


def experiment_seed(seed: int, index: int) -> int:
    """Experiment ``index``'s seed in a job seeded ``seed``: ``seed + index`` (mod 2**63), as Aer.

    So experiment ``i`` of a job and experiment 0 of a job seeded with the ``i``-th
    result's ``seed_simulator`` sample the same outcomes.
    """
    return (seed + index) % (1 << 63)


def experiment_rng(seed: int, seed_key: tuple) -> np.random.Generator:
    """The generator of a point with ``seed_key`` ``(index,)`` or ``(index, shot_chunk)``: PCG64.

    Seeded by ``SeedSequence(experiment_seed(seed, index), spawn_key=(shot_chunk,))``.
    """
    key = tuple(seed_key)
    sequence = np.random.SeedSequence(experiment_seed(seed, key[0]), spawn_key=key[1:])
    return np.random.Generator(np.random.PCG64(sequence))

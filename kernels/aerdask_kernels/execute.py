"""Where the walk used to live; kept so that imports of its public names still work.

The walk is now :class:`.runtime.walker.Walker` over an :class:`.runtime.engine.Engine`
(see ``docs/architecture.md``); :func:`run_program` and :func:`run_experiment` are in
:mod:`.run`. New code imports them from there, or from the package.
"""

from __future__ import annotations

from .run import run_experiment, run_program
from .runtime.errors import ExperimentError, JobCancelledError
from .runtime.saves import ZERO_THRESHOLD, reduced_density_matrix
from .runtime.seeds import experiment_rng, experiment_seed
from .runtime.walker import READOUT_FLIP

__all__ = [
    "run_program",
    "run_experiment",
    "JobCancelledError",
    "ExperimentError",
    "experiment_rng",
    "experiment_seed",
    "ZERO_THRESHOLD",
    "READOUT_FLIP",
    "reduced_density_matrix",
]

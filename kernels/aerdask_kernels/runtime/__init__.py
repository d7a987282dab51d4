"""The runtime: one walker, the engine seam, and what every run shares (saves, seeds, threads, errors).

Public names: :class:`Walker`, :class:`Engine`, :class:`Runner`, :class:`SaveCollector`,
:func:`save_value`, :func:`run_points`, :func:`walk_point`, :func:`host_rows`,
:func:`experiment_rng`, :func:`experiment_seed`, :func:`thread_share`,
:class:`JobCancelledError`, :class:`ExperimentError`. ``docs/architecture.md`` ("Adding an
engine") says how a new simulation method plugs in.
"""

from .engine import Engine, Runner, host_rows
from .errors import ExperimentError, JobCancelledError
from .points import run_points, walk_point
from .saves import ZERO_THRESHOLD, SaveCollector, save_value
from .seeds import experiment_rng, experiment_seed
from .threads import thread_share
from .walker import READOUT_FLIP, Walker

__all__ = [
    "Engine",
    "Runner",
    "host_rows",
    "ExperimentError",
    "JobCancelledError",
    "run_points",
    "walk_point",
    "ZERO_THRESHOLD",
    "SaveCollector",
    "save_value",
    "experiment_rng",
    "experiment_seed",
    "thread_share",
    "READOUT_FLIP",
    "Walker",
]

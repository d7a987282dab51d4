"""Running a program's points: each prepared, walked on its runner's engine, turned into plain data."""

from __future__ import annotations

import time

import numpy as np

from ..format.options import ProgramOptions
from ..passes.prepare import prepare_point
from .engine import Engine, Runner
from .errors import ExperimentError, JobCancelledError
from .seeds import experiment_rng
from .threads import thread_share
from .walker import Walker

__all__ = ["run_points", "walk_point"]


def run_points(program, cancel_flag: np.ndarray, runner: Runner) -> list[dict]:
    """Each point of the (validated) ``program`` prepared and walked on an engine of ``runner``.

    Returns:
        One dict per point (see :func:`aerdask_kernels.run_experiment`), with ``kernels``
        (the runner's label) and ``threads``.

    Raises:
        JobCancelledError: if the flag was set.
        ExperimentError: if a point failed; it names the experiment and keeps the
            results of the points before it.
    """
    typed = program.typed_options
    results: list[dict] = []
    with runner, thread_share(typed.max_parallel_threads) as threads:
        for exp in program.experiments:
            prepared = None  # without expressions, every point runs the same rows: prepare them once
            for point in range(exp.num_points):
                index = int(exp.indices[point])
                try:
                    if exp.parameterized or prepared is None:
                        prepared = prepare_point(exp, point, typed.fusion_enable)
                    else:
                        prepared = prepared.replace(indices=exp.indices[point : point + 1])
                    engine = runner.engine(prepared, typed.dtype, cancel_flag, typed)
                    results.append(walk_point(prepared, typed, cancel_flag, engine))
                except JobCancelledError:
                    raise
                except Exception as exc:
                    raise ExperimentError(
                        f"experiment {index} ({exp.name!r}) failed: {type(exc).__name__}: {exc}",
                        index,
                        exp.name,
                        results,
                    ) from exc
                results[-1]["threads"] = threads
    for result in results:
        result["kernels"] = runner.kernels
    return results


def walk_point(exp, typed: ProgramOptions, cancel_flag: np.ndarray, engine: Engine) -> dict:
    """Walk the prepared point ``exp`` on ``engine`` (see :func:`aerdask_kernels.run_experiment`)."""
    start = time.perf_counter()
    rng = experiment_rng(typed.seed_simulator, exp.seed_key(0))
    walker = Walker(
        exp,
        engine,
        rng,
        memory=typed.memory,
        # Past the copies the client planned for, pending branches (outcomes, noise groups, readout
        # flips) wait as their paths and are recomputed when their turn comes.
        max_copies=typed.max_branch_copies if engine.bounded_copies else -1,
        zero_threshold=typed.zero_threshold,
    )
    walker.run()
    return walker.result(typed.seed_simulator, typed.memory_format, start)

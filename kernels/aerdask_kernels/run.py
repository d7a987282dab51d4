"""The function a worker runs: a :class:`Program` in, plain data out.

:func:`run_program` is module-level and imports only numpy and numba, so a Dask
worker needs nothing but this package. It validates the program, picks its
:class:`.runtime.engine.Runner` once (CPU, GPU or shards: the program options'
``engine``), prepares each point of each experiment (binds its parameters, builds
the matrices and fuses them: :mod:`.prepare`), walks it with a
:class:`.runtime.walker.Walker` on the runner's engine, and returns one plain dict
per point; the client turns them into a ``qiskit.result.Result``.
"""

from __future__ import annotations

import numpy as np

from .cpu import CpuRunner
from .format.options import ENGINE_GPU, ENGINE_SHARDED, ProgramOptions
from .format.program import Experiment, Program
from .runtime.engine import Engine, Runner
from .runtime.points import run_points, walk_point

__all__ = ["run_program", "run_experiment", "runner_for"]


def runner_for(program: Program, store=None) -> Runner:
    """The runner of ``program``'s points: its options' ``engine``, chosen here and nowhere else.

    Args:
        program: A validated program.
        store: Where a sharded program's shards live (a :class:`.sharded.ShardStore`);
            ``None``: arrays in this process (:class:`.sharded.LocalShardStore`).
    """
    engine = ProgramOptions.of(program).engine
    if engine == ENGINE_GPU:
        from .gpu.walk import GpuRunner  # numba.cuda loads only here

        return GpuRunner(program)
    if engine == ENGINE_SHARDED:
        from .sharded.engine import LocalShardStore, ShardedRunner

        return ShardedRunner(program, store if store is not None else LocalShardStore())
    return CpuRunner(program)


def run_program(program: Program, cancel_flag: np.ndarray | None = None, store=None) -> list[dict]:
    """Run every point of every experiment of ``program``, in order.

    Args:
        program: The program; validated here first (kernels index arrays without
            bounds checks, so nothing malformed may reach them).
        cancel_flag: uint8, shape ``(1,)``; set element 0 from another thread to stop.
        store: Where the shards of a sharded program live (see :func:`runner_for`).

    Returns:
        One dict per point (see :func:`run_experiment`), with ``kernels`` (what ran
        them: ``"compiled"``, ``"python"``, ``"cuda"``, ``"cuda-simulator"``) and
        ``threads``.

    Raises:
        QobjValidationError: if the program is malformed or of another format version.
        GpuUnavailableError: for a GPU program in a process without a usable GPU.
        ValueError: for a GPU program the GPU cannot run (noise, density matrices,
            shards: :func:`.gpu.walk.gpu_compatibility`).
        JobCancelledError: if the flag was set.
        ExperimentError: if a point failed; it names the experiment and keeps the
            results of the points before it.

    """
    if cancel_flag is None:
        cancel_flag = np.zeros(1, dtype=np.uint8)
    program.validate()
    return run_points(program, cancel_flag, runner_for(program, store))


def run_experiment(exp: Experiment, options: dict, cancel_flag: np.ndarray, engine: Engine | None = None) -> dict:
    """Simulate the first point of a prepared experiment (see :func:`.prepare.prepare_point`).

    Args:
        exp: The prepared point.
        options: The program's options.
        cancel_flag: uint8, shape ``(1,)``.
        engine: What holds its states; ``None``: the CPU engine of ``exp.method``.

    Returns:
        dict with ``index``, ``name``, ``shots``, ``seed_simulator``, ``seed_key``,
        ``outcomes`` and ``counts`` (the clbit values seen, ascending, and how often:
        arrays of the narrowest unsigned type; past 62 clbits the outcomes are an
        object array of ints),
        ``memory`` (per-shot clbit values, an array like ``outcomes``; with
        ``memory_format="bits"`` a uint8 array of shape ``(shots, bytes)``, big-endian;
        ``None`` without ``memory``), ``saves`` (``{label: value}``), ``save_weights``
        (shots behind each averaged save, to merge shot chunks), ``time_taken`` (s),
        ``branch_copies`` (most state copies held at once for pending branches) and
        ``branch_replays`` (branches whose state was recomputed, past
        ``max_branch_copies``), and what the engine adds (``sharding``). Outcomes
        travel as numbers: the client formats only what is read.

    Raises:
        JobCancelledError: if ``cancel_flag[0]`` was set.

    """
    typed = ProgramOptions.from_dict(options)
    if engine is None:
        engine = CpuRunner(None).engine(exp, typed.dtype, cancel_flag, typed)
    return walk_point(exp, typed, cancel_flag, engine)

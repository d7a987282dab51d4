"""Split a job into tasks and merge their outputs back.

A job's unit of work is a *point*: one experiment at one row of its values array
(an experiment without parameters has one). Tasks hold whole numbers of points:
``max_job_size`` caps the points per task, ``max_shot_size`` the shots of one point
per task. Shot chunk ``j`` of point ``i`` draws from
``SeedSequence(seed_simulator + i, spawn_key=(j,))`` while an unsplit point draws from
``SeedSequence(seed_simulator + i)``: so the split of points never changes a result, and the split of
shots changes the sample stream (but a given split gives the same result on every
executor and on every run).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np

from aerdask_kernels import Experiment, Program
from aerdask_kernels.opcodes import COL_OPCODE, OP_MEASURE

from .errors import AerdaskInputError

__all__ = [
    "plan_chunks",
    "split_program",
    "check_unique",
    "result_slots",
    "merge_results",
    "auto_job_size",
    "estimated_cost",
]

#: A task's overhead should stay below this share of its run time.
OVERHEAD_SHARE = 0.03
#: Tasks per thread at most: enough that a slow task does not leave threads idle at the end.
TASKS_PER_THREAD = 4


def _shot_chunks(shots: int, max_shot_size: int | None) -> list[int]:
    if not max_shot_size or shots <= max_shot_size:
        return [shots]
    full, rest = divmod(shots, max_shot_size)
    return [max_shot_size] * full + ([rest] if rest else [])


def _pieces(exp: Experiment, max_shot_size: int | None) -> list[Experiment]:
    sizes = _shot_chunks(exp.shots, max_shot_size)
    if len(sizes) == 1:
        return [exp]
    return [exp.replace(shots=s, shot_chunk=j) for j, s in enumerate(sizes)]


def plan_chunks(
    experiments: Iterable[Experiment],
    size: int | None,
    max_shot_size: int | None,
    options: dict,
    split_density: bool = True,
) -> Iterator[Program]:
    """Group the points of ``experiments`` into task programs, as they arrive.

    Args:
        experiments: Compiled experiments, possibly still being compiled (an iterator).
        size: Points per task (``None``: all in one task, or with a shot split one
            task per piece).
        max_shot_size: Shots per task for one point (``None``: no shot split).
        options: The program options every task carries.
        split_density: Split density-matrix experiments by shots too. Off for an automatic
            shot size: each piece would evolve the whole density matrix again, for shots
            that one evolution samples at once.

    Yields:
        Each task's program, as soon as it is full (arrays are shared, not copied).
    """
    size = size or (1 if max_shot_size else math.inf)
    pending: list[Experiment] = []
    room = size
    for exp in experiments:
        # An operator has no shots to split; a density matrix (or a chain, or a sum of stabilizer states
        # whose shots all sample one final state) would be evolved again per piece, for shots that one
        # evolution samples at once.
        sampled = not exp.noisy and not (exp.ops[:, COL_OPCODE] == OP_MEASURE).any()
        evolved_once = exp.method == "density_matrix" or (
            exp.method in ("matrix_product_state", "extended_stabilizer") and sampled
        )
        whole = exp.method in ("unitary", "superop") or (evolved_once and not split_density)
        for piece in _pieces(exp, None if whole else max_shot_size):
            start, points = 0, piece.num_points
            while start < points:
                take = int(min(room, points - start))
                pending.append(piece if take == points else piece.points(start, start + take))
                start += take
                room -= take
                if room == 0:
                    yield Program(pending, options)
                    pending, room = [], size
    if pending:
        yield Program(pending, options)


def check_unique(program: Program, seen: set) -> None:
    """Refuse a point that ``seen`` (the job's earlier tasks) or this task already holds.

    Raises:
        AerdaskInputError: naming the experiment number given twice.
    """
    for exp in program.experiments:
        for index in exp.indices.tolist():
            key = (index, exp.shot_chunk)
            if key in seen:
                raise AerdaskInputError(
                    f"experiment number {index} appears twice in the job (circuit {exp.name!r}); "
                    "each point needs its own index"
                )
            seen.add(key)


def split_program(program: Program, max_job_size: int | None = None, max_shot_size: int | None = None) -> list[Program]:
    """Chunks of ``program``, each a program of its own (see :func:`plan_chunks`)."""
    return list(plan_chunks(program.experiments, max_job_size, max_shot_size, program.options))


def estimated_cost(num_qubits: int, num_ops: int, shots: int = 0) -> float:
    """Rough seconds to run one point: enough to size tasks.

    About 2 ns per amplitude per gate to simulate, 1 us per gate for the worker to
    bind, build and fuse it, 25 ns per shot to sample, and 20 us per point.
    """
    # Past 62 qubits no statevector runs (a tableau of thousands does): "large" is all this needs to say.
    return 2e-9 * float(1 << min(num_qubits, 62)) * max(1, num_ops) + 1e-6 * num_ops + 2.5e-8 * shots + 2e-5


def auto_job_size(num_points: int, total_threads: int, per_point_cost: float, task_overhead: float = 0.0045) -> int:
    """Points per task that keep ``total_threads`` busy without drowning in task overhead.

    Every thread gets work (one task at least, as long as there are points), and the
    same number of tasks, up to :data:`TASKS_PER_THREAD` so that a slow task does not
    leave threads idle at the end, as long as each task runs at least
    ``task_overhead / OVERHEAD_SHARE`` (the overhead stays a few percent).

    Args:
        num_points: Points in the job.
        total_threads: Worker threads of the executor.
        per_point_cost: Estimated seconds per point.
        task_overhead: Seconds an executor spends per task (about 4.5 ms on Dask).

    """
    threads = max(1, total_threads)
    total = num_points * max(per_point_cost, 1e-9)
    long_task = task_overhead / OVERHEAD_SHARE
    per_thread = max(1, min(TASKS_PER_THREAD, int(total / (threads * long_task))))
    tasks = max(1, min(threads * per_thread, num_points))
    return math.ceil(num_points / tasks)


def _merge_saves(parts: list[dict], spec_by_label: dict) -> dict:
    merged: dict = {}
    for label, spec in spec_by_label.items():
        values = [(p["saves"][label], p["save_weights"].get(label)) for p in parts if label in p["saves"]]
        if not values:
            continue
        subtype = spec["subtype"]
        conditional = subtype.startswith("c_")
        base = subtype[2:] if conditional else subtype
        if not conditional:
            merged[label] = _merge_one(base, values)
            continue
        keys = dict.fromkeys(k for v, _ in values for k in v)
        merged[label] = {k: _merge_one(base, [(v[k], (w or {}).get(k)) for v, w in values if k in v]) for k in keys}
    return merged


def _merge_one(base: str, values: list):
    if base == "single":
        return values[0][0]
    if base == "list":
        return [item for v, _ in values for item in v]
    if base == "accum":
        return _weighted_sum([(v, 1) for v, _ in values])
    total = sum(w for _, w in values)
    return _scale(_weighted_sum([(v, w) for v, w in values]), 1.0 / total)


def _weighted_sum(items):
    first = items[0][0]
    if isinstance(first, dict):
        out: dict = {}
        for v, w in items:
            for k, x in v.items():
                out[k] = out.get(k, 0) + x * w
        return out
    return sum(v * w for v, w in items)


def _scale(value, factor):
    if isinstance(value, dict):
        return {k: v * factor for k, v in value.items()}
    return value * factor


def _merge_counts(pieces: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The pieces' outcomes, ascending, with their counts added up."""
    outcomes = np.concatenate([p["outcomes"] for p in pieces])
    counts = np.concatenate([p["counts"] for p in pieces])
    if outcomes.dtype == object:  # past 62 clbits: Python ints
        total: dict = {}
        for k, v in zip(outcomes.tolist(), counts.tolist(), strict=True):
            total[k] = total.get(k, 0) + v
        keys = sorted(total)
        return np.array(keys, dtype=object), np.array([total[k] for k in keys], dtype=np.int64)
    unique, inverse = np.unique(outcomes, return_inverse=True)
    return unique, np.bincount(inverse, weights=counts, minlength=unique.size).astype(np.int64)


def result_slots(program: Program) -> list[tuple[int, Experiment, int]]:
    """The job's results: ``(index, experiment, shots)`` for each index, in index order.

    Pieces of a shot-split point share its index; their shots add up.
    """
    slots: dict[int, list] = {}
    for exp in program.experiments:
        for index in exp.indices.tolist():
            slot = slots.get(index)
            if slot is None:
                slots[index] = [index, exp, exp.shots]
            else:
                slot[2] += exp.shots
    return [tuple(slots[i]) for i in sorted(slots)]


def merge_results(program: Program, chunk_outputs: list[list[dict] | None], slots: list | None = None) -> list:
    """One raw result per index of ``program`` (see :func:`result_slots`), in index order.

    Args:
        program: The whole job: every task's experiments.
        chunk_outputs: Each task's output, or ``None`` for a task that did not finish.
        slots: ``result_slots(program)``, when the caller has it already.

    Returns:
        A list aligned with :func:`result_slots`; ``None`` where any part of a point is missing.

    """
    parts: dict[int, list[dict]] = {}
    for output in chunk_outputs:
        for raw in output or []:
            parts.setdefault(raw["index"], []).append(raw)
    merged: list[dict | None] = []
    for index, exp, shots in slots if slots is not None else result_slots(program):
        pieces = parts.get(index, [])
        if len(pieces) == 1 and pieces[0]["shots"] == shots:
            merged.append(pieces[0])
            continue
        pieces = sorted(pieces, key=lambda r: tuple(r["seed_key"]))
        if sum(p["shots"] for p in pieces) != shots:
            merged.append(None)
            continue
        outcomes, counts = _merge_counts(pieces)
        memory = None if pieces[0]["memory"] is None else np.concatenate([p["memory"] for p in pieces])
        merged.append(
            {
                **pieces[0],
                "shots": shots,
                "seed_key": [index],
                "outcomes": outcomes,
                "counts": counts,
                "memory": memory,
                "saves": _merge_saves(pieces, {s["label"]: s for s in exp.saves}),
                "time_taken": sum(p["time_taken"] for p in pieces),
            }
        )
    return merged

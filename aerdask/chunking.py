"""Split a program into tasks and merge their outputs back.

``max_job_size`` caps experiments per task; ``max_shot_size`` caps the shots of
one experiment per task. A shot chunk ``j`` of experiment ``i`` draws from
``SeedSequence(seed_simulator, spawn_key=(i, j))`` while an unsplit experiment
draws from ``spawn_key=(i,)``: so the split of experiments never changes a
result, and the split of shots changes the sample stream (but a given split
gives the same result on every executor and on every run).
"""

from __future__ import annotations

import numpy as np

from aerdask_kernels import Program

__all__ = ["split_program", "merge_results", "auto_job_size", "estimated_cost"]


def _shot_chunks(shots: int, max_shot_size: int | None) -> list[int]:
    if not max_shot_size or shots <= max_shot_size:
        return [shots]
    full, rest = divmod(shots, max_shot_size)
    return [max_shot_size] * full + ([rest] if rest else [])


def split_program(program: Program, max_job_size: int | None = None, max_shot_size: int | None = None) -> list[Program]:
    """Chunks of ``program``, each a program of its own (arrays are shared, not copied).

    Args:
        program: The whole job.
        max_job_size: Experiments per chunk (``None``: all in one).
        max_shot_size: Shots per chunk of one experiment (``None``: no shot split).
            With a shot split and no ``max_job_size``, every piece is a task of its own.

    """
    units = []
    for exp in program.experiments:
        sizes = _shot_chunks(exp.shots, max_shot_size)
        if len(sizes) == 1:
            units.append(exp)
        else:
            units.extend(exp.replace(shots=s, seed_key=(exp.index, j)) for j, s in enumerate(sizes))
    # A shot split asks for parallel tasks: without max_job_size each piece is its own task.
    size = max_job_size or (1 if len(units) > len(program.experiments) else len(units))
    return [program.replace(experiments=units[i : i + size]) for i in range(0, len(units), size)]


def estimated_cost(num_qubits: int, num_ops: int) -> float:
    """Rough seconds to run an experiment: ~2 ns per amplitude per op (enough to size tasks)."""
    return 2e-9 * (1 << num_qubits) * max(1, num_ops)


def auto_job_size(num_experiments: int, total_threads: int, per_experiment_cost: float) -> int:
    """Experiments per task that keep ``total_threads`` busy without drowning in task overhead.

    Aims at about four tasks per thread (so a slow task does not leave threads idle at
    the end) but never tasks shorter than ~20 ms of estimated work, against ~1.5 ms of
    Dask overhead per task.

    Args:
        num_experiments: Experiments in the job.
        total_threads: Worker threads in the cluster.
        per_experiment_cost: Estimated seconds per experiment.

    """
    by_balance = max(1, num_experiments // max(1, 4 * total_threads))
    by_overhead = max(1, int(np.ceil(0.02 / max(per_experiment_cost, 1e-9))))
    return max(1, min(num_experiments, max(by_balance, min(by_overhead, num_experiments // max(1, total_threads)))))


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


def merge_results(program: Program, chunk_outputs: list[list[dict] | None]) -> list[dict | None]:
    """One raw result per experiment of ``program``, in input order.

    Args:
        program: The whole job.
        chunk_outputs: Each chunk's output, or ``None`` for a chunk that did not finish.

    Returns:
        A list aligned with ``program.experiments``; ``None`` where any part of an
        experiment is missing.

    """
    parts: dict[int, list[dict]] = {}
    for output in chunk_outputs:
        for raw in output or []:
            parts.setdefault(raw["index"], []).append(raw)
    merged: list[dict | None] = []
    for exp in program.experiments:
        pieces = sorted(parts.get(exp.index, []), key=lambda r: tuple(r["seed_key"]))
        if sum(p["shots"] for p in pieces) != exp.shots:
            merged.append(None)
            continue
        if len(pieces) == 1:
            merged.append(pieces[0])
            continue
        counts: dict = {}
        for p in pieces:
            for k, v in p["counts"].items():
                counts[k] = counts.get(k, 0) + v
        counts = dict(sorted(counts.items(), key=lambda kv: int(kv[0], 16)))  # each piece's order, merged
        memory = None if pieces[0]["memory"] is None else [m for p in pieces for m in p["memory"]]
        merged.append(
            {
                **pieces[0],
                "shots": exp.shots,
                "seed_key": list(exp.seed_key),
                "counts": counts,
                "memory": memory,
                "saves": _merge_saves(pieces, {s["label"]: s for s in exp.saves}),
                "time_taken": sum(p["time_taken"] for p in pieces),
            }
        )
    return merged

"""A published job's program as bytes that never unpickle: arrays in ``.npz``, the rest in JSON.

A Dask dataset can be overwritten by any client of the scheduler, and whoever
retrieves a job reads what is stored there. So the program is stored without
pickle (``np.load(allow_pickle=False)`` and ``json.loads``) and validated when it
is read back: a tampered dataset gives a clear error, never code run in the reader.
Values that JSON cannot hold (objects in a circuit's ``metadata``) come back as
their ``str``.
"""

from __future__ import annotations

import io
import json

import numpy as np
from qiskit.providers import JobError

from aerdask_kernels import Program
from aerdask_kernels.format.packing import ARRAY_FIELDS, pack_experiments, unpack_experiments
from aerdask_kernels.format.program import Experiment

__all__ = ["published_bytes", "read_published"]

_FORMAT = "aerdask-published-1"


def published_bytes(program: Program, sizes: list[int]) -> bytes:
    """``program`` and its tasks' point counts as pickle-free bytes."""
    packed = pack_experiments(program.experiments)
    arrays = {}
    for field in ARRAY_FIELDS:
        arrays[f"{field}/data"], arrays[f"{field}/offsets"] = packed[field]
    meta = {
        "format": _FORMAT,
        "version": program.version,
        "job_id": program.job_id,
        "options": program.options,
        "sizes": sizes,
        "scalars": packed["scalars"],
        "values_shapes": packed["values_shapes"],
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_published(data: bytes, job_id: str) -> tuple[Program, list[int]]:
    """Inverse of :func:`published_bytes`, validated.

    Raises:
        JobError: if the bytes are not a valid aerdask job (tampered or foreign).
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            if meta.get("format") != _FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            packed = {field: (npz[f"{field}/data"], npz[f"{field}/offsets"]) for field in ARRAY_FIELDS}
        packed["scalars"] = [tuple(s) for s in meta["scalars"]]
        packed["values_shapes"] = [tuple(s) for s in meta["values_shapes"]]
        experiments = unpack_experiments(packed, Experiment)
        program = Program(experiments, meta["options"], meta["version"], meta["job_id"])
        program.validate()
        sizes = [int(s) for s in meta["sizes"]]
        if sum(sizes) != program.num_points or min(sizes, default=1) < 1:
            raise ValueError("task sizes do not match the program")
    except Exception as exc:  # anything malformed: the reader learns that, and nothing runs
        raise JobError(f"the stored program of job {job_id!r} is not a valid aerdask job: {exc}") from None
    return program, sizes

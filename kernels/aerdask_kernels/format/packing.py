"""How a program travels: its experiments' arrays packed into a few long ones.

Pickling a thousand experiments one by one costs about 50 us each (a dozen small
arrays and a dict apiece); a batch is compiled on the client, which is the one
part that does not scale with the cluster. Packed, each array field of all the
experiments is one concatenated array plus offsets, and the integer tables travel
in the narrowest integer type that holds them (a batch's opcode table fits int16: a
quarter of the bytes): pickling a task is a few memory copies. Unpacking gives every
experiment views into the long arrays, as int64 again.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pack_experiments", "unpack_experiments", "ARRAY_FIELDS"]

#: Every array field of an experiment, in the order they are packed.
ARRAY_FIELDS = (
    "ops",
    "qubits",
    "matrices",
    "params",
    "final_qubits",
    "final_clbits",
    "indices",
    "values",
    "param_expr",
    "expr_code",
    "expr_start",
    "expr_consts",
    "channels",
    "chan_matrices",
    "chan_probs",
    "readout",
    "final_readout",
    "readout_groups",
    "group_matrices",
)
_NARROW = (
    "ops",
    "qubits",
    "final_qubits",
    "final_clbits",
    "param_expr",
    "expr_code",
    "expr_start",
    "channels",
    "final_readout",
    "readout_groups",
)
#: Fields that are not arrays, in the order of each experiment's tuple.
SCALAR_FIELDS = (
    "name",
    "num_qubits",
    "num_clbits",
    "saves",
    "header",
    "shots",
    "parameters",
    "shot_chunk",
    "classical",
    "num_vars",
    "method",
)


_NARROWER = [(dtype, np.iinfo(dtype).min, np.iinfo(dtype).max) for dtype in (np.int8, np.int16, np.int32)]


def _concatenate(arrays: list[np.ndarray], narrow: bool) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum([a.shape[0] for a in arrays], out=offsets[1:])
    joined = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    if narrow and joined.size:
        low, high = joined.min(), joined.max()
        for dtype, dmin, dmax in _NARROWER:
            if dmin <= low and high <= dmax:
                return joined.astype(dtype), offsets
    return joined, offsets


def pack_experiments(experiments: list) -> dict:
    """The experiments as plain data: per field a long array and offsets, per experiment a tuple.

    Every experiment's array of a field must have the same trailing shape (``values``
    are packed by experiment of equal width, others are always compatible).
    """
    packed = {"scalars": [tuple(getattr(exp, f) for f in SCALAR_FIELDS) for exp in experiments]}
    for field in ARRAY_FIELDS:
        arrays = [getattr(exp, field) for exp in experiments]
        if field == "values":  # widths differ between circuits: keep each block's shape
            packed["values_shapes"] = [a.shape for a in arrays]
            arrays = [a.ravel() for a in arrays]
        packed[field] = _concatenate(arrays, field in _NARROW)
    return packed


def unpack_experiments(packed: dict, make) -> list:
    """Rebuild experiments (views into the long arrays) with ``make(**fields)``."""
    if isinstance(packed, list):  # a single experiment travels as it is
        return packed
    arrays = {}
    for field in ARRAY_FIELDS:
        joined, offsets = packed[field]
        if joined.dtype.kind == "i" and joined.dtype != np.int64:
            joined = joined.astype(np.int64)
        arrays[field] = (joined, offsets.tolist())
    out = []
    shapes = packed["values_shapes"]
    for i, scalars in enumerate(packed["scalars"]):
        fields = dict(zip(SCALAR_FIELDS, scalars, strict=True))
        for field, (joined, offsets) in arrays.items():
            fields[field] = joined[offsets[i] : offsets[i + 1]]
        fields["values"] = fields["values"].reshape(shapes[i])
        out.append(make(**fields))
    return out

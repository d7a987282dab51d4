"""The worker's half of compiling: bind a point, build the matrices, fuse.

The client sends each circuit as rows of gate names and parameters
(:data:`~.opcodes.OP_STANDARD`), some parameters being expressions of the circuit's
parameters. Everything that costs per gate or per point happens here, on the
workers, in compiled code: evaluating the expressions at the point, building each
standard gate's matrix (:func:`.standard.expand_standard`) and fusing neighbouring
gates (:func:`.fusion.fuse_rows`). What comes out holds only the opcodes the
interpreter runs.
"""

from __future__ import annotations

import numpy as np

from ..density import to_density
from ..format.expressions import bind_params, evaluate_expressions
from ..format.program import Experiment
from ..format.standard import expand_standard
from ..opcodes import (
    COL_OPCODE,
    DENSITY_MATRIX,
    EXTENDED_STABILIZER,
    MATRIX_PRODUCT_STATE,
    OP_STANDARD,
    STABILIZER,
    SUPEROP,
    UNITARY,
)
from .fusion import fuse_rows

__all__ = ["PointError", "prepare_point", "point_params"]


class PointError(ValueError):
    """A parameter expression has no finite value at a point (``log(-1)``, ``1/0``)."""


def point_params(exp: Experiment, point: int) -> np.ndarray:
    """The gate parameters of ``exp`` at ``point``: float64, shape ``(len(exp.params),)``.

    Raises:
        PointError: naming the expression, the point and its values, when an
            expression is NaN or infinite there.
    """
    if not exp.parameterized:
        return exp.params
    out = np.empty(exp.expr_start.size - 1, dtype=np.float64)
    evaluate_expressions(exp.expr_code, exp.expr_start, exp.expr_consts, exp.values[point], out)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        values = ", ".join(f"{name}={v!r}" for name, v in zip(exp.parameters, exp.values[point].tolist(), strict=True))
        raise PointError(
            f"parameter expression {int(bad[0])} is {out[bad[0]]} at point {int(exp.indices[point])} ({values}); "
            "a gate angle must be a finite real number"
        )
    return bind_params(exp.params, exp.param_expr, out)


def prepare_point(exp: Experiment, point: int, fusion: bool) -> Experiment:
    """``exp`` at one point, ready to run: only MATRIX, DIAG and non-gate rows.

    A density-matrix experiment comes out on its ``2n`` bits (:func:`.density.to_density`), a
    unitary on ``2n`` (the operator's rows and columns) and a superoperator on ``4n``
    (both). A stabilizer experiment is not fused.

    Args:
        exp: A validated experiment.
        point: Row of ``exp.values``.
        fusion: Fuse the gate rows (Aer's ``fusion_enable``).

    Returns:
        An experiment of that one point whose rows the interpreter runs; arrays not
        changed by preparing are shared with ``exp``.

    Raises:
        PointError: see :func:`point_params`.
    """
    params = point_params(exp, point)
    ops, qubits, matrices = exp.ops, exp.qubits, exp.matrices
    # The extended stabilizer reads gates by name (a T is a sum of two Cliffords): rows stay STANDARD.
    if ops.shape[0] and (ops[:, COL_OPCODE] == OP_STANDARD).any() and exp.method != EXTENDED_STABILIZER:
        ops, matrices = expand_standard(ops, qubits, matrices, params)
    if exp.method in (DENSITY_MATRIX, SUPEROP):
        # On the doubled bits, before fusing: U and conj(U) of a gate fuse into one pass.
        doubled = to_density(exp.replace(ops=ops, matrices=matrices))
        ops, qubits, matrices = doubled.ops, doubled.qubits, doubled.matrices
        exp = exp.replace(num_qubits=doubled.num_qubits)
    if exp.method in (UNITARY, SUPEROP):
        # The operator as a vector: entry row + (column << m); gates act on the row bits, as written.
        exp = exp.replace(num_qubits=2 * exp.num_qubits)
    # A tableau reads gates one by one, as Cliffords; a chain keeps them narrow (a fused gate of
    # five qubits would merge five sites into one 32-wide block).
    if fusion and exp.method not in (STABILIZER, MATRIX_PRODUCT_STATE, EXTENDED_STABILIZER):
        ops, qubits, matrices = fuse_rows(ops, qubits, matrices)
    return exp.replace(
        ops=ops,
        qubits=qubits,
        matrices=matrices,
        params=params,
        values=exp.values[point : point + 1],
        indices=exp.indices[point : point + 1],
    )

"""A matrix product state as plain data: how a SET_STATE row of ``ARG`` 2 lays one out in ``matrices``.

Aer's ``set_matrix_product_state`` takes the Vidal form: per qubit a pair of matrices
``(Gamma[0], Gamma[1])`` of shape ``(left, right)``, and per bond the vector of its
Schmidt values. In ``matrices`` from the row's ``MOFF``: ``2n`` entries holding each
qubit's ``left`` and ``right`` (as real parts), then each qubit's ``Gamma`` as
``(left, 2, right)`` in C order, then the ``n - 1`` bond vectors (real parts).
"""

from __future__ import annotations

import numpy as np

__all__ = ["pack_chain", "unpack_chain", "chain_length", "chain_defect"]


def pack_chain(gammas: list, lambdas: list) -> np.ndarray:
    """``matrices`` entries of a Vidal-form MPS.

    Args:
        gammas: Per qubit, complex ``(left, 2, right)``; ``left`` of the first and ``right``
            of the last are 1, and each ``right`` is the next ``left``.
        lambdas: Per bond, ``right`` real values.

    Raises:
        ValueError: if the shapes do not chain.
    """
    n = len(gammas)
    problem = _shape_problem([g.shape for g in gammas], [np.shape(lam) for lam in lambdas])
    if problem:
        raise ValueError(problem)
    head = np.array([d for g in gammas for d in (g.shape[0], g.shape[2])], dtype=np.complex128)
    body = [np.asarray(g, dtype=np.complex128).ravel() for g in gammas]
    tail = [np.asarray(lam, dtype=np.float64).astype(np.complex128) for lam in lambdas[: n - 1]]
    return np.concatenate([head, *body, *tail])


def _shape_problem(shapes: list, bonds: list) -> str | None:
    n = len(shapes)
    if n == 0:
        return "a matrix product state of no qubits"
    if len(bonds) != n - 1:
        return f"{n} qubits need {n - 1} bond vectors, got {len(bonds)}"
    for i, shape in enumerate(shapes):
        if len(shape) != 3 or shape[1] != 2 or min(shape) < 1:
            return f"qubit {i}: Gamma of shape {shape}; expected (left, 2, right)"
    if shapes[0][0] != 1 or shapes[-1][2] != 1:
        return "the first qubit's left and the last qubit's right dimension must be 1"
    for i in range(n - 1):
        if shapes[i][2] != shapes[i + 1][0] or bonds[i] != (shapes[i][2],):
            return (
                f"bond {i}: qubit {i} has {shapes[i][2]} columns, qubit {i + 1} {shapes[i + 1][0]} rows, "
                f"lambda {bonds[i]}"
            )
    return None


def chain_length(matrices: np.ndarray, moff: int, n: int) -> int:
    """Entries of the MPS at ``matrices[moff:]`` for ``n`` qubits (-1 if its header is not sane)."""
    if moff + 2 * n > matrices.size:
        return -1
    dims = matrices[moff : moff + 2 * n].real
    if not np.all(np.isfinite(dims)) or (dims < 1).any() or (dims > 1 << 24).any() or (dims != np.rint(dims)).any():
        return -1
    dims = dims.astype(np.int64).reshape(n, 2)
    return int(2 * n + 2 * (dims[:, 0] * dims[:, 1]).sum() + dims[:-1, 1].sum())


def unpack_chain(matrices: np.ndarray, moff: int, n: int) -> tuple[list, list]:
    """The Vidal form at ``matrices[moff:]``: ``(gammas, lambdas)`` as :func:`pack_chain` takes them."""
    dims = matrices[moff : moff + 2 * n].real.astype(np.int64).reshape(n, 2)
    at = moff + 2 * n
    gammas = []
    for left, right in dims.tolist():
        size = 2 * left * right
        gammas.append(matrices[at : at + size].reshape(left, 2, right))
        at += size
    lambdas = []
    for right in dims[:-1, 1].tolist():
        lambdas.append(matrices[at : at + right].real.astype(np.float64))
        at += right
    return gammas, lambdas


def chain_defect(matrices: np.ndarray, moff: int, n: int) -> str | None:
    """Why the MPS at ``matrices[moff:]`` is not one of ``n`` qubits, or ``None``."""
    length = chain_length(matrices, moff, n)
    if length < 0 or moff + length > matrices.size:
        return "its header of dimensions is not one of positive sizes, or its data lies outside matrices"
    gammas, lambdas = unpack_chain(matrices, moff, n)
    problem = _shape_problem([g.shape for g in gammas], [lam.shape for lam in lambdas])
    if problem:
        return problem
    data = matrices[moff : moff + length]
    if not np.all(np.isfinite(data.real)) or not np.all(np.isfinite(data.imag)):
        return "a value is not finite"
    return None

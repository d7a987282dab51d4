"""Matrix product state kernels: the decompositions (numpy's LAPACK) and the contractions.

A chain of ``n`` site tensors ``A[i]`` (complex, ``(left, 2, right)``, the end bonds of
size 1) in *mixed canonical* form: the sites left of the centre are left-orthonormal
(``sum_s A_s^dagger A_s = 1``), those right of it right-orthonormal, so the state's norm,
a site's outcome probabilities and the best truncation of a bond are all read at the
centre. Nothing here knows the walker, a qubit's name or the program format.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit

__all__ = [
    "CHOP",
    "SPLIT_RENORMALISE_ATOL",
    "move_center",
    "move_center_into",
    "split",
    "apply_block",
    "contract",
    "amplitudes",
    "marginal_probabilities",
    "reduced_density",
    "pauli_expectation",
    "sample_chain",
]

#: Singular values whose square is at most this are zeros (Aer's ``CHOP_THRESHOLD``).
CHOP = 1e-16
#: A truncated bond is renormalised when its kept weight is further than this from the whole (Aer's).
SPLIT_RENORMALISE_ATOL = 1e-9


def move_center(tensors: list, center: int, target: int) -> int:
    """Move the orthogonality centre from ``center`` to ``target`` by QR steps; returns ``target``."""
    while center < target:
        a = tensors[center]
        left, _, right = a.shape
        q, r = np.linalg.qr(a.reshape(left * 2, right))
        tensors[center] = q.reshape(left, 2, -1)
        tensors[center + 1] = np.tensordot(r, tensors[center + 1], axes=(1, 0))
        center += 1
    while center > target:
        a = tensors[center]
        left, _, right = a.shape
        # A^T = Q R, so A = R^T Q^T with Q^T's rows orthonormal: the site becomes right-orthonormal.
        q, r = np.linalg.qr(a.reshape(left, 2 * right).T)
        tensors[center] = q.T.reshape(-1, 2, right)
        tensors[center - 1] = np.tensordot(tensors[center - 1], r.T, axes=(2, 0))
        center -= 1
    return center


def move_center_into(tensors: list, center: int, low: int, high: int) -> int:
    """Move the centre into sites ``[low, high]`` (a block may be contracted with its centre anywhere in it)."""
    if center < low:
        return move_center(tensors, center, low)
    if center > high:
        return move_center(tensors, center, high)
    return center


def _eigh_desc(hermitian: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending, clipped at 0) and eigenvectors of a Hermitian matrix."""
    try:
        values, vectors = np.linalg.eigh(hermitian)
    except np.linalg.LinAlgError:  # syevd did not converge: the SVD of a Hermitian matrix is its eigensystem
        vectors, values, _ = np.linalg.svd(hermitian)
        return np.clip(values, 0, None), vectors
    # Descending, equal values in the solver's order (a reversal would swap a degenerate pair's basis).
    order = np.argsort(-values, kind="stable")
    return np.clip(values[order], 0, None), vectors[:, order]


def _kept(squares: np.ndarray, max_bond: int, threshold: float) -> int:
    """How many of the descending squared singular values a split keeps (Aer's rule)."""
    keep = max(int(np.count_nonzero(squares > CHOP)), 1)
    if max_bond and keep > max_bond:
        keep = max_bond
    dropped = 0.0
    while keep > 1 and dropped + squares[keep - 1] < threshold:
        dropped += squares[keep - 1]
        keep -= 1
    return keep


def split(
    theta: np.ndarray, max_bond: int, threshold: float, center_left: bool = False
) -> tuple[np.ndarray, np.ndarray, float]:
    """Split a two-site tensor holding the centre into two sites, truncating the bond between them.

    The Schmidt basis comes from the eigenvectors of ``M M^dagger`` (or ``M^dagger M``), ``M``
    the tensor as a ``(2 left, 2 right)`` matrix: a Hermitian eigensolver is several times
    faster than an SVD, the eigenvalues are the squared singular values the truncation
    reads, and the other factor is ``M`` projected on the kept vectors, so the split is
    exact up to what is dropped however small the kept values are.

    Args:
        theta: complex, ``(left, 2, 2, right)``, the centre's two sites (norm 1 for a state).
        max_bond: Keep at most this many singular values (0: no limit).
        threshold: Then drop the smallest while their squares sum below it (Aer's
            ``matrix_product_state_truncation_threshold``); at least one stays.
        center_left: Leave the centre on the left site (for a sweep going left); else on the right.

    Returns:
        ``(a, b, discarded)``: ``a`` ``(left, 2, k)``, ``b`` ``(k, 2, right)``, and the sum of
        the squares of the dropped singular values (relative to the norm), before the kept
        ones are rescaled to the tensor's norm.
    """
    left, right = theta.shape[0], theta.shape[3]
    m = theta.reshape(left * 2, 2 * right)
    gram = m.conj().T @ m if center_left else m @ m.conj().T
    squares, vectors = _eigh_desc(gram)
    total = float(squares.sum())
    squares = squares / (total if total > 0 else 1.0)
    keep = _kept(squares, max_bond, threshold)
    # What the truncation dropped (Aer's discarded_value): not the zeros below CHOP.
    discarded = float(squares[keep : max(int(np.count_nonzero(squares > CHOP)), keep)].sum())
    basis = vectors[:, :keep]
    if center_left:  # M ~ (M V) V^dagger: the right site has orthonormal rows, the centre is on the left
        a, b = m @ basis, basis.conj().T
    else:  # M ~ U (U^dagger M)
        a, b = basis, basis.conj().T @ m
    if discarded > SPLIT_RENORMALISE_ATOL:  # the state keeps its norm, as Aer renormalises
        factor = np.sqrt(1.0 / (1.0 - discarded))
        if center_left:
            a = a * factor
        else:
            b = b * factor
    return a.reshape(left, 2, keep), b.reshape(keep, 2, right), discarded


def apply_block(
    tensors: list, first: int, gate: np.ndarray, max_bond: int, threshold: float, center_left: bool = False
) -> float:
    """Apply ``gate`` to the ``k`` sites from ``first`` (holding the centre): contract, multiply, split back.

    Args:
        tensors: The chain; the centre must be one of the block's sites. Ends with the centre
            at ``first + k - 1`` (or at ``first`` for two sites and ``center_left``).
        first: The block's first site.
        gate: complex, ``(2**k, 2**k)``, its index over the sites with ``first`` most significant.
        max_bond: As :func:`split`'s.
        threshold: As :func:`split`'s.
        center_left: As :func:`split`'s (two sites only).

    Returns:
        The discarded weight of the ``k - 1`` splits, summed.
    """
    k = gate.shape[0].bit_length() - 1
    theta = tensors[first]
    for i in range(1, k):
        theta = np.tensordot(theta, tensors[first + i], axes=(theta.ndim - 1, 0))
    left, right = theta.shape[0], theta.shape[-1]
    theta = np.matmul(gate, theta.reshape(left, 1 << k, right))
    if k == 1:
        tensors[first] = theta.reshape(left, 2, right)
        return 0.0
    discarded = 0.0
    for i in range(k - 1):  # peel one site off the left at a time
        rest = 1 << (k - 1 - i)  # the outcomes of the sites after this one
        pair = theta.reshape(theta.shape[0], 2, 2, (rest // 2) * right)
        a, b, d = split(pair, max_bond, threshold, center_left and k == 2)
        tensors[first + i] = a
        discarded += d
        theta = b.reshape(b.shape[0], rest, right)
    tensors[first + k - 1] = theta.reshape(theta.shape[0], 2, right)
    return discarded


def contract(tensors: list) -> np.ndarray:
    """The state's ``2**n`` amplitudes, bit ``i`` of an index from site ``i``: complex128."""
    psi = np.ones((1, 1), dtype=np.complex128)  # (index so far, bond)
    for i, a in enumerate(tensors):
        left, _, right = a.shape
        # New bit i is the most significant so far: index = s * 2**i + old.
        psi = np.einsum("xa,asb->sxb", psi, a).reshape((2 << i), right)
    return psi[:, 0]


def amplitudes(tensors: list, bits: np.ndarray) -> np.ndarray:
    """The amplitudes of basis states: ``bits`` uint8 ``(m, n)`` (site ``i``'s bit in column ``i``)."""
    m = bits.shape[0]
    v = np.ones((m, 1), dtype=np.complex128)
    for i, a in enumerate(tensors):
        picked = a[:, bits[:, i], :]  # (left, m, right)
        v = np.einsum("ma,amb->mb", v, picked)
    return v[:, 0]


def marginal_probabilities(tensors: list, center: int, sites: np.ndarray) -> np.ndarray:
    """The outcome distribution of ``sites`` (bit ``j`` of an index from ``sites[j]``): float64, ``(2**k,)``.

    Contracts from the chain's left end through the last listed site (the sites right of
    it, right-orthonormal from the centre on, trace to the identity there).
    """
    k = sites.size
    listed = {int(site) for site in sites}
    last = int(sites.max()) if k else -1
    env = np.ones((1, 1, 1), dtype=np.complex128)  # (outcome so far, bra bond, ket bond)
    for i in range(max(last, center) + 1):
        a = tensors[i]
        if i in listed:
            parts = [np.einsum("xab,asc,bsd->xcd", env, a[:, s : s + 1, :].conj(), a[:, s : s + 1, :]) for s in (0, 1)]
            env = np.stack(parts, axis=1).reshape(-1, a.shape[2], a.shape[2])  # (x * 2 + s, ...)
        else:
            env = np.einsum("xab,asc,bsd->xcd", env, a.conj(), a)
    probs = np.real(np.einsum("xaa->x", env))
    if k == 0:
        return probs
    # The outcome index holds the listed sites in chain order, the first most significant.
    perm = _to_listed(sites)
    return np.ascontiguousarray(np.transpose(probs.reshape((2,) * k), perm)).reshape(-1)


def _to_listed(sites: np.ndarray) -> list[int]:
    """Axes of a chain-ordered outcome tensor (first site most significant) for bit ``j`` from ``sites[j]``."""
    order = sorted(int(site) for site in sites)
    k = len(order)
    return [order.index(int(sites[k - 1 - b])) for b in range(k)]


def reduced_density(tensors: list, center: int, sites: np.ndarray) -> np.ndarray:
    """The density matrix of ``sites`` (bit ``j`` from ``sites[j]``): complex128, ``(2**k, 2**k)``."""
    k = sites.size
    listed = {int(site) for site in sites}
    last = int(sites.max())
    env = np.ones((1, 1, 1, 1), dtype=np.complex128)  # (ket outcomes, bra outcomes, ket bond, bra bond)
    for i in range(max(last, center) + 1):
        a = tensors[i]
        if i in listed:
            env = np.einsum("xyab,asc,btd->xsytcd", env, a, a.conj())
            x, _, y, _, c, d = env.shape
            env = env.reshape(x * 2, y * 2, c, d)
        else:
            env = np.einsum("xyab,asc,bsd->xycd", env, a, a.conj())
    rho = np.einsum("xyaa->xy", env)
    perm = _to_listed(sites)
    rho = np.transpose(rho.reshape((2,) * (2 * k)), list(perm) + [k + p for p in perm])
    return np.ascontiguousarray(rho).reshape(1 << k, 1 << k)


def pauli_expectation(tensors: list, center: int, paulis: dict) -> complex:
    """``<psi| P |psi>`` for ``P`` the product of ``paulis`` ({site: 2x2 matrix})."""
    last = max(max(paulis), center) if paulis else center
    first = min(min(paulis), center) if paulis else center
    env = np.eye(tensors[first].shape[0], dtype=np.complex128)  # left of ``first``: orthonormal
    for i in range(first, last + 1):
        a = tensors[i]
        op = paulis.get(i)
        b = a if op is None else np.einsum("st,atb->asb", op, a)
        env = np.einsum("ab,asc,bsd->cd", env, a.conj(), b)
    return complex(np.trace(env))


@njit
def _pick(w0: np.ndarray, w1: np.ndarray, uniforms: np.ndarray, out_v: np.ndarray, bits: np.ndarray) -> None:
    """Per shot: outcome 1 with probability ``|w1|^2 / (|w0|^2 + |w1|^2)``; keep that row, normalised."""
    shots, width = w0.shape
    for m in range(shots):
        p0 = 0.0
        p1 = 0.0
        for j in range(width):
            p0 += w0[m, j].real * w0[m, j].real + w0[m, j].imag * w0[m, j].imag
            p1 += w1[m, j].real * w1[m, j].real + w1[m, j].imag * w1[m, j].imag
        one = uniforms[m] * (p0 + p1) < p1
        bits[m] = 1 if one else 0
        norm = np.sqrt(p1 if one else p0)
        if norm == 0.0:
            norm = 1.0
        for j in range(width):
            out_v[m, j] = (w1[m, j] if one else w0[m, j]) / norm


def sample_chain(tensors: list, uniforms: np.ndarray) -> np.ndarray:
    """One basis state per row of ``uniforms`` (float64, ``(shots, n)``), drawn site by site.

    The chain's centre must be at site 0 (every other site right-orthonormal), so each
    site's conditional probabilities are read from the shot's left vector alone.

    Returns:
        uint8, ``(shots, n)``: site ``i``'s bit in column ``i``.
    """
    shots, n = uniforms.shape
    bits = np.zeros((shots, n), dtype=np.uint8)
    v = np.ones((shots, 1), dtype=np.complex128)
    for i, a in enumerate(tensors):
        a = a.astype(np.complex128, copy=False)
        w0 = np.ascontiguousarray(v @ a[:, 0, :])
        w1 = np.ascontiguousarray(v @ a[:, 1, :])
        v = np.empty_like(w0)
        _pick(w0, w1, np.ascontiguousarray(uniforms[:, i]), v, bits[:, i])
    return bits

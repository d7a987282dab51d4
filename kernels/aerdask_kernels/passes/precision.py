"""A program's matrices in the precision its state runs at."""

from __future__ import annotations

import numpy as np

__all__ = ["in_precision"]


def in_precision(matrices: np.ndarray, dtype) -> np.ndarray:
    """``matrices`` in ``dtype``, with real and imaginary parts below ``eps**2`` of ``dtype`` set to 0.

    Fusion leaves rounding residue (1e-17 where a product cancels) in its matrices, and in
    single precision such an entry times an amplitude falls below the smallest normal
    float: every product then takes the CPU's slow path for subnormals. One stage of
    the 24-qubit random circuit ran 2.5x slower from it. A part that small is noise in
    either precision (``eps**2`` is 1.4e-14 in single, 4.9e-32 in double).

    Args:
        matrices: complex128, the program's matrices.
        dtype: ``np.complex128`` or ``np.complex64``.

    Returns:
        ``matrices`` itself where nothing changes, else a copy.
    """
    out = matrices.astype(dtype, copy=False)
    parts = out.view(out.real.dtype)
    tiny = (np.abs(parts) < np.finfo(parts.dtype).eps ** 2) & (parts != 0)
    if not tiny.any():
        return out
    out = out.copy() if out is matrices else out
    out.view(out.real.dtype)[tiny] = 0
    return out

"""The GPU path: a program's statevector experiments run through ``numba.cuda``.

``numba.cuda`` (the ``numba-cuda`` package) is imported only when a GPU program runs
or a caller asks what is there (:func:`devices`), so a CPU worker needs neither it
nor a CUDA driver. ``NUMBA_ENABLE_CUDASIM=1`` runs the same kernels in numba-cuda's
simulator on the CPU (slowly: small states only), which is how CI tests them.

The program format is the CPU's; the one walker runs it on :class:`.walk.GpuEngine`,
which keeps the state on the GPU, so the same random numbers are drawn in the same
order as on the CPU.

Not part of the Numba cache key (:func:`..keys.cache_key` covers the modules with
an ``@njit`` function): CUDA kernels compile per process and no CPU kernel inlines
them. Part of the compatibility key, as everything that decides results is.
"""

from __future__ import annotations

from .device import (
    GPU_LOCK,
    NUMPY_MAX,
    GpuUnavailableError,
    device_memory,
    devices,
    import_cuda,
    simulated,
    unavailable_reason,
)

__all__ = [
    "GPU_LOCK",
    "import_cuda",
    "GpuUnavailableError",
    "devices",
    "device_memory",
    "unavailable_reason",
    "run_program",
    "simulated",
    "NUMPY_MAX",
]


def run_program(program, cancel_flag=None) -> list[dict]:
    """:func:`aerdask_kernels.run_program` on this process's GPU (``program.options["device"] == "GPU"``).

    Raises:
        GpuUnavailableError: if this process has no usable GPU.
        ValueError: if the program cannot run on the GPU (see :func:`.walk.gpu_compatibility`).
    """
    from .walk import run_program_gpu

    return run_program_gpu(program, cancel_flag)

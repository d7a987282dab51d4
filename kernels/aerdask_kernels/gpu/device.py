"""The device: whether numba.cuda and a GPU are here, what they hold, and the lock a run holds."""

from __future__ import annotations

import os
import threading

__all__ = [
    "GPU_LOCK",
    "import_cuda",
    "GpuUnavailableError",
    "devices",
    "device_memory",
    "unavailable_reason",
    "simulated",
    "NUMPY_MAX",
]

#: numba-cuda 0.30 imports ``np.row_stack``, which numpy 2.5 removed.
NUMPY_MAX = (2, 4)


class GpuUnavailableError(RuntimeError):
    """This process has no usable GPU (or no numba-cuda); the message says which."""


def import_cuda():
    """``numba.cuda``, or :class:`GpuUnavailableError` saying why not."""
    import numpy as np

    major, minor = (int(p) for p in np.__version__.split(".")[:2])
    if (major, minor) > NUMPY_MAX:
        raise GpuUnavailableError(
            f"numba-cuda needs numpy <= {NUMPY_MAX[0]}.{NUMPY_MAX[1]} (it imports np.row_stack), found {np.__version__}"
        )
    try:
        from numba import cuda
    except Exception as exc:  # ImportError, or a driver library that fails to load
        raise GpuUnavailableError(f"numba.cuda cannot be imported: {type(exc).__name__}: {exc}") from exc
    try:
        available = cuda.is_available()
    except Exception as exc:  # noqa: BLE001 (a broken driver: say so)
        raise GpuUnavailableError(f"the CUDA driver failed: {type(exc).__name__}: {exc}") from exc
    if not available:
        raise GpuUnavailableError("numba.cuda finds no usable CUDA GPU or driver")
    if simulated():
        _lock_simulated_shared_arrays()
    else:
        _quiet_small_grids()
    return cuda


_shared_lock = threading.Lock()


def _lock_simulated_shared_arrays() -> None:
    """Make the simulator hand every thread of a block the same ``cuda.shared.array``.

    numba-cuda's simulator (0.30) finds a block's shared array by its call site and creates
    it on first use without a lock: two threads that get there together each create one,
    and a reduction over "shared" memory then sums half of it (seen as a probability of
    0.8 in a test). This repeats its lookup under a lock, keyed the same way.
    """
    import sys

    import numpy as np

    try:
        from numba.core import types
        from numba.cuda.simulator.kernelapi import FakeCUDAShared
        from numba.np import numpy_support
    except ImportError:  # another simulator layout: leave it as it is
        return
    if getattr(FakeCUDAShared, "_aerdask_locked", False):
        return
    original = FakeCUDAShared.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory, or the simulator's own error
            return original(self, shape, dtype, alignment)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        frame = sys._getframe(1)
        caller = (frame.f_code.co_filename, frame.f_lineno)
        with _shared_lock:
            found = self._allocations.get(caller)
            if found is None:
                found = self._allocations[caller] = np.empty(shape, dtype)
        return found

    FakeCUDAShared.array = array
    FakeCUDAShared._aerdask_locked = True


def _quiet_small_grids() -> None:
    """Turn off numba-cuda's warning for grids under 128 blocks: a small state is a small grid by design."""
    try:
        from numba.cuda.core import config
    except ImportError:  # another numba-cuda layout: its warning stays on
        return
    config.CUDA_LOW_OCCUPANCY_WARNINGS = 0


def simulated() -> bool:
    """Whether numba-cuda's simulator stands in for a GPU (``NUMBA_ENABLE_CUDASIM=1``)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def unavailable_reason() -> str | None:
    """Why this process cannot run GPU programs, or ``None`` when it can."""
    try:
        import_cuda()
    except GpuUnavailableError as exc:
        return str(exc)
    return None


def devices() -> list[dict]:
    """The GPUs this process sees: ``[{"index", "name", "memory", "simulated"}]`` (memory in bytes).

    Empty when there is none (see :func:`unavailable_reason`). Under the simulator, one
    device whose memory is the host's physical memory.
    """
    try:
        cuda = import_cuda()
    except GpuUnavailableError:
        return []
    if simulated():
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return [{"index": 0, "name": "numba-cuda simulator", "memory": int(memory), "simulated": True}]
    out = []
    for gpu in cuda.gpus:
        with gpu:
            free, total = cuda.current_context().get_memory_info()
            name = gpu.name.decode() if isinstance(gpu.name, bytes) else str(gpu.name)
            out.append({"index": int(gpu.id), "name": name, "memory": int(total), "simulated": False})
    return out


def device_memory() -> int:
    """Bytes of memory of the GPU this process runs on (its current device); 0 without one.

    What a Dask worker reports for admission (a dask-cuda worker sees one GPU).
    """
    found = devices()
    return found[0]["memory"] if found else 0


#: One GPU program at a time per process: tasks on several threads of a worker (or of a
#: local pool) would otherwise each hold a state in the one GPU's memory, which admission
#: counted once.
#: Held while a program runs on this process's GPU (by :class:`.walk.GpuRunner`): one at a time.
GPU_LOCK = threading.RLock()
